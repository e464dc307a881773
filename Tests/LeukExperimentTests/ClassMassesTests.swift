import LeukData
import Testing
@testable import LeukTraining

/// The adaptive class balance's weights for sites that miss a class (`ClassMasses`): they balance the classes'
/// masses in the neighbourhood's averaged step, given what the self-balanced sites put in.
struct ClassMassesTests {
    private let range: ClosedRange<Float> = 0.2...5

    /// A site that balances its own mix puts half its images' mass on each class, until the oversampling
    /// limit and the weight range bite (2 normal cells beside 436 blasts).
    @Test func aSelfBalancedSiteWeighsItsClassesEquallyUntilTheLimitsBite() {
        let even = ClassMasses.selfBalanced(counts: [45, 176], range: range)
        #expect(abs(even[0] - 110.5) < 1e-3 && abs(even[1] - 110.5) < 1e-3, "\(even)")
        #expect(ClassMasses.repeats(counts: [2, 436]) == [4, 1])
        let skewed = ClassMasses.selfBalanced(counts: [2, 436], range: range)
        #expect(skewed[0] < 0.25 * skewed[1], "the rare class's weight stops at the range's top: \(skewed)")
        #expect(abs(skewed.reduce(0, +) - 438) > 1, "the clipping loses mass rather than moving it")
        #expect(ClassMasses.selfBalanced(counts: [0, 0], range: range) == [0, 0])
    }

    /// With no self-balanced site the rule is the pooled counts' balanced weight (one class per site); one
    /// one-class site beside self-balanced ones weighs its class by 1 / K, as a self-balanced site of its size.
    @Test func missingClassWeightsBalanceTheNeighbourhood() {
        let pooled = ClassMasses.missingClassWeights(missing: [[300, 0], [0, 900]], selfBalanced: [], range: range)
        #expect(pooled == FederatedTrainingSession.balancedWeights(counts: [300, 900], range: range))
        #expect(pooled == [2, Float(1200) / 1800])

        let oneBeside = ClassMasses.missingClassWeights(missing: [[242, 0]], selfBalanced: [[45, 176], [40, 30]], range: range)
        #expect(abs(oneBeside[0] - 0.5) < 1e-6, "\(oneBeside)")
        #expect(oneBeside[1] == range.upperBound, "no site that misses a class holds blasts: their weight is never used")

        // The self-balanced sites under-weigh normal cells (their limits bite), so the one-class sites make up for it.
        let making = ClassMasses.missingClassWeights(missing: [[300, 0], [0, 300]], selfBalanced: [[2, 436], [3, 900]], range: range)
        #expect(making[0] > 1.5 && making[1] == range.lowerBound, "\(making)")
        // Every class the neighbourhood holds ends with the same mass, as long as the range allows it.
        let self0 = ClassMasses.selfBalanced(counts: [20, 200], range: range)
        let w = ClassMasses.missingClassWeights(missing: [[100, 0], [0, 40]], selfBalanced: [[20, 200]], range: range)
        #expect(abs((self0[0] + 100 * Double(w[0])) - (self0[1] + 40 * Double(w[1]))) < 1e-3, "\(w)")
    }

    /// Alone (no peer reported yet), a one-class site weighs its class by 1, as with its own counts.
    @Test func aSiteAloneKeepsItsOwnWeight() {
        #expect(ClassMasses.missingClassWeights(missing: [[10, 0]], selfBalanced: [], range: range) == [1, 5])
        #expect(ClassMasses.missingClassWeights(missing: [], selfBalanced: [], range: range) == [])
    }
}

/// A peer's counts can be as large as the wire allows (a lie bounded by its sample count): the weights stay
/// finite and inside the range, and nothing overflows.
@Test func hugeReportedCountsNeitherTrapNorLeaveTheRange() {
    let range: ClosedRange<Float> = 0.2...5
    for weights in [ClassMasses.missingClassWeights(missing: [[10, 0], [Int.max, 0]], selfBalanced: [[Int.max, 3]], range: range),
                    ClassMasses.missingClassWeights(missing: [[10, 0], [0, Int.max]], selfBalanced: [], range: range),
                    FederatedTrainingSession.balancedWeights(counts: [Int.max, Int.max], range: range)] {
        #expect(weights.allSatisfy { $0.isFinite && range.contains($0) }, "\(weights)")
    }
    #expect(ClassMasses.repeats(counts: [1, Int.max]) == [4, 1])
    #expect(ClassMasses.pooled([[1, Int.max], [2, 3], [7]], classes: 2) == [3, Int.max], "saturates; a list of the wrong length is left out")
}

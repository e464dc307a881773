import Testing
@testable import LeukMetrics

/// The promotion gate's rules, one per test, on counts small enough to check by hand.
struct PromotionGateTests {
    let gate = PromotionGate(floors: PromotionFloors(minimumSensitivity: 0.8, minimumSpecificity: 0.8, maximumDrop: 0.05,
                                                     minimumImagesPerClass: 10))

    func figures(_ tp: Int, of positives: Int, _ tn: Int, of negatives: Int) -> ValidationFigures {
        ValidationFigures(positives: positives, truePositives: tp, negatives: negatives, trueNegatives: tn, loss: 0.3)
    }

    @Test func aModelMeetingBothFloorsIsServedWhenNothingIs() {
        let verdict = gate.judge(candidate: figures(18, of: 20, 17, of: 20), served: nil, pinned: false)
        #expect(verdict.outcome == .promoted)
        #expect(verdict.reasons.isEmpty)
    }

    @Test func eachFloorHoldsOnItsOwn() {
        let lowSensitivity = gate.judge(candidate: figures(15, of: 20, 20, of: 20), served: nil, pinned: false)
        #expect(lowSensitivity.outcome == .held)
        #expect(lowSensitivity.reasons == ["sensitivity 0.75 is below the floor 0.8"])
        let lowSpecificity = gate.judge(candidate: figures(20, of: 20, 2, of: 20), served: nil, pinned: false)
        #expect(lowSpecificity.outcome == .held)
        #expect(lowSpecificity.reasons == ["specificity 0.1 is below the floor 0.8"])
    }

    @Test func aFloorIsMetExactlyAtItsValue() {
        #expect(gate.judge(candidate: figures(16, of: 20, 16, of: 20), served: nil, pinned: false).outcome == .promoted)
    }

    @Test func aSignFlippedModelThatCallsEverythingOneClassIsNeverServed() {
        // The model a sign-flip attack leaves: every cell called a blast (specificity 0), or none (sensitivity 0).
        #expect(gate.judge(candidate: figures(20, of: 20, 0, of: 20), served: figures(18, of: 20, 18, of: 20), pinned: false).outcome == .held)
        #expect(gate.judge(candidate: figures(0, of: 20, 20, of: 20), served: nil, pinned: false).outcome == .held)
    }

    @Test func aDropAgainstTheServedModelBeyondTheAllowanceHolds() {
        let served = figures(19, of: 20, 19, of: 20)  // score 0.95
        // 0.9: a drop of 0.05, exactly the allowance.
        #expect(gate.judge(candidate: figures(18, of: 20, 18, of: 20), served: served, pinned: false).outcome == .promoted)
        // 0.875: a drop of 0.075.
        let verdict = gate.judge(candidate: figures(17, of: 20, 18, of: 20), served: served, pinned: false)
        #expect(verdict.outcome == .held)
        #expect(verdict.reasons == ["score 0.875 is more than 0.05 below the served model's 0.95"])
    }

    @Test func aPinnedServedModelIsKeptWhateverTheCandidateScores() {
        let verdict = gate.judge(candidate: figures(20, of: 20, 20, of: 20), served: figures(16, of: 20, 16, of: 20), pinned: true)
        #expect(verdict.outcome == .held)
        #expect(verdict.reasons == ["the served model is pinned by an operator"])
    }

    @Test func nonFiniteParametersAreNeverServed() {
        #expect(gate.judge(candidate: figures(20, of: 20, 20, of: 20), served: nil, pinned: false, finite: false).outcome == .held)
    }

    @Test func aOneClassSiteHoldsByDefaultAndOnRequestChecksTheRecallItCanMeasure() {
        // A site holding only healthy cells: specificity is measured, sensitivity is not. A model that
        // calls every cell healthy scores a perfect specificity there, so by default the site holds.
        let held = gate.judge(candidate: figures(0, of: 0, 30, of: 30), served: nil, pinned: false)
        #expect(held.outcome == .held)
        #expect(held.reasons == ["sensitivity not checked: 0 validation images of the positive class, fewer than 10",
                                 "held: the site's rule is to serve nothing it could not check on both classes"])
        var following = gate
        following.floors.partialValidation = .follow
        let good = following.judge(candidate: figures(0, of: 0, 27, of: 30), served: nil, pinned: false)
        #expect(good.outcome == .promoted)
        #expect(good.reasons == ["sensitivity not checked: 0 validation images of the positive class, fewer than 10"])
        #expect(following.judge(candidate: figures(0, of: 0, 3, of: 30), served: nil, pinned: false).outcome == .held)
        // Three blast images are too few to check sensitivity: its floor is not applied.
        #expect(following.judge(candidate: figures(0, of: 3, 27, of: 30), served: nil, pinned: false).outcome == .promoted)
        #expect(gate.score(figures(0, of: 3, 27, of: 30)) == 0.9)
    }

    @Test func aSiteThatCanMeasureNothingFollowsItsExplicitRule() {
        let follow = gate.judge(candidate: nil, served: nil, pinned: false)
        #expect(follow.outcome == .followed)
        #expect(follow.serves)
        #expect(follow.reasons.last == "served unchecked: the site's rule is to follow the federation")
        var strict = gate
        strict.floors.withoutValidation = .hold
        let hold = strict.judge(candidate: nil, served: nil, pinned: false)
        #expect(hold.outcome == .held)
        #expect(!hold.serves)
        #expect(hold.reasons.count == 3)
    }

    @Test func aSiteWithTooFewValidationImagesOfEitherClassIsJudgedAsAPartialSite() {
        // 4 blasts and 5 healthy cells: neither recall can be trusted. The site holds images, so it is not
        // a site without data: by default it holds, even with `withoutValidation = .follow`.
        let few = figures(0, of: 4, 5, of: 5)
        let held = gate.judge(candidate: few, served: nil, pinned: false)
        #expect(held.outcome == .held)
        #expect(held.reasons.last == "held: the site's rule is to serve nothing it could not check on both classes")
        var following = gate
        following.floors.partialValidation = .follow
        following.floors.withoutValidation = .hold
        let followed = following.judge(candidate: few, served: nil, pinned: false)
        #expect(followed.outcome == .followed)
        #expect(followed.reasons.count == 3)
    }

    @Test func figuresComeFromAConfusionMatrixWithThePositiveClassAnywhere() {
        // Rows are true classes, columns predictions; classes hem, all, other; positive `all` (1).
        let confusion = ConfusionMatrix(labels: ["hem", "all", "other"], matrix: [[8, 2, 0], [1, 9, 0], [0, 3, 7]])
        let f = ValidationFigures(confusion: confusion, positiveClass: 1, loss: 0.4)
        #expect(f.positives == 10 && f.truePositives == 9)
        #expect(f.negatives == 20 && f.trueNegatives == 15)
        #expect(f.sensitivity == 0.9 && f.specificity == 0.75)
    }
}

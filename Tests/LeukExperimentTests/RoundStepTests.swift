import Foundation
import LeukData
import LeukModel
import Testing
@testable import LeukTraining

/// The round-level options of the federated trainer: the optimiser choice, the drift correction and
/// the federation's own step on the averaged model. Each one must leave the first round untouched
/// (there is no history yet) and act in the direction its doc comment promises afterwards.
@Suite struct RoundStepTests {
    private static func session(_ change: (inout FederatedTrainingConfiguration) -> Void) throws -> FederatedTrainingSession {
        let generated = SyntheticCells.generate(count: 40, seed: 21, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
        let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
        let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
        var configuration = FederatedTrainingConfiguration(dataSeed: 3, batchSize: 8, stepsPerRound: 6, learningRate: 0.05, optimizer: .sgd(), augment: false)
        change(&configuration)
        return try FederatedTrainingSession(cache: cache, trainIndices: Array(cache.samples.indices), validationIndices: [],
                                            configuration: configuration)
    }

    private static func distance(_ a: [Float], _ b: [Float]) -> Double {
        sqrt(zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
    }

    @Test func labelFlipTrainsTowardsTheOtherClassAndAnOverflowedModelScoresAsACoinFlip() throws {
        let honest = try Self.session { _ in }
        let flipped = try Self.session { $0.flipsLabels = true }
        let start = honest.initialParameters
        var good = start, bad = start
        for _ in 0..<4 {
            good = honest.trainRound(startingFrom: good).parameters
            bad = flipped.trainRound(startingFrom: bad).parameters
        }
        let indices = Array(honest.cache.samples.indices)
        #expect(honest.accuracyAndLoss(parameters: good, cache: honest.cache, indices: indices).accuracy
            > honest.accuracyAndLoss(parameters: bad, cache: honest.cache, indices: indices).accuracy)

        let overflowed = [Float](repeating: .nan, count: start.count)
        let result = honest.evaluate(parameters: overflowed, cache: honest.cache, indices: indices)
        #expect(result.scores.allSatisfy { $0.score == 0.5 })
        #expect(result.loss.isFinite)
        _ = try JSONEncoder().encode(result.metrics)
    }

    @Test func adamAndSGDTakeDifferentStepsFromTheSameStart() throws {
        let sgd = try Self.session { _ in }
        let adam = try Self.session { $0.optimizer = .adam(); $0.learningRate = 0.001 }
        let start = sgd.initialParameters
        let a = sgd.trainRound(startingFrom: start).parameters, b = adam.trainRound(startingFrom: start).parameters
        #expect(a != start && b != start && a != b)
    }

    /// Adam's first step moves every parameter with a gradient by the rate, whatever the gradient's size, so the
    /// largest change of one step is the rate the step ran at.
    @Test func underAdamASiteMissingAClassStepsAtItsClassWeightOverTheHeaviestClass() throws {
        let generated = SyntheticCells.generate(count: 40, seed: 21, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
        let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
        let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
        let blasts = cache.samples.indices.filter { cache.samples[$0].label == 1 }
        let n = blasts.count
        #expect(n > 0)
        func largestChange(federation counts: [Int], weighted: Bool = true, optimizer: OptimizerKind = .adam()) throws -> Float {
            var configuration = FederatedTrainingConfiguration(dataSeed: 3, batchSize: 8, stepsPerRound: 1, learningRate: 0.01,
                                                               optimizer: optimizer, federationClassCounts: counts)
            configuration.augment = false
            configuration.classWeightedStep = weighted
            let session = try FederatedTrainingSession(cache: cache, trainIndices: blasts, validationIndices: [], configuration: configuration)
            let start = session.initialParameters
            let trained = session.trainRound(startingFrom: start).parameters
            return zip(trained, start).map { abs($0 - $1) }.max() ?? 0
        }
        // Three blasts for every normal cell: the blast-only site's class weighs a third of the normal cells'
        // (2/3 against 2), so its step is a third of the rate.
        #expect(abs(try largestChange(federation: [n, 3 * n]) - 0.01 / 3) < 2e-4)
        #expect(abs(try largestChange(federation: [n, 3 * n], weighted: false) - 0.01) < 2e-4, "the ablation: the full rate")
        // Its class is the rarer one and so the heaviest: the full rate, never more.
        #expect(abs(try largestChange(federation: [3 * n, n]) - 0.01) < 2e-4)
        // A site that holds every class is not scaled.
        var both = FederatedTrainingConfiguration(dataSeed: 3, batchSize: 8, stepsPerRound: 1, learningRate: 0.01, optimizer: .adam(),
                                                  federationClassCounts: [60, 60])
        both.augment = false
        let mixed = try FederatedTrainingSession(cache: cache, trainIndices: Array(cache.samples.indices), validationIndices: [], configuration: both)
        let start = mixed.initialParameters
        #expect(abs((zip(mixed.trainRound(startingFrom: start).parameters, start).map { abs($0 - $1) }.max() ?? 0) - 0.01) < 2e-4)
        // SGD's step carries the weight in the gradient already: the option changes nothing there.
        #expect(try largestChange(federation: [n, 3 * n], optimizer: .sgd()) == (try largestChange(federation: [n, 3 * n], weighted: false, optimizer: .sgd())))
    }

    @Test func theMissingClassOptimiserActsOnlyOnASiteThatMissesAClass() throws {
        let generated = SyntheticCells.generate(count: 40, seed: 21, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
        let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
        let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
        let blasts = cache.samples.indices.filter { cache.samples[$0].label == 1 }
        func round(_ indices: [Int], _ optimizer: OptimizerKind, missing: OptimizerKind?) throws -> [Float] {
            var configuration = FederatedTrainingConfiguration(dataSeed: 3, batchSize: 8, stepsPerRound: 3, learningRate: 0.003,
                                                               optimizer: optimizer, augment: false)
            configuration.missingClassOptimizer = missing
            let session = try FederatedTrainingSession(cache: cache, trainIndices: indices, validationIndices: [], configuration: configuration)
            return session.trainRound(startingFrom: session.initialParameters).parameters
        }
        #expect(try round(blasts, .adam(), missing: .sgd()) == (try round(blasts, .sgd(), missing: nil)), "a one-class site steps with SGD")
        #expect(try round(blasts, .adam(), missing: .sgd()) != (try round(blasts, .adam(), missing: nil)))
        let all = Array(cache.samples.indices)
        #expect(try round(all, .adam(), missing: .sgd()) == (try round(all, .adam(), missing: nil)), "a site with every class keeps Adam")
    }

    /// `OptimizerPlacement.federation`: local steps are plain gradient steps, and the optimiser steps from where
    /// the last stretch started with the gradient the averaged model's move implies.
    @Test func theFederationPlacedOptimiserStepsOnTheAveragedModelsMove() throws {
        let placed = try Self.session { $0.optimizer = .adam(); $0.optimizerPlacement = .federation; $0.learningRate = 0.01 }
        let plain = try Self.session { $0.optimizer = .sgd(momentum: 0, weightDecay: 0); $0.learningRate = 0.01 }
        let start = placed.initialParameters
        #expect(placed.trainRound(startingFrom: start).parameters == plain.trainRound(startingFrom: start).parameters,
                "the first stretch: no move to measure yet, and the local steps are plain SGD")

        let session = try Self.session { $0.optimizer = .adam(); $0.optimizerPlacement = .federation; $0.learningRate = 0.01 }
        let x0: [Float] = [1, 1, 1, 1], x1: [Float] = [0.999, 1.002, 1, 1.0005]
        #expect(session.federationStart(x0) == x0, "the first call only remembers its start")
        // The average moved by -0.01 * g with g = (0.1, -0.2, 0, -0.05): Adam's first step moves each coordinate
        // with a gradient by the rate against its sign, from the average, and leaves the one without a gradient alone.
        let next = session.federationStart(x1)
        let expected: [Float] = [0.989, 1.012, 1, 1.0105]
        #expect(zip(next, expected).allSatisfy { abs($0 - $1) < 1e-5 }, "\(next)")
        // A non-finite move never reaches the moments: the node goes on from the model in hand.
        let broken: [Float] = [.nan, 1, 1, 1]
        #expect(session.federationStart(broken).elementsEqual(broken) { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(session.federationStart(x0) == x0)
    }

    @Test func driftCorrectionLeavesTheFirstRoundAloneThenCancelsTheNodesOwnPull() throws {
        // One full-batch step of plain SGD a round: the same start gives the same step, so the
        // correction's arithmetic can be checked exactly rather than statistically.
        func exact(_ configuration: inout FederatedTrainingConfiguration) {
            configuration.batchSize = 40; configuration.stepsPerRound = 1; configuration.optimizer = .sgd(momentum: 0, weightDecay: 0)
        }
        let plain = try Self.session { exact(&$0) }
        let corrected = try Self.session { exact(&$0); $0.driftCorrection = 1 }
        let start = plain.initialParameters
        let first = plain.trainRound(startingFrom: start).parameters
        #expect(corrected.trainRound(startingFrom: start).parameters == first, "no history in round 1: no correction")
        // The mean model did not move (the node is handed the same start again), so the global control
        // variate is zero and the correction takes back the node's own last displacement: the corrected
        // round ends where it started, the plain one a whole step away.
        let plainSecond = plain.trainRound(startingFrom: start).parameters
        let correctedSecond = corrected.trainRound(startingFrom: start).parameters
        #expect(Self.distance(plainSecond, start) > 1e-3)
        #expect(Self.distance(correctedSecond, start) < 1e-4 * Self.distance(plainSecond, start) + 1e-6)
    }

    @Test func theGlobalStepExtrapolatesTheAveragedModelsDisplacement() throws {
        let session = try Self.session { $0.globalLearningRate = 2; $0.globalMomentum = 0.5 }
        let x0 = [Float](repeating: 1, count: 4), x1 = [Float](repeating: 2, count: 4), x2 = [Float](repeating: 2, count: 4)
        #expect(session.globalStart(x0) == x0, "round 1 starts where gossip left the node")
        // v = 0.5 * 0 + 2 * (2 - 1) = 2, start = 1 + 2 = 3.
        #expect(session.globalStart(x1) == [Float](repeating: 3, count: 4))
        // The mean moved from that start (3) back to 2: v = 0.5 * 2 + 2 * (2 - 3) = -1, start = 3 - 1 = 2.
        #expect(session.globalStart(x2) == [Float](repeating: 2, count: 4))
        let off = try Self.session { _ in }
        #expect(off.globalStart(x0) == x0 && off.globalStart(x1) == x1, "(1, 0) is plain averaging")
    }
}

extension RoundStepTests {
    /// A stretch of a round takes the steps it is asked for with the round's batch; the whole round is the default.
    @Test func aStretchTakesTheStepsAskedForWithTheRoundsBatch() throws {
        let session = try Self.session { _ in }
        let start = session.initialParameters
        #expect(session.trainRound(startingFrom: start, steps: 2).images == 2 * 8)
        #expect(session.trainRound(startingFrom: start).images == 6 * 8)
    }
}

extension RoundStepTests {
    /// The gradient-norm limit scales a long gradient down to it, and a round that ends non-finite is thrown
    /// away: the session hands back where it started and forgets its optimiser state.
    @Test func aLongGradientIsScaledDownAndADivergedRoundIsThrownAway() throws {
        let limited = try Self.session { $0.gradientNormLimit = 1e-3 }
        let start = limited.initialParameters
        let step = limited.trainRound(startingFrom: start, steps: 1)
        #expect(limited.clippedSteps == 1)
        #expect(limited.largestGradientNorm > 1e-3)
        // One SGD step with momentum from rest moves by learning rate x (gradient + weight decay x parameters): at
        // most 0.05 x (1e-3 + 5e-4 |start|) here, the optimiser adding the decay after the limit.
        let norm = Self.distance(start, [Float](repeating: 0, count: start.count))
        #expect(Self.distance(step.parameters, start) <= 0.05 * (1e-3 + 5e-4 * norm) * 1.0001)
        let free = try Self.session { $0.gradientNormLimit = nil }.trainRound(startingFrom: start, steps: 1)
        #expect(Self.distance(free.parameters, start) > 2 * Self.distance(step.parameters, start), "without the limit the step is longer")

        let session = try Self.session { $0.gradientNormLimit = nil }
        var poisoned = session.initialParameters
        poisoned[0] = .infinity
        let outcome = session.trainRound(startingFrom: poisoned, steps: 2)
        #expect(!outcome.meanLoss.isFinite)
        #expect(outcome.parameters.elementsEqual(poisoned, by: { $0 == $1 || ($0.isNaN && $1.isNaN) }))
        #expect(session.discardedRounds == 1)
        #expect(session.trainRound(startingFrom: session.initialParameters, steps: 2).meanLoss.isFinite, "it trains again from a sound model")
    }
}

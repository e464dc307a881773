import Foundation
import LeukCore
import LeukData
import LeukGossip
import LeukMetrics
import LeukReport
import Testing
@testable import LeukExperiment
@testable import LeukTraining

/// A federation small enough for a unit test: 3 nodes of 16x16 synthetic cells.
private func tinyRequest(seed: UInt64 = 7) -> SimulationRequest {
    SimulationRequest(nodes: 3, rounds: 3, source: .synthetic(imagesPerNode: 24, testImages: 24, difficulty: 0.3),
                      partition: .dirichlet(alpha: 0.5), topology: .full, seed: seed, stepsPerRound: 3, threads: 1,
                      size: 16, batchSize: 8, learningRate: 0.02, roundEvaluationImages: 24, optimizer: .sgd())
}

/// The result without what legitimately varies between runs: wall time, memory, response times.
private func withoutTimings(_ result: SimulationResult) -> SimulationResult {
    var copy = result
    copy.config.wallSeconds = 0
    copy.config.peakRSSMiB = nil
    func strip(_ m: EvaluationMetrics) -> EvaluationMetrics { var m = m; m.responseTimeMs = nil; return m }
    copy.centralized = strip(copy.centralized)
    copy.localOnly = NodeMetricsGroup(mean: strip(copy.localOnly.mean), perNode: copy.localOnly.perNode.map(strip))
    copy.federated = NodeMetricsGroup(mean: strip(copy.federated.mean), perNode: copy.federated.perNode.map(strip))
    return copy
}

@Test func simulateJSONHasTheContractShapeIsDeterministicAndConverges() throws {
    let first = try SimulationRunner.run(tinyRequest())
    let data = try first.jsonData()
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    for key in ["centralized", "local_only", "federated", "rounds", "bytes_per_node_per_round", "config", "federated_scores"] {
        #expect(object[key] != nil, "missing key \(key)")
    }
    let federated = try #require(object["federated"] as? [String: Any])
    #expect((federated["per_node"] as? [Any])?.count == 3)
    #expect(federated["mean"] is [String: Any])
    let rounds = try #require(object["rounds"] as? [[String: Any]])
    #expect(rounds.count == 3)
    for round in rounds {
        for key in ["round", "consensus_distance", "mean_accuracy"] { #expect(round[key] != nil, "round lacks \(key)") }
    }
    // The result says how it was trained: the recipe's options travel in `config`.
    let config = try #require(object["config"] as? [String: Any])
    for key in ["optimizer", "learning_rate", "class_balance", "logit_adjustment", "proximal_strength", "drift_correction",
                "global_learning_rate", "global_momentum", "augment"] {
        #expect(config[key] != nil, "config lacks \(key)")
    }
    #expect(config["optimizer"] as? String == "sgd" && config["global_learning_rate"] as? Double == 1)
    let decoded = try SimulationResult.decode(data, source: "test")
    #expect(decoded.localOnly.perNode.count == 3)
    #expect(decoded.federated.mean.n == 3 * 24)
    #expect(decoded.bytesPerNodePerRound > 0)
    #expect(decoded.federatedScores?.count == 3 * 24)

    // Consensus: the nodes move apart by training and together by averaging; with the annealed
    // learning rate the distance after the last round is below the first round's.
    let distances = decoded.rounds.map(\.consensusDistance)
    #expect(distances.allSatisfy { $0.isFinite && $0 >= 0 })
    #expect(distances.last! < distances.first!, "consensus distance did not fall: \(distances)")

    let second = try SimulationRunner.run(tinyRequest())
    #expect(withoutTimings(first) == withoutTimings(second))
    let other = try SimulationRunner.run(tinyRequest(seed: 8))
    #expect(withoutTimings(first) != withoutTimings(other))
}

@Test func invalidRequestsAreRefusedWithAReason() {
    var request = tinyRequest()
    request.size = 20
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
    request = tinyRequest()
    request.topology = .randomRegular(degree: 3)
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
    request = tinyRequest()
    request.nodes = 1
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
}

@Test func classWeightsAreClippedSoARareClassCannotBlowUp() {
    let weights = FederatedTrainingSession.balancedWeights(counts: [1, 683], range: 0.2...5)
    #expect(weights[0] == 5)
    #expect(abs(weights[1] - 684 / (2 * 683)) < 1e-4)
    let balanced = FederatedTrainingSession.balancedWeights(counts: [50, 50], range: 0.2...5)
    #expect(balanced == [1, 1])
    let missing = FederatedTrainingSession.balancedWeights(counts: [0, 40], range: 0.2...5)
    #expect(missing[1] == 1)
}

@Test func sessionTrainingLowersTheLossAndKeepsShapes() throws {
    let generated = SyntheticCells.generate(count: 48, seed: 3, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
    let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
    let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    let configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: 16, stepsPerRound: 12, learningRate: 0.03, optimizer: .sgd(), augment: false)
    let session = try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<40), validationIndices: Array(40..<48),
                                               configuration: configuration)
    #expect(session.parameterCount == session.initialParameters.count)
    #expect(session.trainingSampleCount == 40)
    #expect(session.classes == ["hem", "all"])
    let before = session.evaluate(parameters: session.initialParameters, cache: cache, indices: Array(0..<40)).loss
    var parameters = session.initialParameters
    for _ in 0..<4 { parameters = session.trainRound(startingFrom: parameters).parameters }
    let after = session.evaluate(parameters: parameters, cache: cache, indices: Array(0..<40))
    #expect(after.loss < before, "training loss did not fall: \(before) -> \(after.loss)")
    #expect(after.scores.count == 40)
    #expect(after.metrics.n == 40)
    let validation = session.validate(parameters: parameters)
    #expect(validation.accuracy >= 0 && validation.accuracy <= 1)
    let model = session.makeModel(parameters: parameters)
    #expect(model.parameters == parameters)
    #expect(model.mean == FederatedTrainingConfiguration.federationNormalization.mean)
}

@Test func aSessionWithoutTrainingImagesIsRefused() throws {
    let generated = SyntheticCells.generate(count: 4, seed: 3, size: 16, threads: 1)
    let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g") }
    let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    #expect(throws: ExperimentError.self) {
        try FederatedTrainingSession(cache: cache, trainIndices: [], validationIndices: [], configuration: FederatedTrainingConfiguration(dataSeed: 0))
    }
    #expect(throws: ExperimentError.self) {
        try FederatedTrainingSession(cache: cache, trainIndices: [9], validationIndices: [], configuration: FederatedTrainingConfiguration(dataSeed: 0))
    }
}

@Test func federationClassCountsSetTheWeightsAndMustCoverTheNodesOwnCounts() throws {
    let generated = SyntheticCells.generate(count: 24, seed: 5, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
    let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g") }
    let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    var own = [0, 0]
    for label in generated.labels { own[label] += 1 }
    // The federation holds 3x the node's normal cells and 9x its blasts: weights follow the
    // federation's mix (n / (K n_c)), not the node's own.
    let federation = [own[0] * 3, own[1] * 9]
    var configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: 8, stepsPerRound: 1, classWeightRange: 0.01...100)
    configuration.federationClassCounts = federation
    let session = try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<24), validationIndices: [],
                                               configuration: configuration)
    let total = Float(federation.reduce(0, +))
    let expected = federation.map { total / (2 * Float($0)) }
    #expect(session.classWeights == expected)

    configuration.federationClassCounts = [own[0] - 1, own[1]]
    #expect(throws: ExperimentError.self) {
        try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<24), validationIndices: [], configuration: configuration)
    }
    configuration.federationClassCounts = [100]
    #expect(throws: ExperimentError.self) {
        try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<24), validationIndices: [], configuration: configuration)
    }
}

/// A node learns its peers' class counts while it trains: the weights follow the new counts from the next
/// step, still checked against the node's own, and a session balancing its own mix ignores them.
@Test func federationCountsLearntLaterChangeTheWeightsOfAFederationSessionOnly() throws {
    let generated = SyntheticCells.generate(count: 24, seed: 5, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
    let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g") }
    let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    // A one-class site: only its normal cells (label 0) train.
    let hemOnly = (0..<24).filter { generated.labels[$0] == 0 }
    var configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: 4, stepsPerRound: 1, classWeightRange: 0.01...100)
    configuration.federationClassCounts = []  // federation mode, before any peer has reported
    let session = try FederatedTrainingSession(cache: cache, trainIndices: hemOnly, validationIndices: [], configuration: configuration)
    #expect(session.classCounts == [hemOnly.count, 0])
    #expect(session.usesFederationCounts)
    #expect(session.classWeights?[0] == 1, "alone, its one class weighs 1")
    let learnt = [hemOnly.count + 10, 90]
    #expect(try session.useFederationClassCounts(learnt))
    let total = Float(learnt.reduce(0, +))
    #expect(session.classWeights == learnt.map { total / (2 * Float($0)) })
    #expect(try !session.useFederationClassCounts(learnt), "the same counts change nothing")
    #expect(throws: ExperimentError.self) { try session.useFederationClassCounts([0, 90]) }

    var local = configuration
    local.federationClassCounts = nil
    let balancing = try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<24), validationIndices: [], configuration: local)
    let before = balancing.classWeights
    #expect(!balancing.usesFederationCounts)
    #expect(try !balancing.useFederationClassCounts([100, 100]))
    #expect(balancing.classWeights == before)
    // Adaptive: the one-class site takes the federation's counts, the site holding both classes its own.
    #expect(ClassBalance.adaptive.usesFederationCounts(own: [12, 0]))
    #expect(!ClassBalance.adaptive.usesFederationCounts(own: [12, 3]))
    #expect(ClassBalance.federation.usesFederationCounts(own: [12, 3]) && !ClassBalance.local.usesFederationCounts(own: [12, 0]))
    // Its weights balance the classes' masses against the self-balanced neighbours' (`ClassMassesTests`); under
    // `.federation` the same neighbours' counts are simply added to its own.
    let hemSite = try FederatedTrainingSession(cache: cache, trainIndices: hemOnly, validationIndices: [], configuration: configuration)
    #expect(try hemSite.useNeighbourClassCounts([[40, 40], [0, 20]], balance: .adaptive))
    #expect(hemSite.classWeights == ClassMasses.missingClassWeights(missing: [hemSite.classCounts, [0, 20]], selfBalanced: [[40, 40]],
                                                                    range: configuration.classWeightRange))
    #expect(try hemSite.useNeighbourClassCounts([[40, 40], [0, 20]], balance: .federation))
    #expect(hemSite.classWeights == FederatedTrainingSession.balancedWeights(counts: [hemOnly.count + 40, 60], range: configuration.classWeightRange))
    #expect(throws: ExperimentError.self) { try hemSite.useNeighbourClassCounts([[1, 2, 3]], balance: .adaptive) }
    #expect(try !balancing.useNeighbourClassCounts([[0, 20]], balance: .adaptive), "a session balancing its own mix ignores them")
}

/// A round cut into stretches takes the same number of steps with the same batches, an exchange after each
/// stretch; it stays deterministic for a seed, changes the result, and refuses more stretches than steps.
@Test func exchangesInsideTheRoundKeepTheStepsAndStayDeterministic() throws {
    var request = tinyRequest()
    request.stepsPerRound = 4
    let once = try SimulationRunner.run(request)
    request.exchangesPerRound = 4
    let cut = try SimulationRunner.run(request)
    #expect(cut.config.exchangesPerRound == 4 && once.config.exchangesPerRound == 1)
    #expect(withoutTimings(cut) == withoutTimings(try SimulationRunner.run(request)), "deterministic for a seed")
    #expect(withoutTimings(cut) != withoutTimings(once), "averaging inside the round changes the training")
    #expect(cut.bytesPerNodePerRound > 3 * once.bytesPerNodePerRound, "four exchanges a round send about four times the bytes")
    request.exchangesPerRound = 5
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
    request.exchangesPerRound = 0
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
}

/// Where the optimiser steps follows the optimiser until a caller sets it: it is not a copy taken when the request
/// was made, so changing the optimiser afterwards cannot leave an SGD placement under Adam.
@Test func thePlacementFollowsTheOptimiserUnlessSet() {
    var request = SimulationRequest(nodes: 2, rounds: 1, source: .synthetic(imagesPerNode: 8, testImages: 8, difficulty: 0.2),
                                    partition: .iid, topology: .full, optimizer: .sgd())
    #expect(request.placement == .local)
    request.optimizer = .adam()
    #expect(request.placement == .federation)
    request.optimizerPlacement = .local
    #expect(request.placement == .local)
}

import Foundation
import LeukCore
import LeukData
import LeukReport
import Testing
@testable import LeukExperiment
@testable import LeukTraining

/// A cache of 16x16 synthetic cells under the federation's classes, and the indices of each class.
private func cells(count: Int, seed: UInt64) -> (cache: ImageCache, hem: [Int], all: [Int]) {
    let generated = SyntheticCells.generate(count: count, seed: seed, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
    let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
    let cache = ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    let hem = cache.samples.indices.filter { cache.samples[$0].label == 0 }
    let all = cache.samples.indices.filter { cache.samples[$0].label == 1 }
    return (cache, hem, all)
}

@Test func logitOffsetsAreTauTimesTheLogOfTheNodesOwnPriors() {
    let balanced = FederatedTrainingSession.logitOffsets(counts: [3, 1], tau: 1)
    #expect(abs(balanced[0] - Float(log(0.75))) < 1e-6)
    #expect(abs(balanced[1] - Float(log(0.25))) < 1e-6)
    // A class the node lacks counts as half an image: finite, far below the class it holds.
    let oneClass = FederatedTrainingSession.logitOffsets(counts: [0, 10], tau: 2)
    #expect(abs(oneClass[0] - Float(2 * log(0.5 / 10.5))) < 1e-5)
    #expect(abs(oneClass[1] - Float(2 * log(10 / 10.5))) < 1e-5)
    #expect(oneClass.allSatisfy { $0.isFinite })
}

@Test func aOneClassNodeTrainsTheFederationsTwoClassModel() throws {
    let (cache, hem, _) = cells(count: 48, seed: 11)
    var configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: 8, stepsPerRound: 4, learningRate: 0.02, optimizer: .sgd(), augment: false)
    configuration.logitAdjustment = 1
    let session = try FederatedTrainingSession(cache: cache, trainIndices: hem, validationIndices: [], configuration: configuration)
    #expect(session.classes == ["hem", "all"])
    #expect(session.classWeights == nil, "the logit-adjusted loss replaces class weighting")
    let offsets = try #require(session.logitOffsets)
    #expect(offsets[1] < offsets[0] - 3, "the absent class must be shifted far down: \(offsets)")
    let outcome = session.trainRound(startingFrom: session.initialParameters)
    #expect(outcome.images == 32)
    #expect(outcome.meanLoss.isFinite)
    #expect(outcome.parameters != session.initialParameters)
}

@Test func aProximalTermKeepsTheLocalStepsCloserToTheStart() throws {
    let (cache, hem, all) = cells(count: 48, seed: 12)
    func drift(mu: Float) throws -> Double {
        var configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: 8, stepsPerRound: 12, learningRate: 0.05, optimizer: .sgd(), augment: false)
        configuration.proximalStrength = mu
        let session = try FederatedTrainingSession(cache: cache, trainIndices: hem + all, validationIndices: [], configuration: configuration)
        let start = session.initialParameters
        let end = session.trainRound(startingFrom: start).parameters
        return sqrt(zip(start, end).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) })
    }
    #expect(try drift(mu: 5) < drift(mu: 0))
}

/// Two nodes, each holding one class only (one site, so stain does not give the class away): alone,
/// a node that has seen one class scores every cell alike (AUC 0.5). Together they rank the cells,
/// so each one-class node contributes what the other lacks.
@Test func twoOneClassNodesLearnToRankBothClassesTogether() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("leuk-oneclass-\(UInt64.random(in: 0...UInt64.max))").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    try SyntheticCells.writeDataset(to: root, count: 200, seed: 3, size: 32, threads: 1)
    let request = SimulationRequest(nodes: 2, rounds: 8, source: .dataset(directory: root, labelMap: nil),
                                    partition: .oneClassPerNode, topology: .full, seed: 3, stepsPerRound: 8, threads: 1,
                                    size: 32, batchSize: 16, learningRate: 0.03, gossipStepsPerRound: 2, roundEvaluationImages: 40,
                                    logitAdjustment: 0.5, optimizer: .sgd())
    let result = try SimulationRunner.run(request)
    for local in result.localOnly.perNode { #expect((local.auc ?? 0.5) <= 0.5 + 1e-9, "local-only: \(local)") }
    let auc = try #require(result.federated.mean.auc)
    #expect(auc > 0.65, "federated AUC \(auc)")
}

@Test func federationClassListsParseAndRelabelASitesSubset() throws {
    #expect(try FederationClasses.parse("hem, all") == ["hem", "all"])
    #expect(throws: ExperimentError.self) { try FederationClasses.parse("hem") }
    #expect(throws: ExperimentError.self) { try FederationClasses.parse("hem,hem") }
    #expect(throws: ExperimentError.self) { try FederationClasses.parse("hem,") }
    let site = Dataset(classes: ["all"], samples: [DatasetSample(path: "a/1.png", label: 0, group: "1")])
    let relabelled = try FederationClasses.relabel(site, to: ["hem", "all"])
    #expect(relabelled.classes == ["hem", "all"])
    #expect(relabelled.samples.map(\.label) == [1])
    let foreign = Dataset(classes: ["aml"], samples: [DatasetSample(path: "x/1.png", label: 0, group: "1")])
    #expect(throws: ExperimentError.self) { try FederationClasses.relabel(foreign, to: ["hem", "all"]) }
}

@Test func testDatasetIsExactlyTheGivenFilesAndAllOfTheDatasetIsTrained() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("leuk-testset-\(UInt64.random(in: 0...UInt64.max))").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    let train = root + "/train", test = root + "/test"
    let trainCounts = try SyntheticCells.writeDataset(to: train, count: 30, seed: 1, size: 16, threads: 1)
    // A different seed and site, so no file of the test set is a training file.
    let testCounts = try SyntheticCells.writeDataset(to: test, count: 14, seed: 2, size: 16, site: 1, threads: 1)
    let data = try FederationDataBuilder.dataset(directory: train, labelMap: nil, partition: .iid, nodes: 2, size: 16, seed: 0,
                                                 threads: 1, testDirectory: test) { _ in }
    let testPaths = Set(data.testIndices.map { data.cache.samples[$0].path })
    let expected = try Set(["hem", "all"].flatMap { name in
        try FileManager.default.contentsOfDirectory(atPath: test + "/" + name).map { test + "/" + name + "/" + $0 }
    })
    #expect(testPaths.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.sorted()
            == expected.map { URL(fileURLWithPath: $0).standardizedFileURL.path }.sorted())
    #expect(data.testIndices.count == testCounts.values.reduce(0, +))
    #expect(data.nodeTrainIndices.joined().count == trainCounts.values.reduce(0, +))
    #expect(Set(data.nodeTrainIndices.joined()).isDisjoint(with: data.testIndices))

    var request = SimulationRequest(nodes: 2, rounds: 1, source: .synthetic(imagesPerNode: 8, testImages: 8, difficulty: 0.2),
                                    partition: .iid, topology: .full)
    request.testDataset = test
    #expect(throws: ExperimentError.self) { try SimulationRunner.run(request) }
}

import Foundation
import LeukData
import Testing
@testable import LeukExperiment
@testable import LeukTraining

/// The baselines `demo` and `simulate` share: the cosine schedule is really applied, and the demo's
/// comparison scores every hospital's models on the whole common test set.
struct DemoScenarioTests {
    private func cache(count: Int, seed: UInt64) -> ImageCache {
        let generated = SyntheticCells.generate(count: count, seed: seed, size: 16, difficulty: 0.2, classBalance: 0.5, threads: 1)
        let samples = generated.labels.enumerated().map { DatasetSample(path: "s\($0.offset)", label: $0.element, group: "g\($0.offset)") }
        return ImageCache(images: generated.images, samples: samples, classes: SyntheticCells.classes, size: 16)
    }

    @Test func baselinesFollowTheCosineScheduleOverTheRounds() throws {
        let cache = cache(count: 32, seed: 11)
        let configuration = FederatedTrainingConfiguration(dataSeed: 4, batchSize: 8, stepsPerRound: 2, learningRate: 0.05, optimizer: .sgd(), augment: false)
        func session() throws -> FederatedTrainingSession {
            try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<32), validationIndices: [], configuration: configuration)
        }
        let scheduled = try session()
        let trained = Baselines.train(scheduled, from: scheduled.initialParameters, rounds: 3, learningRate: 0.05)
        // The last round ran at the cosine's last value, 0.5 (1 + cos(2 pi / 3)) = 0.25 of the base rate.
        #expect(abs(scheduled.learningRate - 0.05 * 0.25) < 1e-6)
        // The same rounds by hand, rate by rate, land on the same parameters; a constant rate does not.
        let manual = try session(), constant = try session()
        var byHand = manual.initialParameters, flat = constant.initialParameters
        for round in 1...3 {
            manual.learningRate = 0.05 * SimulationRunner.scheduleFactor(round: round, of: 3)
            byHand = manual.trainRound(startingFrom: byHand).parameters
            flat = constant.trainRound(startingFrom: flat).parameters
        }
        #expect(trained == byHand)
        #expect(trained != flat)
        #expect(Baselines.train(try session(), from: byHand, rounds: 0, learningRate: 0.05) == byHand)
    }

    /// With a fixed batch the reference takes the whole federation's steps; with one-local-epoch batches
    /// (the default) it trains one pooled epoch a round in batches of 32, the images the nodes train on.
    @Test func centralizedReferenceSeesTheFederationsImagesPerRound() {
        #expect(Baselines.centralized(batch: 32, nodes: 3, stepsPerRound: 20, pooledImages: 5_000) == (32, 60))
        #expect(Baselines.centralized(batch: 8, nodes: 4, stepsPerRound: 160, pooledImages: 5_000) == (8, 640))
        #expect(Baselines.centralized(batch: nil, nodes: 4, stepsPerRound: 160, pooledImages: 2_604) == (32, 82))
        #expect(Baselines.centralized(batch: nil, nodes: 2, stepsPerRound: 10, pooledImages: 64) == (32, 2))
        #expect(Baselines.centralized(batch: nil, nodes: 2, stepsPerRound: 10, pooledImages: 5) == (32, 1))
    }

    /// A round is one local epoch: every node takes the same steps, its batch its images over them,
    /// within 4...256, and a fixed batch overrides it.
    @Test func oneLocalEpochBatchFollowsTheNodesImages() throws {
        #expect(FederationDefaults.localEpochBatch(images: 2_072, stepsPerRound: 160) == 13)
        #expect(FederationDefaults.localEpochBatch(images: 1_600, stepsPerRound: 160) == 10)
        #expect(FederationDefaults.localEpochBatch(images: 69, stepsPerRound: 160) == 4)
        #expect(FederationDefaults.localEpochBatch(images: 0, stepsPerRound: 160) == 4)
        #expect(FederationDefaults.localEpochBatch(images: 1_000_000, stepsPerRound: 160) == 256)
        #expect(FederationDefaults.localEpochBatch(images: 100, stepsPerRound: 0) == 100)
        let cache = cache(count: 60, seed: 3)
        func session(_ images: Int, batch: Int?) throws -> FederatedTrainingSession {
            let configuration = FederatedTrainingConfiguration(dataSeed: 1, batchSize: batch, stepsPerRound: 5, augment: false)
            return try FederatedTrainingSession(cache: cache, trainIndices: Array(0..<images), validationIndices: [], configuration: configuration)
        }
        #expect(try session(60, batch: nil).batchSize == 12)
        #expect(try session(10, batch: nil).batchSize == 4)
        #expect(try session(60, batch: 7).batchSize == 7)
        // One round of the 60-image node reads 5 batches of 12: exactly its images once.
        let node = try session(60, batch: nil)
        #expect(node.trainRound(startingFrom: node.initialParameters).images == 60)
        #expect(throws: ExperimentError.self) { try session(60, batch: 0) }
    }

    @Test func demoComparisonScoresEveryHospitalOnTheCommonTestSet() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("demo-scenario-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var nodeSamples: [[DatasetSample]] = []
        for site in 0..<2 {
            try SyntheticCells.writeDataset(to: root + "/site-\(site)", count: 24, seed: UInt64(site), size: 16, site: site, threads: 1)
            nodeSamples.append(try DatasetScanner.scan(directory: root + "/site-\(site)", labelMap: nil).samples)
        }
        try SyntheticCells.writeDataset(to: root + "/test", count: 20, seed: 99, size: 16, threads: 1)
        let test = try DatasetScanner.scan(directory: root + "/test", labelMap: nil)
        let scenario = DemoScenario(classes: test.classes, nodeSamples: nodeSamples, testSamples: test.samples, size: 16,
                                    rounds: 2, stepsPerRound: 2, seed: 7)
        #expect(throws: ExperimentError.self) { try scenario.compare(federatedParameters: []) }

        // Both hospitals "federated" to the common starting point: their rows must then be identical.
        let start = try FederatedTrainingSession(
            cache: ImageCache(samples: test.samples, classes: test.classes, size: 16, threads: 1), trainIndices: [0],
            validationIndices: [], configuration: FederatedTrainingConfiguration(dataSeed: 0)).initialParameters
        var lines: [String] = []
        let comparison = try scenario.compare(federatedParameters: [start, start]) { lines.append($0) }
        #expect(comparison.localOnly.count == 2 && comparison.federated.count == 2)
        for metrics in comparison.localOnly + comparison.federated + [comparison.centralized] {
            #expect(metrics.n == 20)
            #expect(metrics.confusion.total == 20)
            #expect(metrics.responseTimeMs != nil)
        }
        var federated = comparison.federated.map { $0 }
        for index in federated.indices { federated[index].responseTimeMs = nil }
        #expect(federated[0] == federated[1])
        #expect(lines.count == 3)
        #expect(lines.last == "training the centralized model (2 x 2 steps of 32 on all \(nodeSamples.joined().count) images pooled)...")
    }
}

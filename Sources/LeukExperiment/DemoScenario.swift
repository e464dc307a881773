public import LeukData
public import LeukMetrics
import LeukTraining

/// The evaluation at the end of `leuknode demo`: the federated models the demo's node processes
/// produced, against each hospital alone (local-only) and against one model on the pooled data
/// (centralized), all on the common held-out test set.
///
/// The baselines are trained here, through `Baselines`, exactly as `simulate` trains its own: the
/// federation's default recipe, the cosine schedule over the rounds, and as many images per round
/// for the centralized model as the federation trains on (`Baselines.centralized`). The command
/// itself only parses, supervises the node processes and prints.
public struct DemoScenario: Sendable {
    /// The federation's classes, in logit order.
    public var classes: [String]
    /// Each hospital's training images, in node order.
    public var nodeSamples: [[DatasetSample]]
    /// The common held-out test set.
    public var testSamples: [DatasetSample]
    /// Network input size in pixels.
    public var size: Int
    public var rounds: Int
    public var stepsPerRound: Int
    /// Seeds the data order: hospital `k`'s local-only model reads `seed + k` (the `--data-seed` its
    /// node process was started with), the centralized model `seed + 999`.
    public var seed: UInt64

    public init(classes: [String], nodeSamples: [[DatasetSample]], testSamples: [DatasetSample], size: Int, rounds: Int,
                stepsPerRound: Int, seed: UInt64) {
        self.classes = classes; self.nodeSamples = nodeSamples; self.testSamples = testSamples; self.size = size
        self.rounds = rounds; self.stepsPerRound = stepsPerRound; self.seed = seed
    }

    /// What the comparison found, per hospital in node order.
    public struct Comparison: Sendable {
        public var localOnly: [EvaluationMetrics]
        public var federated: [EvaluationMetrics]
        public var centralized: EvaluationMetrics
    }

    /// Trains the baselines and evaluates them and `federatedParameters` (one vector per hospital)
    /// on the test set, single-image response times included. `progress` receives one line per model trained.
    public func compare(federatedParameters: [[Float]], progress: (String) -> Void = { _ in }) throws -> Comparison {
        guard federatedParameters.count == nodeSamples.count else {
            throw ExperimentError("the demo has \(nodeSamples.count) hospitals but \(federatedParameters.count) federated models")
        }
        let trainSamples = nodeSamples.flatMap { $0 }
        let cache = ImageCache(samples: trainSamples + testSamples, classes: classes, size: size, threads: 2)
        let testIndices = Array(trainSamples.count..<cache.count)
        func session(_ indices: [Int], steps: Int, seed: UInt64, batch: Int? = FederationDefaults.batchSize) throws -> FederatedTrainingSession {
            let configuration = FederatedTrainingConfiguration(dataSeed: seed, batchSize: batch, stepsPerRound: steps)
            return try FederatedTrainingSession(cache: cache, trainIndices: indices, validationIndices: [], configuration: configuration)
        }
        var localOnly: [EvaluationMetrics] = []
        var offset = 0
        for (k, samples) in nodeSamples.enumerated() {
            let indices = Array(offset..<offset + samples.count)
            offset += samples.count
            progress("training hospital-\(k + 1)'s local-only model (\(rounds) x \(stepsPerRound) steps on its own \(indices.count) images)...")
            let local = try session(indices, steps: stepsPerRound, seed: seed &+ UInt64(k))
            let parameters = Baselines.train(local, from: local.initialParameters, rounds: rounds, learningRate: local.configuration.learningRate)
            localOnly.append(local.evaluate(parameters: parameters, cache: cache, indices: testIndices, measureLatency: true).metrics)
        }
        let pooled = Array(0..<trainSamples.count)
        let reference = Baselines.centralized(batch: FederationDefaults.batchSize, nodes: nodeSamples.count,
                                              stepsPerRound: stepsPerRound, pooledImages: pooled.count)
        progress("training the centralized model (\(rounds) x \(reference.steps) steps of \(reference.batch) on all \(pooled.count) images pooled)...")
        let central = try session(pooled, steps: reference.steps, seed: seed &+ 999, batch: reference.batch)
        let parameters = Baselines.train(central, from: central.initialParameters, rounds: rounds, learningRate: central.configuration.learningRate)
        let centralized = central.evaluate(parameters: parameters, cache: cache, indices: testIndices, measureLatency: true).metrics
        let federated = federatedParameters.map {
            central.evaluate(parameters: $0, cache: cache, indices: testIndices, measureLatency: true).metrics
        }
        return Comparison(localOnly: localOnly, federated: federated, centralized: centralized)
    }
}

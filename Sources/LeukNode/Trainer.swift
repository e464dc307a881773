import LeukCore
import LeukData
import LeukMetrics
import LeukTraining

/// The node's local trainer: a `FederatedTrainingSession` behind an actor that runs on its own
/// thread (`ThreadExecutor`), so decoding the dataset and every training step block that thread,
/// never Swift's cooperative pool or an event loop, and the compiler checks that the session is only
/// touched there.
actor Trainer {
    private let executor: ThreadExecutor
    private let session: FederatedTrainingSession

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    /// Decodes the node's images into an `ImageCache` and builds the session, on the trainer thread
    /// (the init runs where the caller runs, so the blocking part is handed over first).
    static func load(train: [DatasetSample], validation: [DatasetSample], classes: [String], inputSize: Int,
                     configuration: FederatedTrainingConfiguration) async throws -> Trainer {
        let trainer = Loader(executor: ThreadExecutor(name: "leuk-train"))
        return try await trainer.load(train: train, validation: validation, classes: classes, inputSize: inputSize,
                                      configuration: configuration)
    }

    private init(executor: ThreadExecutor, session: FederatedTrainingSession) {
        self.executor = executor
        self.session = session
    }

    var trainingSampleCount: Int { session.trainingSampleCount }
    var initialParameters: [Float] { session.initialParameters }

    /// The node's training images per class, in the federation's class order.
    var classCounts: [Int] { session.classCounts }
    /// Whether the loss follows the neighbourhood's class counts (`ClassBalance.usesFederationCounts`).
    var usesFederationCounts: Bool { session.usesFederationCounts }

    /// Trains `steps` steps of the round from `start`, without validating: one stretch of a round cut
    /// into several (`StartOptions.exchangesPerRound`); the runtime validates once, after the last.
    func trainStretch(startingFrom start: [Float], steps: Int) -> LocalRoundOutcome {
        session.trainRound(startingFrom: start, steps: steps)
    }

    /// Accuracy and loss of `parameters` on the validation split (NaN without one).
    func validate(parameters: [Float]) -> (accuracy: Double, loss: Double) {
        session.validate(parameters: parameters)
    }

    /// Weights the loss by the neighbours' class counts from the next step on, as `balance` says
    /// (`FederatedTrainingSession.useNeighbourClassCounts`); true when the weights changed.
    func useNeighbourClassCounts(_ counts: [[Int]], balance: ClassBalance) throws -> Bool {
        try session.useNeighbourClassCounts(counts, balance: balance)
    }

    /// The per-class loss weights in use (nil without class balancing).
    var classWeights: [Float]? { session.classWeights }

    /// The figures of `parameters` on the node's validation split, for the promotion gate; nil when
    /// the split is empty. Runs here, on the trainer's thread, between training rounds.
    func validationFigures(parameters: [Float]) -> ValidationFigures? {
        guard !session.validationIndices.isEmpty else { return nil }
        let result = session.evaluate(parameters: parameters, cache: session.cache, indices: session.validationIndices)
        let confusion = result.metrics.confusion
        return ValidationFigures(confusion: confusion, positiveClass: EvaluationMetrics.positiveClassIndex(confusion.labels),
                                 loss: result.loss)
    }

    /// Builds a `Trainer` on the thread it will run on: an actor's methods run on its executor, its
    /// initializer does not, so the decoding happens in a method of this short-lived actor that
    /// shares the trainer's executor.
    private actor Loader {
        let executor: ThreadExecutor
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

        init(executor: ThreadExecutor) { self.executor = executor }

        func load(train: [DatasetSample], validation: [DatasetSample], classes: [String], inputSize: Int,
                  configuration: FederatedTrainingConfiguration) throws -> Trainer {
            let cache = ImageCache(samples: train + validation, classes: classes, size: inputSize, threads: 2)
            let trainSet = Set(train)
            let indices = Array(0..<cache.count)
            let session = try FederatedTrainingSession(
                cache: cache, trainIndices: indices.filter { trainSet.contains(cache.samples[$0]) },
                validationIndices: indices.filter { !trainSet.contains(cache.samples[$0]) }, configuration: configuration)
            return Trainer(executor: executor, session: session)
        }
    }
}

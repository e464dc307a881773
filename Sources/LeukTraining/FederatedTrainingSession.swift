public import LeukData
public import LeukModel
public import LeukMetrics
public import LeukCore
import Foundation

/// Why a training session, an experiment or a simulation cannot run.
public struct ExperimentError: LeukUserFacingError, Equatable {
    public var description: String
    public var hint: String?

    public init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}

/// What one local training round produced.
public struct LocalRoundOutcome: Sendable {
    /// The parameters after the round (PyTorch layout, `Model.parameters` order).
    public var parameters: [Float]
    /// Mean training loss over the round's batches (class-weighted as trained).
    public var meanLoss: Double
    /// Images seen in the round.
    public var images: Int
}

/// One node's local training, built so that a federation can interleave it with averaging:
/// `trainRound(startingFrom:)` takes whatever parameters gossip produced, runs `stepsPerRound` SGD
/// steps on the node's own images and hands the result back.
///
/// Non-IID data is handled on purpose, because plain averaging of label-skewed nodes learns "everything
/// is a blast" (p2pfl's specificity of 0.12 on Aria):
/// - a class-balanced loss, `w_c = n / (K * n_c)`, clipped to `classWeightRange` and applied without
///   renormalising per batch. With the federation's class counts (`federationClassCounts`) the
///   nodes' losses add up to the pooled data's balanced loss; with only the node's LOCAL counts, a
///   node that holds mostly blasts contributes a proportionally smaller blast gradient, and rare
///   classes are also repeated in the sampling order (at most 4x, the weights then computed from the
///   counts after this repetition);
/// - the optimiser state (SGD momentum or Adam's moments) lives in the session and survives rounds,
///   instead of restarting from zero after every averaging step (restarting makes every round start
///   with a cold, noisy step).
///
/// The update is applied here, on the flat parameter view, by the engine's own `OptimizerState`
/// rather than inside the engine: that is what lets many sessions share one `Model` as a compute
/// engine (the simulator runs 32+ nodes with one) while each keeps its own optimiser state.
///
/// Not thread-safe and not `Sendable`: one session belongs to one thread.
public final class FederatedTrainingSession {
    public let configuration: FederatedTrainingConfiguration
    public let cache: ImageCache
    public let trainIndices: [Int]
    public let validationIndices: [Int]
    /// Learning rate used by the next `trainRound`; starts at `configuration.learningRate`. A
    /// federation may anneal it across rounds.
    public var learningRate: Float
    /// Images per step: the configuration's fixed batch, or this node's one-local-epoch batch.
    public let batchSize: Int
    /// The per-class loss weights in use (`nil` without class balancing). With the federation's class
    /// counts they change as a node learns its peers' counts (`useFederationClassCounts`).
    public private(set) var classWeights: [Float]?
    /// The node's own training images per class (before oversampling), in `classes` order: what it
    /// reports to its peers.
    public let classCounts: [Int]
    /// The per-class logit offsets of the logit-adjusted loss (`nil` when it is off).
    public let logitOffsets: [Float]?
    /// The restricted softmax's per-class logit factors (`nil` when it is off or the node holds every class).
    public let logitScales: [Float]?

    /// The largest gradient norm seen, the steps whose gradient was scaled down to
    /// `configuration.gradientNormLimit`, and the rounds thrown away because they ended non-finite, since start.
    public private(set) var largestGradientNorm = 0.0
    public private(set) var clippedSteps = 0
    public private(set) var discardedRounds = 0

    private let engine: Model
    private let sharedEngine: Bool
    private let sampleOrder: [Int]
    private var stream: BatchStream?
    private var streamGeneration: UInt64 = 0
    private var optimizerState: OptimizerState?
    /// Whether this node's training images miss a class.
    public var missesAClass: Bool { classCounts.contains(0) }
    /// The largest class weight among the classes the neighbourhood's missing-class sites hold (nil: not known
    /// yet). Under Adam a site that misses a class steps at its batch's weight over this ceiling
    /// (`FederatedTrainingConfiguration.classWeightedStep`).
    private var stepWeightCeiling: Float?

    /// The largest of `weights` over the classes with a count in `held` (`stepWeightCeiling`).
    private static func heaviestWeight(_ weights: [Float], held: [Int]) -> Float? {
        weights.indices.filter { $0 < held.count && held[$0] > 0 }.map { weights[$0] }.max()
    }
    /// The drift correction's memory of the last round: where it started, the optimiser's own
    /// displacement over it (corrections excluded) and its learning rate.
    private var lastRound: (start: [Float], ownDisplacement: [Float], learningRate: Float)?
    /// The global step's memory: where the last round started and the global velocity.
    private var globalStep: (start: [Float], velocity: [Float])?
    /// The federation-placed optimiser's memory (`OptimizerPlacement.federation`): where the last stretch
    /// started, the rate its local steps ran at, and the optimiser's state.
    private var federationStep: (start: [Float], rate: Float, state: OptimizerState)?
    private let table: [Float]
    /// The parameters every node of a federation starts from (from `initSeed`).
    public let initialParameters: [Float]

    /// A session with its own engine. `trainIndices` and `validationIndices` index `cache`.
    public convenience init(cache: ImageCache, trainIndices: [Int], validationIndices: [Int],
                            configuration: FederatedTrainingConfiguration) throws {
        let engine = try Self.makeEngine(configuration: configuration, classes: cache.classes, inputSize: cache.size)
        try self.init(cache: cache, trainIndices: trainIndices, validationIndices: validationIndices,
                      configuration: configuration, engine: engine, initialParameters: engine.parameters, shared: false)
    }

    /// A session that borrows `engine` for computation (the simulator: many nodes, one engine). The
    /// engine's parameters and class weights are overwritten by every call; `initialParameters` must
    /// come from an engine built with the same configuration.
    package init(cache: ImageCache, trainIndices: [Int], validationIndices: [Int], configuration: FederatedTrainingConfiguration,
         engine: Model, initialParameters: [Float], shared: Bool = true) throws {
        guard !trainIndices.isEmpty else { throw ExperimentError("a training session needs at least one training image") }
        guard configuration.batchSize.map({ $0 > 0 }) ?? true, configuration.stepsPerRound > 0 else {
            throw ExperimentError("batch size and steps per round must be positive (got \(configuration.batchSize.map(String.init) ?? "one local epoch"), \(configuration.stepsPerRound))")
        }
        guard configuration.learningRate > 0, configuration.learningRate.isFinite else {
            throw ExperimentError("learning rate must be a positive number, got \(configuration.learningRate)")
        }
        for index in trainIndices + validationIndices where index < 0 || index >= cache.count {
            throw ExperimentError("image index \(index) is outside the image cache (\(cache.count) images)")
        }
        guard initialParameters.count == engine.parameterCount else {
            throw ExperimentError("initial parameters have \(initialParameters.count) values, the engine needs \(engine.parameterCount)")
        }
        self.configuration = configuration
        self.batchSize = configuration.batchSize
            ?? FederationDefaults.localEpochBatch(images: trainIndices.count, stepsPerRound: configuration.stepsPerRound)
        self.cache = cache
        self.trainIndices = trainIndices
        self.validationIndices = validationIndices
        self.engine = engine
        self.sharedEngine = shared
        self.initialParameters = initialParameters
        self.learningRate = configuration.learningRate
        self.table = configuration.normalization.lookupTable()

        guard configuration.logitAdjustment >= 0, configuration.logitAdjustment.isFinite,
              configuration.proximalStrength >= 0, configuration.proximalStrength.isFinite else {
            throw ExperimentError("logit adjustment and proximal strength must be non-negative numbers (got \(configuration.logitAdjustment), \(configuration.proximalStrength))")
        }
        var counts = [Int](repeating: 0, count: cache.classes.count)
        for index in trainIndices { counts[cache.samples[index].label] += 1 }
        classCounts = counts
        let offsets = configuration.logitAdjustment > 0 ? Self.logitOffsets(counts: counts, tau: configuration.logitAdjustment) : nil
        logitOffsets = offsets
        guard configuration.restrictedSoftmax > 0, configuration.restrictedSoftmax <= 1 else {
            throw ExperimentError("the restricted softmax factor must be in (0, 1], got \(configuration.restrictedSoftmax)")
        }
        logitScales = configuration.restrictedSoftmax < 1 && counts.contains(0)
            ? counts.map { $0 == 0 ? configuration.restrictedSoftmax : 1 } : nil
        if offsets != nil {
            classWeights = nil
            sampleOrder = trainIndices
        } else if configuration.classBalancing, var federationCounts = configuration.federationClassCounts {
            if federationCounts.isEmpty { federationCounts = counts }
            try Self.checkFederationCounts(federationCounts, own: counts, classes: cache.classes)
            let weights = Self.balancedWeights(counts: federationCounts, range: configuration.classWeightRange)
            classWeights = weights
            stepWeightCeiling = Self.heaviestWeight(weights, held: federationCounts)
            sampleOrder = trainIndices
        } else if configuration.classBalancing {
            // Oversample first, then weight by the counts of the oversampled stream: weighting by the
            // raw counts on top of oversampling would count the rare class's boost twice and tip the
            // model into calling everything rare.
            let order = Self.oversampled(trainIndices, cache: cache, counts: counts, maximumRepeat: ClassMasses.maximumRepeat)
            var streamCounts = [Int](repeating: 0, count: cache.classes.count)
            for index in order { streamCounts[cache.samples[index].label] += 1 }
            classWeights = Self.balancedWeights(counts: streamCounts, range: configuration.classWeightRange)
            sampleOrder = order
        } else {
            classWeights = nil
            sampleOrder = trainIndices
        }
    }

    static func checkFederationCounts(_ federationCounts: [Int], own counts: [Int], classes: [String]) throws {
        guard federationCounts.count == classes.count, federationCounts.allSatisfy({ $0 >= 0 }),
              zip(federationCounts, counts).allSatisfy({ $0 >= $1 }) else {
            throw ExperimentError("federation class counts \(federationCounts) do not fit this node's \(counts) for classes \(classes)",
                                  hint: "every class needs a count at least as large as the node's own")
        }
    }

    /// Weights the loss by new federation class counts (the node's own plus those its peers reported),
    /// from the next step on. Only a session built with the federation's counts (`federationClassCounts`
    /// set, class balancing on, no logit adjustment) changes; any other ignores the call and says so.
    /// - Returns: whether the weights changed.
    /// Whether the loss is weighted by the federation's counts (rather than the node's own, or not at all).
    public var usesFederationCounts: Bool {
        configuration.classBalancing && configuration.federationClassCounts != nil && logitOffsets == nil
    }

    /// Weights the loss by what the node learnt of its neighbours' class counts (each connected peer's counts,
    /// from its signed update), from the next step on, the way `balance` says:
    /// - `.federation`: the balanced weights of the node's own counts plus all of its neighbours'
    ///   (`useFederationClassCounts`);
    /// - `.adaptive`: the weights that balance the neighbourhood's effective class masses
    ///   (`ClassMasses.missingClassWeights`), on the assumption that every neighbour runs the same default:
    ///   those that hold every class balance their own mix, those that miss one take these same weights.
    /// Only a session that uses the federation's counts changes (`usesFederationCounts`).
    /// - Returns: whether the weights changed.
    @discardableResult
    public func useNeighbourClassCounts(_ neighbours: [[Int]], balance: ClassBalance) throws -> Bool {
        guard usesFederationCounts else { return false }
        let classes = engine.classes.count
        guard neighbours.allSatisfy({ $0.count == classes && $0.allSatisfy { $0 >= 0 } }) else {
            throw ExperimentError("neighbour class counts \(neighbours) do not fit the classes \(engine.classes)",
                                  hint: "every peer must report one count per class")
        }
        guard balance == .adaptive else {
            return try useFederationClassCounts(ClassMasses.pooled([classCounts] + neighbours, classes: classes))
        }
        let range = configuration.classWeightRange
        // A peer is taken to run the same balance: one that misses a class takes these weights too.
        let missing = [classCounts] + neighbours.filter { balance.usesFederationCounts(own: $0) }
        let balanced = neighbours.filter { !balance.usesFederationCounts(own: $0) }
        let weights = ClassMasses.missingClassWeights(missing: missing, selfBalanced: balanced, range: range)
        stepWeightCeiling = Self.heaviestWeight(weights, held: ClassMasses.pooled(missing, classes: classes))
        guard weights != classWeights else { return false }
        classWeights = weights
        return true
    }

    @discardableResult
    public func useFederationClassCounts(_ federationCounts: [Int]) throws -> Bool {
        guard usesFederationCounts else { return false }
        try Self.checkFederationCounts(federationCounts, own: classCounts, classes: engine.classes)
        let weights = Self.balancedWeights(counts: federationCounts, range: configuration.classWeightRange)
        stepWeightCeiling = Self.heaviestWeight(weights, held: federationCounts)
        guard weights != classWeights else { return false }
        classWeights = weights
        return true
    }

    package static func makeEngine(configuration: FederatedTrainingConfiguration, classes: [String], inputSize: Int) throws -> Model {
        let architecture = try Architecture(named: configuration.architecture)
        return try Model(architecture: architecture, classes: classes, inputSize: inputSize,
                         mean: configuration.normalization.mean, std: configuration.normalization.std,
                         seed: configuration.initSeed, threads: configuration.threads,
                         optimizer: configuration.optimizer,
                         learningRate: configuration.learningRate)
    }

    /// `n / (K * n_c)` per class, clipped; a class the node does not hold gets the top of the range
    /// (it never appears in a batch, so the value only matters for completeness).
    static func balancedWeights(counts: [Int], range: ClosedRange<Float>) -> [Float] {
        // Summed in floating point: a peer's reported counts can be as large as the wire allows.
        let total = counts.reduce(Float(0)) { $0 + Float($1) }
        let present = Float(max(counts.filter { $0 > 0 }.count, 1))
        return counts.map { count in
            guard count > 0 else { return range.upperBound }
            return min(max(total / (present * Float(count)), range.lowerBound), range.upperBound)
        }
    }

    /// `tau * log(prior_c)` of the node's label mix. A class the node lacks counts as half an image:
    /// its prior is small but finite, so its logit is shifted far down (about -6 for a node of 300
    /// images at `tau = 1`) and the node's steps barely move it, yet the loss stays finite.
    static func logitOffsets(counts: [Int], tau: Float) -> [Float] {
        let smoothed = counts.map { Double(max($0, 0)) + ($0 > 0 ? 0 : 0.5) }
        let total = smoothed.reduce(0, +)
        return smoothed.map { Float(Double(tau) * Foundation.log($0 / total)) }
    }

    /// Repeats the indices of rare classes (up to `maximumRepeat` times) towards the largest class.
    static func oversampled(_ indices: [Int], cache: ImageCache, counts: [Int], maximumRepeat: Int) -> [Int] {
        let repeats = ClassMasses.repeats(counts: counts, maximumRepeat: maximumRepeat)
        var out: [Int] = []
        for index in indices {
            for _ in 0..<repeats[cache.samples[index].label] { out.append(index) }
        }
        return out
    }

    public var parameterCount: Int { engine.parameterCount }
    /// Training images this node holds (before oversampling); the gossip averaging weight.
    public var trainingSampleCount: Int { trainIndices.count }
    public var classes: [String] { engine.classes }

    // MARK: - Training

    /// Runs `stepsPerRound` SGD steps from `parameters` and returns the new parameters. Batches come
    /// from a background-prefetched, augmented stream that runs over many epochs, so consecutive
    /// rounds continue the same shuffled pass over the data.
    ///
    /// `steps` (default: the configuration's `stepsPerRound`) lets a caller cut one round into several
    /// stretches with an averaging step between them (`simulate --exchanges-per-round`); the batch stays
    /// the one the configuration's round chose.
    public func trainRound(startingFrom averaged: [Float], steps requested: Int? = nil) -> LocalRoundOutcome {
        precondition(averaged.count == engine.parameterCount,
                     "trainRound: \(averaged.count) parameters for a model of \(engine.parameterCount)")
        let parameters = globalStart(averaged)
        let kind: OptimizerKind = switch configuration.optimizerPlacement {
        case .federation: .sgd(momentum: 0, weightDecay: 0)
        case .local: missesAClass ? configuration.missingClassOptimizer ?? configuration.optimizer : configuration.optimizer
        }
        let optimizer = optimizerState ?? OptimizerState(kind: kind, count: parameters.count)
        optimizerState = optimizer
        engine.classWeights = classWeights
        engine.trainingLogitOffsets = logitOffsets
        engine.trainingLogitScales = logitScales
        defer { engine.trainingLogitOffsets = nil; engine.trainingLogitScales = nil }
        var current = parameters
        var gradient = [Float](repeating: 0, count: parameters.count)
        // Per-step correction `beta * (D - d_i) / K`, rescaled to this round's learning rate: D is the
        // mean model's displacement since the last round began, d_i this node's own.
        let steps = max(requested ?? configuration.stepsPerRound, 1)
        var correction: [Float]? = nil
        if configuration.driftCorrection > 0, let last = lastRound, last.learningRate > 0 {
            let factor = configuration.driftCorrection * (learningRate / last.learningRate) / Float(steps)
            correction = (0..<parameters.count).map { k in factor * ((last.start[k] - parameters[k]) - last.ownDisplacement[k]) }
        }
        let mu = configuration.proximalStrength
        engine.parameters = current
        var totalLoss = 0.0, images = 0, correctedSteps = 0
        for _ in 0..<steps {
            guard var batch = nextBatch() else { break }
            if configuration.flipsLabels {
                let k = Int32(engine.classes.count)
                batch.labels = batch.labels.map { ($0 + 1) % k }
            }
            let (loss, gradients) = engine.lossAndGradients(inputs: batch.inputs, labels: batch.labels, count: batch.count)
            // The engine normalises a weighted loss by the batch's total weight (PyTorch's mean);
            // rescale to the plain mean of weighted losses so class weights change the gradient's size.
            var scale: Float = 1
            if let classWeights {
                var totalWeight: Float = 0
                for label in batch.labels.prefix(batch.count) { totalWeight += classWeights[Int(label)] }
                scale = totalWeight / Float(batch.count)
            }
            current.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeMutableBufferPointer { total in
                    gradients.withUnsafeBufferPointer { g in
                        parameters.withUnsafeBufferPointer { anchor in
                            for k in 0..<p.count { total[k] = scale * g[k] + mu * (p[k] - anchor[k]) }
                        }
                    }
                    var squared: Double = 0
                    for k in 0..<total.count { squared += Double(total[k]) * Double(total[k]) }
                    let norm = squared.squareRoot()
                    largestGradientNorm = max(largestGradientNorm, norm)
                    if let limit = configuration.gradientNormLimit, norm > Double(limit) {
                        let factor = Float(Double(limit) / norm)
                        for k in 0..<total.count { total[k] *= factor }
                        clippedSteps += 1
                    }
                    // SGD's step already carries `scale` through the gradient; Adam's cancels it (see
                    // `classWeightedStep`), so there it sizes the step.
                    var rate = learningRate
                    if configuration.classWeightedStep, case .adam = optimizer.kind, missesAClass, let ceiling = stepWeightCeiling, ceiling > 0 {
                        rate *= min(scale / ceiling, 1)
                    }
                    optimizer.apply(parameters: p.baseAddress!, gradients: UnsafePointer(total.baseAddress!), count: p.count,
                                    learningRate: rate)
                }
                if let correction { for k in 0..<p.count { p[k] -= correction[k] } }
            }
            correctedSteps += 1
            engine.parameters = current
            totalLoss += Double(loss * scale) * Double(batch.count)
            images += batch.count
        }
        // A round that ended in NaN or infinity (a diverged step) is thrown away with the optimiser's state and
        // hands back the model it was given (a zero change for the caller): the node never publishes a model its
        // peers would refuse.
        guard totalLoss.isFinite, current.allSatisfy(\.isFinite) else {
            discardedRounds += 1
            optimizerState = nil
            lastRound = nil
            return LocalRoundOutcome(parameters: averaged, meanLoss: .nan, images: images)
        }
        if configuration.driftCorrection > 0 {
            let applied = Float(correctedSteps)
            let own = (0..<parameters.count).map { k in parameters[k] - current[k] - applied * (correction?[k] ?? 0) }
            lastRound = (parameters, own, learningRate)
        }
        return LocalRoundOutcome(parameters: current, meanLoss: images > 0 ? totalLoss / Double(images) : 0, images: images)
    }

    /// Where this round starts: the averaged model, moved on by the federation's own step
    /// (`globalLearningRate`, `globalMomentum`) once there is a previous round to measure it from.
    func globalStart(_ averaged: [Float]) -> [Float] {
        if configuration.optimizerPlacement == .federation { return federationStart(averaged) }
        let rate = configuration.globalLearningRate, momentum = configuration.globalMomentum
        guard rate != 1 || momentum != 0 else { return averaged }
        guard let last = globalStep else {
            globalStep = (averaged, [Float](repeating: 0, count: averaged.count))
            return averaged
        }
        var velocity = last.velocity, start = last.start
        for k in 0..<averaged.count {
            velocity[k] = momentum * velocity[k] + rate * (averaged[k] - last.start[k])
            start[k] += velocity[k]
        }
        globalStep = (start, velocity)
        return start
    }

    /// `OptimizerPlacement.federation`: the optimiser's step from the averaged model, with the gradient its move
    /// implies (`(last start - averaged) / rate`, the neighbourhood's summed local gradients). The first call only
    /// remembers its start.
    ///
    /// Why from the averaged model and not from the last start (FedOpt's server step): the average is where gossip
    /// pulled this node towards its neighbours. Stepping from the last start throws that pull away and leaves the
    /// optimiser's capped step as the only force towards agreement; wherever the average is not exact (the clipped
    /// rule, trust weights, a real network's late states) the nodes then drift apart. On Aria with one class per
    /// node under the clipped rule, stepping from the last start swung between calling every cell one class and the
    /// other and ended at 0.845 / specificity 0 / AUC 0.821; stepping from the average gave 0.972 / 0.970 / 0.996
    /// (docs/results.md).
    func federationStart(_ averaged: [Float]) -> [Float] {
        guard let last = federationStep, last.rate > 0, last.start.count == averaged.count else {
            federationStep = (averaged, learningRate, federationStep?.state ?? OptimizerState(kind: configuration.optimizer, count: averaged.count))
            return averaged
        }
        var gradient = [Float](repeating: 0, count: averaged.count)
        for k in 0..<averaged.count { gradient[k] = (last.start[k] - averaged[k]) / last.rate }
        guard gradient.allSatisfy(\.isFinite) else {
            // Never feed a non-finite move into the moments: start over from the model in hand.
            federationStep = (averaged, learningRate, OptimizerState(kind: configuration.optimizer, count: averaged.count))
            return averaged
        }
        var start = averaged
        start.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                last.state.apply(parameters: p.baseAddress!, gradients: g.baseAddress!, count: p.count, learningRate: learningRate)
            }
        }
        federationStep = (start, learningRate, last.state)
        return start
    }

    /// Clears the optimiser state (a node that adopts a very different model may want a cold start).
    public func resetMomentum() { optimizerState = nil; lastRound = nil; globalStep = nil; federationStep = nil }

    private func nextBatch() -> Batch? {
        for _ in 0..<2 {
            if stream == nil {
                let configuration = BatchStream.Configuration(
                    batchSize: batchSize, epochs: 1_000_000, shuffle: true,
                    augmentation: self.configuration.augment ? .standard : nil,
                    seed: self.configuration.dataSeed &+ streamGeneration &* 0x2545_F491_4F6C_DD1D, prefetch: 2)
                stream = BatchStream(cache: cache, indices: sampleOrder, normalization: self.configuration.normalization,
                                     configuration: configuration)
            }
            if let batch = stream?.next() { return batch }
            stream = nil
            streamGeneration += 1
        }
        return nil
    }

    // MARK: - Evaluation

    /// The class whose probability is the screening score: `all` when present, else the second class.
    var positiveClass: Int { engine.classes.firstIndex(of: "all") ?? 1 }

    /// Metrics of `parameters` on `cache[indices]` (positive class `all`), the mean cross-entropy
    /// (unweighted) and every image's score. With `measureLatency`, up to 100 images are also
    /// diagnosed one at a time (normalisation + forward pass from the decoded image in memory) for
    /// the response-time percentiles.
    public func evaluate(parameters: [Float], cache: ImageCache, indices: [Int], measureLatency: Bool = false)
        -> (metrics: EvaluationMetrics, loss: Double, scores: [ScoredSample]) {
        let (probabilities, labels) = predict(parameters: parameters, cache: cache, indices: indices)
        let k = engine.classes.count, positive = positiveClass
        var loss = 0.0
        var scores: [ScoredSample] = []
        scores.reserveCapacity(labels.count)
        for (i, label) in labels.enumerated() {
            // A model whose weights overflowed (an attacker's, in `simulate --byzantine`) gives NaN: its
            // probabilities carry no information, so they count as a coin flip (and as the worst loss), which
            // keeps every figure a number a report can write.
            let own = Double(probabilities[i * k + label]), score = Double(probabilities[i * k + positive])
            loss -= Foundation.log(own.isFinite ? max(own, 1e-12) : 1e-12)
            scores.append(ScoredSample(label: label == positive ? 1 : 0, score: score.isFinite ? score : 0.5))
        }
        var times: [Double] = []
        if measureLatency {
            let plane = 3 * cache.size * cache.size
            var input = [Float](repeating: 0, count: plane)
            for index in indices.prefix(100) {
                let start = monotonicNanoseconds()
                input.withUnsafeMutableBufferPointer { out in
                    configuration.normalization.writeCHW(cache.images[index], into: out.baseAddress!, table: table)
                }
                _ = engine.predictProbabilities(input)
                times.append(Double(monotonicNanoseconds() - start) / 1e6)
            }
        }
        let negativeName = k == 2 ? engine.classes[1 - positive] : "not-\(engine.classes[positive])"
        let metrics: EvaluationMetrics
        do {
            metrics = try MetricsComputation.evaluate(
                labels: scores.map(\.label), scores: scores.map(\.score), responseTimesMs: times,
                classNames: [negativeName, engine.classes[positive]])
        } catch {
            // Labels are 0/1 by construction; only a NaN score (a diverged model) lands here.
            metrics = EvaluationMetrics(accuracy: 0, precision: 0, recall: 0, detectionRate: 0, specificity: 0, f1: 0, auc: nil,
                                        confusion: ConfusionMatrix(labels: [negativeName, engine.classes[positive]], matrix: [[0, 0], [0, 0]]),
                                        responseTimeMs: nil, n: 0)
        }
        return (metrics, labels.isEmpty ? 0 : loss / Double(labels.count), scores)
    }

    /// Accuracy (argmax over all classes) and mean cross-entropy on this session's validation
    /// images; `(nan, nan)` when the session has none.
    public func validate(parameters: [Float]) -> (accuracy: Double, loss: Double) {
        guard !validationIndices.isEmpty else { return (.nan, .nan) }
        return accuracyAndLoss(parameters: parameters, cache: cache, indices: validationIndices)
    }

    /// Accuracy (argmax) and mean cross-entropy of `parameters` on `cache[indices]`.
    package func accuracyAndLoss(parameters: [Float], cache: ImageCache, indices: [Int]) -> (accuracy: Double, loss: Double) {
        let (probabilities, labels) = predict(parameters: parameters, cache: cache, indices: indices)
        guard !labels.isEmpty else { return (.nan, .nan) }
        let k = engine.classes.count
        var correct = 0, loss = 0.0
        for (i, label) in labels.enumerated() {
            var best = 0
            for c in 1..<k where probabilities[i * k + c] > probabilities[i * k + best] { best = c }
            if best == label { correct += 1 }
            loss -= Foundation.log(max(Double(probabilities[i * k + label]), 1e-12))
        }
        return (Double(correct) / Double(labels.count), loss / Double(labels.count))
    }

    /// Class probabilities (n x classes) and true labels, in batches of 128.
    private func predict(parameters: [Float], cache: ImageCache, indices: [Int]) -> (probabilities: [Float], labels: [Int]) {
        precondition(cache.size == engine.inputSize, "evaluate: cache images are \(cache.size) px, the model reads \(engine.inputSize) px")
        engine.parameters = parameters
        let plane = 3 * cache.size * cache.size
        var probabilities: [Float] = []
        probabilities.reserveCapacity(indices.count * engine.classes.count)
        var start = 0
        var input: [Float] = []
        while start < indices.count {
            let members = indices[start..<min(start + 128, indices.count)]
            input = [Float](repeating: 0, count: members.count * plane)
            input.withUnsafeMutableBufferPointer { out in
                for (slot, index) in members.enumerated() {
                    configuration.normalization.writeCHW(cache.images[index], into: out.baseAddress! + slot * plane, table: table)
                }
            }
            probabilities += engine.predictProbabilities(input)
            start += members.count
        }
        return (probabilities, indices.map { cache.samples[$0].label })
    }

    /// A standalone model holding `parameters`, with this session's classes, input size and
    /// normalisation, ready to save as safetensors (`ModelFile`) or to diagnose with.
    public func makeModel(parameters: [Float]) -> Model {
        // The configuration was validated when the engine was built, so this cannot fail.
        let model = try! Self.makeEngine(configuration: configuration, classes: engine.classes, inputSize: engine.inputSize)
        model.parameters = parameters
        return model
    }
}

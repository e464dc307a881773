public import LeukReport
public import LeukMetrics
public import LeukTraining
public import LeukGossip
import LeukData
public import LeukModel
import LeukCore
import Foundation

/// Everything `leuknode simulate` needs to run one experiment. Same request, same result (apart
/// from wall time, memory and response times).
public struct SimulationRequest: Sendable, Equatable {
    public var nodes: Int
    public var rounds: Int
    public var source: SimulationDataSource
    public var partition: PartitionScheme
    public var topology: GossipTopology
    public var seed: UInt64
    /// Local SGD steps per node per round; centralized training gets `nodes * stepsPerRound` per round.
    public var stepsPerRound: Int
    public var threads: Int
    /// Image side in pixels (the architecture needs it divisible by 8 or 16).
    public var size: Int
    /// Images per step; nil = one local epoch per round (`FederatedTrainingConfiguration.batchSize`).
    public var batchSize: Int?
    public var learningRate: Float
    public var architecture: String
    /// Gossip exchanges between two training rounds (1 = one averaging step per round).
    public var gossipStepsPerRound: Int
    /// Averaging steps inside one round: the round's `stepsPerRound` local steps (one local epoch by default)
    /// are cut into this many stretches, each followed by a gossip exchange, with the batch unchanged.
    public var exchangesPerRound = 1
    /// Test images used for the per-round accuracy curve (the final metrics use the whole test set).
    public var roundEvaluationImages: Int
    /// Also train and track the local-only baseline and the centralized reference.
    public var baselines: Bool
    /// Whose class counts the federated nodes balance their loss with (local-only models always
    /// balance with their own).
    public var classBalance: ClassBalance
    /// Strength of the logit-adjusted local loss (`FederatedTrainingConfiguration.logitAdjustment`;
    /// 0 = class-balanced loss as selected by `classBalance`).
    public var logitAdjustment: Float
    /// FedProx proximal strength (`FederatedTrainingConfiguration.proximalStrength`; 0 = off).
    public var proximalStrength: Float
    /// A fixed external test set (`--test-dataset`): all of the `.dataset` folder goes to the nodes.
    public var testDataset: String?
    /// The local optimiser of every node and of both baselines.
    public var optimizer: OptimizerKind
    /// Random flips, rotations and colour jitter on every training batch (nodes and baselines).
    public var augment: Bool
    /// Drift-correction strength of the federated nodes (`FederatedTrainingConfiguration.driftCorrection`).
    public var driftCorrection: Float
    /// The federation's step on the averaged model (`FederatedTrainingConfiguration.globalLearningRate`, `.globalMomentum`).
    public var globalLearningRate: Float
    public var globalMomentum: Float
    /// Attackers among the nodes (`--byzantine`), chosen by the seed, and what they do (`--attack`).
    public var byzantine = 0
    public var attack = ByzantineAttack.signFlip
    /// How every node mixes its neighbours (`--aggregation`).
    public var aggregation = AggregationRule.defaultRule
    /// Under `.clipped`, the radius quantile instead of the rule's own (`--clip-quantile`, for experiments).
    public var clipQuantile: Double?
    /// With `.clipped`: the multiple of the own step below which the radius never falls (`clipStepFloor`).
    public var clipStepFloor: Double?
    /// With `.clipped`: the multiple of the radius a neighbour that misses a class is clipped to
    /// (`GossipConfiguration.missingClassRadiusFactor`); nil for the default, 1.
    public var clipMissingClassFactor: Double?
    /// Under a robust rule: the multiple of the honest scale beyond which a neighbour counts an outlier
    /// (`ScoringParameters.outlierFactor`); nil for the default, 4. Infinity takes no relative distance as evidence (a neighbour that
    /// misses a class still counts beyond the own norm, `ScoringParameters.missingClassDistanceLimit`).
    public var outlierFactor: Double?
    /// Under a robust rule: distinct recent states remembered per peer (`GossipConfiguration.recentStateMemory`); nil for the
    /// default, 256; 0 turns the replayed-state check off.
    public var recentStateMemory: Int?
    /// Under a robust rule: keep judging benched peers (`GossipConfiguration.judgesBenchedPeers`), an experiment.
    public var judgeBenched = false
    /// Neighbour differences dropped from each end per parameter by `.trimmedMean` (`--trim`).
    public var trim = 1
    /// FedRS's factor for the logits of classes a node lacks (`--restricted-softmax`; 1 = off).
    public var restrictedSoftmax: Float = 1
    /// Whether a batch's class weights size Adam's step (`FederatedTrainingConfiguration.classWeightedStep`;
    /// `--no-class-weighted-step` turns it off for the ablation).
    public var classWeightedStep = true
    /// The optimiser of nodes that miss a class (`FederatedTrainingConfiguration.missingClassOptimizer`; nil: the same).
    public var missingClassOptimizer: OptimizerKind?
    /// Where the optimiser steps (`FederatedTrainingConfiguration.optimizerPlacement`, `--optimizer-placement`); nil:
    /// the optimiser's own default (`placement`).
    public var optimizerPlacement: OptimizerPlacement?
    /// The placement in force: `optimizerPlacement`, else `FederationDefaults.optimizerPlacement(for: optimizer)`.
    public var placement: OptimizerPlacement { optimizerPlacement ?? FederationDefaults.optimizerPlacement(for: optimizer) }
    /// The promotion gate (`--gate`): each node holds out 15% of its images as its validation split,
    /// and each honest node serves a merged model only when it passes these floors there, as
    /// `leuknode start` does. Nil: no gate, every image trains.
    public var gate: PromotionFloors?

    public init(nodes: Int, rounds: Int, source: SimulationDataSource, partition: PartitionScheme,
                topology: GossipTopology, seed: UInt64 = 0, stepsPerRound: Int = 10, threads: Int = 1, size: Int = 64,
                batchSize: Int? = FederationDefaults.batchSize, learningRate: Float? = nil, architecture: String = "leuknet-s",
                gossipStepsPerRound: Int = 1, roundEvaluationImages: Int = 256, baselines: Bool = true,
                classBalance: ClassBalance = FederationDefaults.classBalance, logitAdjustment: Float = 0, proximalStrength: Float = 0,
                testDataset: String? = nil, optimizer: OptimizerKind = FederationDefaults.optimizer,
                driftCorrection: Float = FederationDefaults.driftCorrection,
                globalLearningRate: Float = FederationDefaults.globalLearningRate, globalMomentum: Float = FederationDefaults.globalMomentum,
                augment: Bool = true) {
        self.optimizer = optimizer; self.driftCorrection = driftCorrection; self.augment = augment
        self.globalLearningRate = globalLearningRate; self.globalMomentum = globalMomentum
        self.logitAdjustment = logitAdjustment; self.proximalStrength = proximalStrength; self.testDataset = testDataset
        self.nodes = nodes; self.rounds = rounds; self.source = source; self.partition = partition
        self.topology = topology; self.seed = seed; self.stepsPerRound = stepsPerRound; self.threads = threads
        self.size = size; self.batchSize = batchSize; self.learningRate = learningRate ?? FederationDefaults.learningRate(for: optimizer)
        self.architecture = architecture
        self.gossipStepsPerRound = gossipStepsPerRound; self.roundEvaluationImages = roundEvaluationImages
        self.baselines = baselines; self.classBalance = classBalance
    }

    /// The default topology for `nodes`: everyone with everyone up to 8 nodes, else a random
    /// 4-regular graph (full mesh on 32+ nodes would keep 31 neighbour states per node in memory).
    public static func defaultTopology(nodes: Int) -> GossipTopology {
        nodes <= 8 ? .full : .randomRegular(degree: 4)
    }

    func validated() throws -> SimulationRequest {
        guard nodes >= 2 else { throw ExperimentError("a federation needs at least 2 nodes, got \(nodes)") }
        guard rounds >= 1 else { throw ExperimentError("need at least 1 round, got \(rounds)") }
        guard exchangesPerRound >= 1, exchangesPerRound <= stepsPerRound else {
            throw ExperimentError("exchanges per round must be from 1 to the steps per round (\(stepsPerRound)), got \(exchangesPerRound)")
        }
        guard stepsPerRound >= 1, batchSize.map({ $0 >= 1 }) ?? true, threads >= 1, gossipStepsPerRound >= 1 else {
            throw ExperimentError("steps per round, batch size, threads and gossip steps must be at least 1")
        }
        let architecture = try Architecture(named: architecture)
        guard size >= architecture.inputSizeDivisor, size % architecture.inputSizeDivisor == 0 else {
            throw ExperimentError("\(architecture.rawValue) needs an image size divisible by \(architecture.inputSizeDivisor), got \(size)")
        }
        if let problem = topology.problem(nodeCount: nodes) { throw ExperimentError(problem, hint: "choose another --nodes or --topology") }
        guard globalLearningRate > 0, globalLearningRate <= 10, globalMomentum >= 0, globalMomentum < 1 else {
            throw ExperimentError("the global learning rate must be in (0, 10] and the global momentum in [0, 1)")
        }
        guard placement == .local || (globalLearningRate == 1 && globalMomentum == 0 && driftCorrection == 0) else {
            throw ExperimentError("the federation-placed optimiser already steps on the averaged model: leave the global rate, global momentum and drift correction at their defaults")
        }
        guard trim >= 0, trim < nodes else { throw ExperimentError("--trim must be from 0 to \(nodes - 1), got \(trim)") }
        guard byzantine >= 0, byzantine < nodes else {
            throw ExperimentError("--byzantine must be from 0 to \(nodes - 1) (at least one node must be honest), got \(byzantine)")
        }
        guard driftCorrection >= 0, driftCorrection <= 1 else { throw ExperimentError("drift correction must be between 0 and 1, got \(driftCorrection)") }
        guard logitAdjustment >= 0, logitAdjustment.isFinite, proximalStrength >= 0, proximalStrength.isFinite else {
            throw ExperimentError("logit adjustment and proximal strength must be non-negative numbers")
        }
        if testDataset != nil, case .synthetic = source {
            throw ExperimentError("--test-dataset needs --dataset", hint: "synthetic runs render their own test set")
        }
        if case let .dirichlet(alpha) = partition, !(alpha > 0 && alpha.isFinite) {
            throw ExperimentError("--dirichlet must be a positive number, got \(alpha)")
        }
        return self
    }
}

/// Runs a federation of `nodes` in one process: the real training engine for every node (through
/// `FederatedTrainingSession`), the real gossip core over the simulated transport
/// (`GossipSimulator`), and, with the same engine and the same number of SGD steps, the two
/// baselines: each node alone (local-only) and one model on the pooled data (centralized).
///
/// Memory stays small per node: one `ImageCache` is shared by everyone, and a single `Model` serves
/// as the compute engine of every session; a node costs its parameter vector in the gossip core
/// (plus one state per neighbour), its momentum, its local-only parameters and two prefetched batches.
public enum SimulationRunner {
    public static func run(_ request: SimulationRequest, progress: (String) -> Void = { _ in }) throws -> SimulationResult {
        let request = try request.validated()
        let started = monotonicNanoseconds()
        let data = try FederationDataBuilder.build(source: request.source, partition: request.partition, nodes: request.nodes,
                                                   size: request.size, seed: request.seed, threads: 2,
                                                   testDirectory: request.testDataset, progress: progress)
        progress(data.description)

        let base = FederatedTrainingConfiguration(
            architecture: request.architecture, initSeed: request.seed, dataSeed: 0, threads: request.threads,
            batchSize: request.batchSize, stepsPerRound: request.stepsPerRound, learningRate: request.learningRate,
            optimizer: request.optimizer, augment: request.augment)
        var federated = base
        federated.logitAdjustment = request.logitAdjustment
        federated.proximalStrength = request.proximalStrength
        federated.driftCorrection = request.driftCorrection
        federated.globalLearningRate = request.globalLearningRate
        federated.globalMomentum = request.globalMomentum
        federated.restrictedSoftmax = request.restrictedSoftmax
        federated.classWeightedStep = request.classWeightedStep
        federated.missingClassOptimizer = request.missingClassOptimizer
        federated.optimizerPlacement = request.placement
        let engine = try FederatedTrainingSession.makeEngine(configuration: base, classes: data.cache.classes, inputSize: data.cache.size)
        let initial = engine.parameters
        // What the nodes would learn by sharing their class counts: the pooled training counts.
        var pooledCounts = [Int](repeating: 0, count: data.cache.classes.count)
        for index in data.nodeTrainIndices.joined() { pooledCounts[data.cache.samples[index].label] += 1 }
        func session(_ indices: [Int], dataSeed: UInt64, steps: Int, classCounts: [Int]? = nil,
                     from template: FederatedTrainingConfiguration? = nil, batch: Int?? = nil) throws -> FederatedTrainingSession {
            var configuration = template ?? base
            configuration.dataSeed = dataSeed
            configuration.stepsPerRound = steps
            if let batch { configuration.batchSize = batch }
            configuration.federationClassCounts = classCounts
            if request.classBalance == .off { configuration.classBalancing = false }
            return try FederatedTrainingSession(cache: data.cache, trainIndices: indices, validationIndices: [],
                                                configuration: configuration, engine: engine, initialParameters: initial)
        }
        let attackers = AttackingTrainer.chooseAttackers(count: request.byzantine, nodes: request.nodes, seed: request.seed)
        let honestNodes = (0..<request.nodes).filter { !attackers.contains($0) }
        var flipped = federated
        flipped.flipsLabels = true
        // With the gate, each node's validation split (15%, at least one image), as the node makes it.
        var gateValidation: [[Int]] = Array(repeating: [], count: request.nodes)
        var nodeTrainIndices = data.nodeTrainIndices
        if request.gate != nil {
            for node in 0..<request.nodes {
                var shuffled = nodeTrainIndices[node]
                var splitter = SeededGenerator(seed: request.seed &+ 7_000 &+ UInt64(node))
                shuffled.shuffle(using: &splitter)
                let held = shuffled.count > 1 ? max(1, Int((Double(shuffled.count) * 0.15).rounded())) : 0
                gateValidation[node] = Array(shuffled.prefix(held))
                nodeTrainIndices[node] = Array(shuffled.dropFirst(held))
            }
        }
        func counts(of indices: [Int]) -> [Int] {
            var counts = [Int](repeating: 0, count: data.cache.classes.count)
            for index in indices { counts[data.cache.samples[index].label] += 1 }
            return counts
        }
        let federatedSessions = try nodeTrainIndices.enumerated().map { node, indices in
            try session(indices, dataSeed: request.seed &+ 1000 &+ UInt64(node), steps: request.stepsPerRound,
                        classCounts: request.classBalance.usesFederationCounts(own: counts(of: indices)) ? pooledCounts : nil,
                        from: request.attack == .labelFlip && attackers.contains(node) ? flipped : federated)
        }
        let localSessions = request.baselines ? try nodeTrainIndices.enumerated().map { node, indices in
            try session(indices, dataSeed: request.seed &+ 1000 &+ UInt64(node), steps: request.stepsPerRound)
        } : []
        let evaluator = federatedSessions[0]

        var rng = SeededGenerator(seed: request.seed ^ 0xE7A1)
        var roundSubset = data.testIndices
        roundSubset.shuffle(using: &rng)
        roundSubset = Array(roundSubset.prefix(max(1, request.roundEvaluationImages)))

        var gossip = GossipConfiguration(gossipInterval: .seconds(1), tickJitter: 0, stateTimeToLive: .seconds(3))
        gossip.clipping = request.aggregation.clipping(trim: request.trim)
        if request.aggregation == .clipped, let q = request.clipQuantile { gossip.clipping = .adaptive(quantile: q) }
        if request.aggregation == .clipped, let f = request.clipStepFloor { gossip.clipStepFloor = f }
        if request.aggregation == .clipped, let f = request.clipMissingClassFactor { gossip.missingClassRadiusFactor = f }
        if let f = request.outlierFactor { gossip.scoring.outlierFactor = f }
        if let n = request.recentStateMemory { gossip.recentStateMemory = max(n, 0) }
        gossip.judgesBenchedPeers = request.judgeBenched
        var simulator = try GossipSimulator(
            setup: SimulationSetup(topology: request.topology, gossip: gossip, network: NetworkConditions(), seed: request.seed),
            initialParameters: Array(repeating: initial, count: request.nodes),
            sampleCounts: federatedSessions.map(\.trainingSampleCount),
            missesAClass: federatedSessions.map { $0.classCounts.contains(0) })
        if request.classBalance == .federation || request.classBalance == .adaptive {
            // What each node learns from the signed updates it receives: its neighbours' class counts, as a running
            // node does. (A session balancing its own mix ignores them.)
            for (node, session) in federatedSessions.enumerated() {
                try session.useNeighbourClassCounts(simulator.adjacency[node].map { federatedSessions[$0].classCounts },
                                                    balance: request.classBalance)
            }
        }
        var trainer = AttackingTrainer(inner: SessionTrainer(sessions: federatedSessions), attackers: Set(attackers),
                                       attack: request.attack, nodes: request.nodes, seed: request.seed)
        var localParameters = Array(repeating: initial, count: localSessions.count)
        var rounds: [RoundRecord] = []
        var bytes = 0.0
        let gate = request.gate.map(PromotionGate.init(floors:))
        var served: [(parameters: [Float], figures: ValidationFigures?)?] = Array(repeating: nil, count: request.nodes)
        var gateCounts = (promoted: 0, held: 0, followed: 0)

        /// A model's figures on a node's validation split, as the node's trainer computes them.
        func validationFigures(_ parameters: [Float], indices: [Int]) -> ValidationFigures {
            let result = evaluator.evaluate(parameters: parameters, cache: data.cache, indices: indices)
            return ValidationFigures(confusion: result.metrics.confusion,
                                     positiveClass: EvaluationMetrics.positiveClassIndex(result.metrics.confusion.labels),
                                     loss: result.loss)
        }

        if !attackers.isEmpty {
            progress("attackers (\(request.attack.rawValue)): nodes \(attackers.map(String.init).joined(separator: ", ")); aggregation \(request.aggregation.rawValue)")
        }
        progress("training \(request.nodes) nodes for \(request.rounds) rounds of \(request.stepsPerRound) steps, batches \(federatedSessions.map { String($0.batchSize) }.joined(separator: "/")) (topology \(request.topology), \(initial.count) parameters, class balance: \(federatedSessions.map { $0.usesFederationCounts ? "neighbourhood" : "own" }.joined(separator: "/")), pooled counts \(pooledCounts); \(request.exchangesPerRound) exchanges a round)")
        for round in 1...request.rounds {
            let rate = request.learningRate * scheduleFactor(round: round, of: request.rounds)
            let stretches = request.exchangesPerRound
            func stretch(_ stretch: Int) -> SimulationRoundStatistics {
                // The schedule runs on per stretch, so a round cut in E ends where the uncut round ends.
                let stretchRate = stretches == 1 ? rate
                    : request.learningRate * scheduleFactor(round: (round - 1) * stretches + stretch + 1, of: request.rounds * stretches)
                for s in federatedSessions { s.learningRate = stretchRate }
                trainer.inner.steps = stretches == 1 ? nil
                    : (request.stepsPerRound * (stretch + 1)) / stretches - (request.stepsPerRound * stretch) / stretches
                if !attackers.isEmpty { trainer.honestStates = honestNodes.map { simulator.parameters(of: $0) ?? initial } }
                let statistics = simulator.runRound(trainer: &trainer)
                bytes += statistics.bytesSentPerNode
                return statistics
            }
            for index in 0..<(stretches - 1) { _ = stretch(index) }
            var statistics = stretch(stretches - 1)
            for _ in 1..<request.gossipStepsPerRound {
                statistics = simulator.runRound()
                bytes += statistics.bytesSentPerNode
            }
            if !gateValidation.allSatisfy(\.isEmpty), round % GossipInstance.peerEvaluationEvery == 0 {
                // Each honest node scores its neighbours' models on its validation split, as a node does
                // every round; only a split holding a few images of both classes takes part (as in the node).
                let minimum = GossipInstance.peerEvaluationMinimumPerClass
                for node in honestNodes where !gateValidation[node].isEmpty {
                    simulator.evaluatePeers(of: node) { parameters in
                        let figures = validationFigures(parameters, indices: gateValidation[node])
                        return figures.positives >= minimum && figures.negatives >= minimum ? figures.loss : nil
                    }
                }
            }
            for (node, local) in localSessions.enumerated() {
                local.learningRate = rate
                localParameters[node] = local.trainRound(startingFrom: localParameters[node]).parameters
            }
            let federatedAccuracy = (0..<request.nodes).map { node in
                evaluator.accuracyAndLoss(parameters: simulator.parameters(of: node) ?? initial, cache: data.cache,
                                          indices: roundSubset).accuracy
            }
            let localAccuracy = localParameters.map {
                evaluator.accuracyAndLoss(parameters: $0, cache: data.cache, indices: roundSubset).accuracy
            }
            var record = RoundRecord(
                round: round, consensusDistance: statistics.consensusDistance, meanAccuracy: mean(federatedAccuracy),
                localOnlyAccuracy: localAccuracy.isEmpty ? nil : mean(localAccuracy),
                minAccuracy: federatedAccuracy.min(), maxAccuracy: federatedAccuracy.max())
            // Honest nodes that distrust each other (by < 1), as "judge>peer trust", for the progress line.
            var distrusted: [String] = []
            if request.aggregation != .mean {
                let pairs = honestNodes.flatMap { node in
                    honestNodes.filter { $0 != node && simulator.adjacency[node].contains($0) }.map { peer in
                        (node, peer, simulator.instance(of: node)?.trust(in: simulator.nodeIDs[peer], now: simulator.now) ?? 1)
                    }
                }
                record.honestMinTrust = pairs.map(\.2).min()
                distrusted = pairs.filter { $0.2 < 1 }.map { String(format: "%d>%d %.2f", $0.0, $0.1, $0.2) }
            }
            if !attackers.isEmpty {
                record.honestMeanAccuracy = mean(honestNodes.map { federatedAccuracy[$0] })
                if request.aggregation != .mean {
                    record.attackerTrust = mean(honestNodes.flatMap { node in
                        attackers.map { simulator.instance(of: node)?.trust(in: simulator.nodeIDs[$0], now: simulator.now) ?? 1 }
                    })
                }
            }
            if let gate {
                // Each honest node judges its merged model on its own validation split, as a node does
                // before each training round, and serves it at once when it passes.
                var servedAccuracy: [Double] = []
                for node in honestNodes {
                    let candidate = simulator.parameters(of: node) ?? initial
                    let indices = gateValidation[node]
                    let figures = indices.isEmpty ? nil : validationFigures(candidate, indices: indices)
                    let verdict = gate.judge(candidate: figures, served: served[node] == nil ? nil : served[node]?.figures, pinned: false,
                                             finite: candidate.allSatisfy(\.isFinite))
                    switch verdict.outcome {
                    case .promoted: gateCounts.promoted += 1
                    case .held: gateCounts.held += 1
                    case .followed: gateCounts.followed += 1
                    }
                    if verdict.serves { served[node] = (candidate, figures) }
                    if let model = served[node] {
                        servedAccuracy.append(model.parameters == candidate ? federatedAccuracy[node]
                            : evaluator.accuracyAndLoss(parameters: model.parameters, cache: data.cache, indices: roundSubset).accuracy)
                    }
                }
                record.servedNodes = servedAccuracy.count
                record.servedMeanAccuracy = servedAccuracy.isEmpty ? nil : mean(servedAccuracy)
                record.servedMinAccuracy = servedAccuracy.min()
            }
            rounds.append(record)
            let elapsed = Double(monotonicNanoseconds() - started) / 1e9
            let servedText = record.servedNodes.map { n in
                "  served \(n)/\(honestNodes.count)" + (record.servedMeanAccuracy.map { String(format: " acc %.3f (min %.3f)", $0, record.servedMinAccuracy ?? 0) } ?? "")
            } ?? ""
            progress(String(format: "round %d/%d  consensus %.3e  federated acc %.3f [%.3f-%.3f]%@%@  local-only acc %@  loss %.3f  lr %.4f  %.0f s",
                            round, request.rounds, statistics.consensusDistance, record.meanAccuracy, record.minAccuracy ?? 0,
                            record.maxAccuracy ?? 0, record.honestMeanAccuracy.map { String(format: "  honest %.3f", $0) } ?? "",
                            servedText + (record.attackerTrust.map { String(format: "  attacker trust %.2f", $0) } ?? "")
                                + (distrusted.isEmpty ? "" : "  honest trust " + distrusted.prefix(8).joined(separator: ", ")
                                   + (distrusted.count > 8 ? " (\(distrusted.count) pairs)" : "")),
                            record.localOnlyAccuracy.map { String(format: "%.3f", $0) } ?? "-",
                            trainer.lastMeanLoss, rate, elapsed))
        }

        progress("largest gradient norm per node \(federatedSessions.map { String(format: "%.0f", $0.largestGradientNorm) }.joined(separator: "/")); steps scaled to the limit \(federatedSessions.map { String($0.clippedSteps) }.joined(separator: "/")); diverged stretches discarded \(federatedSessions.map { String($0.discardedRounds) }.joined(separator: "/"))")
        progress("evaluating on \(data.testIndices.count) test images...")
        var scores: [ScoredSample] = []
        var federatedMetrics: [EvaluationMetrics] = []
        for node in 0..<request.nodes {
            let result = evaluator.evaluate(parameters: simulator.parameters(of: node) ?? initial, cache: data.cache,
                                            indices: data.testIndices, measureLatency: true)
            federatedMetrics.append(result.metrics)
            // The ROC is the federated model's: an attacker's own model is not one.
            if attackers.contains(node) { continue }
            scores += result.scores.map { ScoredSample(label: $0.label, score: ($0.score * 10_000).rounded() / 10_000) }
        }
        let localMetrics = localParameters.map {
            evaluator.evaluate(parameters: $0, cache: data.cache, indices: data.testIndices, measureLatency: true).metrics
        }

        var centralizedMetrics = federatedMetrics[0]
        var centralizedBudget: (batch: Int, steps: Int)?
        if request.baselines {
            let pooled = data.nodeTrainIndices.flatMap { $0 }
            let reference = Baselines.centralized(batch: request.batchSize, nodes: request.nodes, stepsPerRound: request.stepsPerRound,
                                                  pooledImages: pooled.count)
            progress("centralized reference: \(request.rounds) x \(reference.steps) steps of \(reference.batch) on the pooled data...")
            centralizedBudget = reference
            let central = try session(pooled, dataSeed: request.seed &+ 999, steps: reference.steps, batch: .some(reference.batch))
            let parameters = Baselines.train(central, from: initial, rounds: request.rounds, learningRate: request.learningRate)
            centralizedMetrics = central.evaluate(parameters: parameters, cache: data.cache, indices: data.testIndices,
                                                  measureLatency: true).metrics
        }

        guard let federated = NodeMetricsGroup(perNode: federatedMetrics) else {
            throw ExperimentError("the nodes' federated metrics could not be averaged")
        }
        let localOnly = NodeMetricsGroup(perNode: localMetrics) ?? federated
        let honest = attackers.isEmpty ? nil : NodeMetricsGroup(perNode: honestNodes.map { federatedMetrics[$0] })
        let wall = Double(monotonicNanoseconds() - started) / 1e9
        let dirichlet: Double? = if case let .dirichlet(alpha) = request.partition { alpha } else { nil }
        let datasetName: String = switch request.source {
        case .synthetic: "synthetic"
        case let .dataset(directory, _): directory
        }
        var config = SimulationConfig(
            nodes: request.nodes, rounds: request.rounds, topology: request.topology.description, dirichlet: dirichlet,
            seed: request.seed, dataset: datasetName, threads: request.threads, wallSeconds: (wall * 10).rounded() / 10,
            partition: request.partition.name, architecture: request.architecture, peakRSSMiB: ProcessMemory.peakResidentMiB(),
            stepsPerRound: request.stepsPerRound, gossipPerRound: request.gossipStepsPerRound,
            learningRate: Self.decimal(request.learningRate), imageSize: request.size, classBalance: request.classBalance.rawValue,
            optimizer: request.optimizer.name, logitAdjustment: Self.decimal(request.logitAdjustment),
            proximalStrength: Self.decimal(request.proximalStrength), driftCorrection: Self.decimal(request.driftCorrection),
            globalLearningRate: Self.decimal(request.globalLearningRate), globalMomentum: Self.decimal(request.globalMomentum),
            augment: request.augment)
        if !request.baselines { config.baselines = false }
        config.batchSize = request.batchSize
        config.exchangesPerRound = request.exchangesPerRound
        config.nodeBatchSizes = federatedSessions.map(\.batchSize)
        config.centralizedBatchSize = centralizedBudget?.batch
        config.centralizedStepsPerRound = centralizedBudget?.steps
        if let floors = request.gate {
            config.gate = SimulationConfig.Gate(minSensitivity: floors.minimumSensitivity, minSpecificity: floors.minimumSpecificity,
                                                maxDrop: floors.maximumDrop, minImagesPerClass: floors.minimumImagesPerClass,
                                                promoted: gateCounts.promoted, held: gateCounts.held, followed: gateCounts.followed)
        }
        if request.restrictedSoftmax < 1 { config.restrictedSoftmax = Self.decimal(request.restrictedSoftmax) }
        if !request.classWeightedStep { config.classWeightedStep = false }
        if let other = request.missingClassOptimizer, other.name != request.optimizer.name { config.missingClassOptimizer = other.name }
        if request.placement != .local { config.optimizerPlacement = request.placement.rawValue }
        if case let .adam(_, _, epsilon, _) = request.optimizer, epsilon != 1e-8 { config.adamEpsilon = Double(epsilon) }
        if !attackers.isEmpty {
            config.attackers = attackers
            config.attack = request.attack.rawValue
        }
        if !attackers.isEmpty || request.aggregation != .mean {
            let clipOptions = [request.clipQuantile.map { "\($0)" }, request.clipStepFloor.map { "floor \($0)" },
                               request.clipMissingClassFactor.map { "missing class x\($0)" },
                               request.outlierFactor.map { "outliers beyond \($0)" },
                               request.recentStateMemory.map { "\($0) recent states" },
                               request.judgeBenched ? "benched judged" : nil].compactMap { $0 }
            config.aggregation = switch request.aggregation {
            case .trimmedMean: "trimmed-mean(\(request.trim))"
            case .clipped where !clipOptions.isEmpty: "clipped(\(clipOptions.joined(separator: ", ")))"
            default: request.aggregation.rawValue
            }
        }
        var result = SimulationResult(config: config, centralized: centralizedMetrics, localOnly: localOnly, federated: federated,
                                      rounds: rounds, bytesPerNodePerRound: bytes / Double(request.rounds), federatedScores: scores)
        result.honest = honest
        return result
    }

    /// A `Float` option as the decimal the user typed (0.03, not 0.029999999329447746).
    static func decimal(_ value: Float) -> Double { Double("\(value)") ?? Double(value) }

    /// Cosine annealing across rounds, `0.5 (1 + cos(pi (r - 1) / R))`: full rate in round 1, small
    /// in the last round, so the nodes' local drift shrinks as they converge and the consensus
    /// distance falls. Every baseline uses the same schedule.
    static func scheduleFactor(round: Int, of rounds: Int) -> Float {
        Float(0.5 * (1 + Foundation.cos(Double.pi * Double(round - 1) / Double(max(rounds, 1)))))
    }

    private static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
}

/// The `LocalTrainer` adapter: the gossip simulator asks for node `i`'s training step, the node's
/// session runs one local round from the parameters gossip left it with.
struct SessionTrainer: LocalTrainer {
    let sessions: [FederatedTrainingSession]
    /// Steps of the next stretch when a round is cut into several (`exchangesPerRound`); nil = a whole round.
    var steps: Int?
    private(set) var lastMeanLoss = 0.0
    private var lossSum = 0.0, lossCount = 0, lastRound = 0

    init(sessions: [FederatedTrainingSession]) { self.sessions = sessions }

    mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? {
        if round != lastRound { lossSum = 0; lossCount = 0; lastRound = round }
        let outcome = sessions[node].trainRound(startingFrom: parameters, steps: steps)
        // A discarded (diverged) stretch has no loss to report: it left the node where it was.
        if outcome.meanLoss.isFinite {
            lossSum += outcome.meanLoss
            lossCount += 1
        }
        lastMeanLoss = lossSum / Double(lossCount)
        return LocalTrainingResult(parameters: outcome.parameters, sampleCount: sessions[node].trainingSampleCount)
    }
}

/// The process's peak resident memory, from `/proc/self/status` (Linux).
public enum ProcessMemory {
    public static func peakResidentMiB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
            return digits.map { ($0 / 1024 * 10).rounded() / 10 }
        }
        return nil
    }
}

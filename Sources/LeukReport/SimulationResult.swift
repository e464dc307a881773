public import LeukMetrics

/// What `leuknode simulate --json` prints and `leuknode report --from` reads (issue 7).
///
/// Contract keys, never to be renamed: `centralized`, `local_only` {`mean`, `per_node`},
/// `federated` {`mean`, `per_node`}, `rounds` [{`round`, `consensus_distance`, `mean_accuracy`}],
/// `bytes_per_node_per_round`. Added by this module: `config`, and the optional per-round
/// `local_only_accuracy`, `min_accuracy`, `max_accuracy`, plus the optional `federated_scores` and
/// `roc` from which the ROC curve of the final federated model is drawn. Optional keys are omitted
/// from the JSON when absent.
public struct SimulationResult: Codable, Sendable, Hashable {
    /// How the run was set up, so a plot can always be traced back to the command that made it.
    public var config: SimulationConfig
    /// One model trained on the pooled data of every node.
    public var centralized: EvaluationMetrics
    /// Each node trained on its own data only, never averaging.
    public var localOnly: NodeMetricsGroup
    /// Each node's model after the last federated round.
    public var federated: NodeMetricsGroup
    /// One record per federated round, in order.
    public var rounds: [RoundRecord]
    /// Mean bytes one node sent per round (model exchanges and protocol messages).
    public var bytesPerNodePerRound: Double
    /// The final federated model's `all` probability for each test image, with the true label. When
    /// several nodes' models are scored, the writer may pool their samples.
    public var federatedScores: [ScoredSample]?
    /// The final federated model's ROC curve, when the writer computed it instead of sending scores.
    public var roc: [ROCPoint]?
    /// With attackers (`simulate --byzantine`): the honest nodes' federated metrics alone; `federated` keeps
    /// every node's, attackers included.
    public var honest: NodeMetricsGroup?

    public init(
        config: SimulationConfig, centralized: EvaluationMetrics, localOnly: NodeMetricsGroup,
        federated: NodeMetricsGroup, rounds: [RoundRecord], bytesPerNodePerRound: Double,
        federatedScores: [ScoredSample]? = nil, roc: [ROCPoint]? = nil
    ) {
        self.config = config
        self.centralized = centralized
        self.localOnly = localOnly
        self.federated = federated
        self.rounds = rounds
        self.bytesPerNodePerRound = bytesPerNodePerRound
        self.federatedScores = federatedScores
        self.roc = roc
    }

    enum CodingKeys: String, CodingKey {
        case config, centralized
        case localOnly = "local_only"
        case federated, rounds
        case bytesPerNodePerRound = "bytes_per_node_per_round"
        case federatedScores = "federated_scores"
        case roc, honest
    }
}

/// `mean` over the nodes plus every node's own metrics (`per_node`, in node order).
/// `MetricsComputation.mean(of:)` computes `mean` from `per_node` with the documented conventions.
public struct NodeMetricsGroup: Codable, Sendable, Hashable {
    public var mean: EvaluationMetrics
    public var perNode: [EvaluationMetrics]

    public init(mean: EvaluationMetrics, perNode: [EvaluationMetrics]) {
        self.mean = mean
        self.perNode = perNode
    }

    /// The group with `mean` computed by `MetricsComputation.mean(of:)`, so every writer averages
    /// the same way. `nil` for no nodes or for nodes whose confusion matrices disagree on labels.
    public init?(perNode: [EvaluationMetrics]) {
        guard let mean = MetricsComputation.mean(of: perNode) else { return nil }
        self.init(mean: mean, perNode: perNode)
    }

    enum CodingKeys: String, CodingKey {
        case mean
        case perNode = "per_node"
    }
}

/// One federated round: how far apart the nodes' models are and how well they do on the test set.
public struct RoundRecord: Codable, Sendable, Hashable {
    /// Round number: the state after this round's training and averaging (1 is the first round;
    /// a writer may add round 0 for the state before any averaging).
    public var round: Int
    /// Mean distance between the nodes' parameter vectors (the writer documents which norm); falls
    /// towards 0 as the nodes agree, hence the log-scale plot.
    public var consensusDistance: Double
    /// Mean test accuracy of the nodes' federated models after this round.
    public var meanAccuracy: Double
    /// Mean test accuracy of the local-only models at the same amount of training, if tracked.
    public var localOnlyAccuracy: Double?
    /// Worst and best node's federated accuracy after this round, if tracked.
    public var minAccuracy: Double?
    public var maxAccuracy: Double?
    /// With attackers: the honest nodes' mean accuracy after this round.
    public var honestMeanAccuracy: Double?
    /// With the promotion gate (`--gate`): how many honest nodes serve a model after this round, and
    /// the mean and worst accuracy of the served models (nil while none is served).
    public var servedNodes: Int?
    public var servedMeanAccuracy: Double?
    public var servedMinAccuracy: Double?
    /// With attackers under a robust rule: the share of its weight an attacker keeps, averaged over every
    /// honest node and attacker (1: no evidence against them yet; 0: benched or at the ban threshold).
    public var attackerTrust: Double?
    /// Under a robust rule: the least share of its weight an honest node keeps at another honest node (1: no
    /// evidence against any; 0: one honest node benches another, e.g. a one-class site taken for an outlier).
    public var honestMinTrust: Double?

    public init(round: Int, consensusDistance: Double, meanAccuracy: Double, localOnlyAccuracy: Double? = nil,
                minAccuracy: Double? = nil, maxAccuracy: Double? = nil) {
        self.round = round
        self.consensusDistance = consensusDistance
        self.meanAccuracy = meanAccuracy
        self.localOnlyAccuracy = localOnlyAccuracy
        self.minAccuracy = minAccuracy
        self.maxAccuracy = maxAccuracy
    }

    enum CodingKeys: String, CodingKey {
        case round
        case consensusDistance = "consensus_distance"
        case meanAccuracy = "mean_accuracy"
        case localOnlyAccuracy = "local_only_accuracy"
        case minAccuracy = "min_accuracy"
        case maxAccuracy = "max_accuracy"
        case honestMeanAccuracy = "honest_mean_accuracy"
        case servedNodes = "served_nodes", servedMeanAccuracy = "served_mean_accuracy", servedMinAccuracy = "served_min_accuracy"
        case attackerTrust = "attacker_trust"
        case honestMinTrust = "honest_min_trust"
    }
}

/// The settings of a simulation run (`config`).
public struct SimulationConfig: Codable, Sendable, Hashable {
    public var nodes: Int
    public var rounds: Int
    /// `ring`, `random-K` or `full`, as given to `--topology`.
    public var topology: String
    /// Dirichlet concentration of the class mix per node; `nil` when the split is not Dirichlet
    /// (IID or one class per node; `partition` then says which).
    public var dirichlet: Double?
    public var seed: UInt64
    /// `synthetic`, or the dataset directory.
    public var dataset: String
    /// Threads the training engine used.
    public var threads: Int
    /// Wall-clock duration of the whole run, in seconds.
    public var wallSeconds: Double
    /// Optional extras: the split kind (`dirichlet`, `iid`, `one-class-per-node`), network
    /// architecture, and peak resident memory, to show how cost grows with the node count.
    public var partition: String?
    public var architecture: String?
    public var peakRSSMiB: Double?
    /// The training budget and federation settings, so a result file says how to reproduce it
    /// (absent in files written before they were recorded).
    public var stepsPerRound: Int?
    public var gossipPerRound: Int?
    /// Averaging steps inside each round (`--exchanges-per-round`); absent in results written before it existed (1).
    public var exchangesPerRound: Int?
    public var learningRate: Double?
    public var imageSize: Int?
    /// `adaptive`, `federation`, `local` or `none`: whose class counts the federated nodes balanced their loss with.
    public var classBalance: String?
    /// The local optimiser (`sgd`, `adam`); absent in results written before it was recorded.
    public var optimizer: String?
    /// The federated nodes' local-objective and round-step options, so a result file says how it was
    /// trained without the command line beside it (absent in results written before they were recorded).
    public var logitAdjustment: Double?
    public var proximalStrength: Double?
    public var driftCorrection: Double?
    public var globalLearningRate: Double?
    public var globalMomentum: Double?
    /// Whether training batches were augmented.
    public var augment: Bool?
    /// With `--byzantine`: the attacking nodes (0-based) and their attack.
    public var attackers: [Int]?
    public var attack: String?
    /// The mixing rule (`--aggregation`), recorded when it is not the plain mean or when nodes attack.
    public var aggregation: String?
    /// `false` when the baselines were skipped (`--no-baselines`): `centralized` and `local_only` then repeat
    /// federated node 0's and the nodes' own metrics and mean nothing.
    public var baselines: Bool?
    /// FedRS's factor for absent classes' logits, when below 1 (`--restricted-softmax`).
    public var restrictedSoftmax: Double?
    /// `false` when Adam's step ignored the class weights (`--no-class-weighted-step`, an ablation); absent otherwise.
    public var classWeightedStep: Bool?
    /// The optimiser of nodes that miss a class, when it is not `optimizer` (`--missing-class-optimizer`, an experiment).
    public var missingClassOptimizer: String?
    /// Where the optimiser stepped, when not on each node's local steps (`--optimizer-placement federation`).
    public var optimizerPlacement: String?
    /// Adam's epsilon, when not PyTorch's 1e-8 (`--adam-epsilon`, an experiment).
    public var adamEpsilon: Double?
    /// With `--gate`: the floors and how often the honest nodes' gates promoted, held or followed.
    public var gate: Gate?
    /// The fixed batch (`--batch`); absent when every node's round was one local epoch (the default).
    public var batchSize: Int?
    /// Each federated node's images per step, in node order (recorded from the one-local-epoch recipe on).
    public var nodeBatchSizes: [Int]?
    /// The centralized reference's images per step and steps per round (with baselines).
    public var centralizedBatchSize: Int?
    public var centralizedStepsPerRound: Int?

    public struct Gate: Codable, Sendable, Hashable {
        public var minSensitivity: Double
        public var minSpecificity: Double
        public var maxDrop: Double
        public var minImagesPerClass: Int
        public var promoted: Int
        public var held: Int
        public var followed: Int

        public init(minSensitivity: Double, minSpecificity: Double, maxDrop: Double, minImagesPerClass: Int, promoted: Int, held: Int,
                    followed: Int) {
            self.minSensitivity = minSensitivity
            self.minSpecificity = minSpecificity
            self.maxDrop = maxDrop
            self.minImagesPerClass = minImagesPerClass
            self.promoted = promoted
            self.held = held
            self.followed = followed
        }

        enum CodingKeys: String, CodingKey {
            case minSensitivity = "min_sensitivity", minSpecificity = "min_specificity", maxDrop = "max_drop"
            case minImagesPerClass = "min_images_per_class", promoted, held, followed
        }
    }

    public init(nodes: Int, rounds: Int, topology: String, dirichlet: Double?, seed: UInt64, dataset: String,
                threads: Int, wallSeconds: Double, partition: String? = nil, architecture: String? = nil,
                peakRSSMiB: Double? = nil, stepsPerRound: Int? = nil, gossipPerRound: Int? = nil,
                learningRate: Double? = nil, imageSize: Int? = nil, classBalance: String? = nil,
                optimizer: String? = nil, logitAdjustment: Double? = nil, proximalStrength: Double? = nil,
                driftCorrection: Double? = nil, globalLearningRate: Double? = nil, globalMomentum: Double? = nil,
                augment: Bool? = nil) {
        self.optimizer = optimizer
        self.logitAdjustment = logitAdjustment; self.proximalStrength = proximalStrength
        self.driftCorrection = driftCorrection; self.globalLearningRate = globalLearningRate
        self.globalMomentum = globalMomentum; self.augment = augment
        self.nodes = nodes
        self.rounds = rounds
        self.topology = topology
        self.dirichlet = dirichlet
        self.seed = seed
        self.dataset = dataset
        self.threads = threads
        self.wallSeconds = wallSeconds
        self.partition = partition
        self.architecture = architecture
        self.peakRSSMiB = peakRSSMiB
        self.stepsPerRound = stepsPerRound
        self.gossipPerRound = gossipPerRound
        self.learningRate = learningRate
        self.imageSize = imageSize
        self.classBalance = classBalance
    }

    enum CodingKeys: String, CodingKey {
        case nodes, rounds, topology, dirichlet, seed, dataset, threads
        case wallSeconds = "wall_seconds"
        case partition, architecture
        case peakRSSMiB = "peak_rss_mib"
        case stepsPerRound = "steps_per_round"
        case gossipPerRound = "gossip_per_round"
        case exchangesPerRound = "exchanges_per_round"
        case learningRate = "learning_rate"
        case imageSize = "image_size"
        case classBalance = "class_balance"
        case optimizer
        case logitAdjustment = "logit_adjustment"
        case proximalStrength = "proximal_strength"
        case driftCorrection = "drift_correction"
        case globalLearningRate = "global_learning_rate"
        case globalMomentum = "global_momentum"
        case augment, attackers, attack, aggregation, baselines
        case restrictedSoftmax = "restricted_softmax"
        case classWeightedStep = "class_weighted_step"
        case missingClassOptimizer = "missing_class_optimizer"
        case optimizerPlacement = "optimizer_placement"
        case adamEpsilon = "adam_epsilon"
        case gate
        case batchSize = "batch_size"
        case nodeBatchSizes = "node_batch_sizes"
        case centralizedBatchSize = "centralized_batch_size"
        case centralizedStepsPerRound = "centralized_steps_per_round"
    }
}

public import LeukData

/// How one federation node trains locally between gossip rounds.
///
/// Every node of a federation must use the same `architecture`, `initSeed` and `normalization`:
/// averaging parameters only makes sense when the models have the same shape, start from the same
/// point and read their inputs in the same units.
public struct FederatedTrainingConfiguration: Sendable, Equatable {
    /// Architecture name as model files store it (`leuknet-s`, `leuknet-m`).
    public var architecture: String
    /// Seed of the initial weights. Every node of a federation initialises identically from it, so
    /// the first averaging step mixes models that are already aligned.
    public var initSeed: UInt64
    /// Seed of this node's shuffling and augmentation (differs per node).
    public var dataSeed: UInt64
    /// Threads for the training engine (OpenBLAS).
    public var threads: Int
    public var batchSize: Int
    /// SGD steps (mini-batches) per `trainRound`.
    public var stepsPerRound: Int
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    /// Class-balanced loss from the node's own class counts (weights clipped to
    /// `classWeightRange`), plus mild oversampling of rare classes.
    public var classBalancing: Bool
    /// Clip range of the class weights: a node that holds one normal cell among hundreds of blasts
    /// must not multiply that cell's gradient by hundreds.
    public var classWeightRange: ClosedRange<Float>
    /// The federation's class counts (every node's training images added up), when the nodes have
    /// shared them. With them, every node weights class `c` by `n / (K * n_c)` of the whole
    /// federation and does not oversample: the sample-weighted sum of the nodes' losses is then
    /// exactly the class-balanced loss of the pooled data, the objective a central model trains on.
    /// Without them each node balances its own mix, which over-weights the few rare cells a skewed
    /// node holds (a node with 19 normal cells among 540 would count each of them about 27 times)
    /// and makes the local models drift apart.
    public var federationClassCounts: [Int]?
    /// Random flips, rotations and colour jitter on training batches.
    public var augment: Bool
    /// Input normalisation; use `federationNormalization` for any node of a federation.
    public var normalization: Normalization

    /// The normalisation every node of a federation uses: a fixed mean 0.5 and standard deviation
    /// 0.25 per channel (on pixel values scaled to 0...1).
    ///
    /// Why fixed: a model's first-layer weights only mean something relative to the input units they
    /// were trained on. If each hospital normalised with its own channel statistics (its stain, its
    /// camera), averaging their weights would average models living in different input spaces, and
    /// the averaged model would fit nobody. A per-site statistic would also leak a summary of the
    /// site's images. Stain differences are instead handled by colour-jitter augmentation.
    public static let federationNormalization = Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])

    public init(
        architecture: String = "leuknet-s", initSeed: UInt64 = 0, dataSeed: UInt64, threads: Int = 1,
        batchSize: Int = 32, stepsPerRound: Int = 10, learningRate: Float = 0.01, momentum: Float = 0.9,
        weightDecay: Float = 5e-4, classBalancing: Bool = true, classWeightRange: ClosedRange<Float> = 0.2...5,
        augment: Bool = true, normalization: Normalization = FederatedTrainingConfiguration.federationNormalization,
        federationClassCounts: [Int]? = nil
    ) {
        self.architecture = architecture
        self.initSeed = initSeed
        self.dataSeed = dataSeed
        self.threads = threads
        self.batchSize = batchSize
        self.stepsPerRound = stepsPerRound
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.classBalancing = classBalancing
        self.classWeightRange = classWeightRange
        self.augment = augment
        self.normalization = normalization
        self.federationClassCounts = federationClassCounts
    }
}

public import LeukData
public import LeukModel

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
    /// Images per SGD step; `nil` (the federation's default) = one local epoch per round: each node's
    /// batch is its training images divided by `stepsPerRound` (`FederationDefaults.localEpochBatch`),
    /// so every node takes the same number of steps and a large site's step carries as many images as
    /// its weight in the average. A fixed batch instead makes a 69-image site run nine epochs a round
    /// while a 2,072-image site sees a third of its images, and averages the two as if each step were
    /// worth its site's share.
    public var batchSize: Int?
    /// SGD steps (mini-batches) per `trainRound`.
    public var stepsPerRound: Int
    public var learningRate: Float
    /// The local optimiser. Its state (momentum, Adam's moments) lives in the session and survives
    /// rounds: restarting it after every averaging step makes each round begin with a cold, noisy step.
    public var optimizer: OptimizerKind
    /// Class-balanced loss from the node's own class counts (weights clipped to
    /// `classWeightRange`), plus mild oversampling of rare classes.
    public var classBalancing: Bool
    /// Clip range of the class weights: a node that holds one normal cell among hundreds of blasts
    /// must not multiply that cell's gradient by hundreds.
    public var classWeightRange: ClosedRange<Float>
    /// The federation's class counts (every node's training images added up), when the nodes have
    /// shared them; empty = federation mode before any peer has reported (the node's own counts, no
    /// oversampling, until `FederatedTrainingSession.useFederationClassCounts`). With them, every node weights class `c` by `n / (K * n_c)` of the whole
    /// federation and does not oversample: the sample-weighted sum of the nodes' losses is then
    /// exactly the class-balanced loss of the pooled data, the objective a central model trains on.
    /// Without them each node balances its own mix, which over-weights the few rare cells a skewed
    /// node holds (a node with 19 normal cells among 540 would count each of them about 27 times)
    /// and makes the local models drift apart.
    public var federationClassCounts: [Int]?
    /// Strength `tau` of the logit-adjusted local loss (FedLC-style calibration; 0 = off): the
    /// training loss adds `tau * log(prior_c)` of the node's OWN label mix to each logit, so local
    /// steps on a skewed share learn what a cell of each class looks like rather than the share's
    /// class frequencies, and a class the node never sees is hardly pushed down. When on, it replaces
    /// class weighting and oversampling (doing both would correct the skew twice). The priors never
    /// leave the node.
    public var logitAdjustment: Float
    /// Strength `mu` of a FedProx proximal term `mu/2 |w - w_round_start|^2` (0 = off): it keeps a
    /// round's local steps near the model gossip handed over.
    public var proximalStrength: Float
    /// FedRS's restricted softmax (Li and Zhan, KDD 2021): the logits of the classes this node holds no
    /// image of are multiplied by this factor inside the local loss (1 = off). A site that sees one class
    /// then cannot push the other class's scores down at full strength.
    public var restrictedSoftmax: Float = 1
    /// Under Adam, a site that misses a class steps at its batch's mean class weight over the largest weight of
    /// the classes the neighbourhood's missing-class sites hold, at most the full rate (false only for the ablation
    /// `simulate --no-class-weighted-step`; no effect under SGD, whose step carries the weight in the gradient).
    /// Why: Adam divides every coordinate's gradient by its own running size, so a weight on a one-class site's
    /// whole loss cancels out and the neighbourhood's class masses (`ClassBalance.adaptive`) never reach the
    /// average: on one class per node on Aria the federation called nearly every cell a blast (specificity 0.05).
    /// Multiplying the step by the weight itself (3.2 times the rate for the normal-cell sites there) made
    /// training unstable (accuracy 0.695); scaling the heavier classes' sites down instead keeps every step
    /// within the rate Adam is tuned for (specificity 0.24, still far from SGD's; docs/results.md, "Adam").
    /// Sites that hold every class balance their own mix and step at the full rate.
    public var classWeightedStep = true
    /// Where `optimizer` runs (`OptimizerPlacement`): on each node's local steps (`.local`, FedAvg with a local
    /// optimiser), or on the averaged model's move between two exchanges (`.federation`, FedOpt; local steps are
    /// then plain gradient steps at the same rate). `.local` unless set: a session on its own (a baseline) has no
    /// average to step on; the federation's entry points (`NodeRuntime`, `SimulationRequest`) set
    /// `FederationDefaults.optimizerPlacement(for:)`.
    public var optimizerPlacement: OptimizerPlacement = .local
    /// The optimiser of a node whose training images miss a class, at the same rate, when it differs from
    /// `optimizer` (nil: the same as every node). An experiment (`simulate --missing-class-optimizer`).
    public var missingClassOptimizer: OptimizerKind?
    /// Strength `beta` (0 = off, 1 = full) of the drift correction: SCAFFOLD's control variates
    /// (Karimireddy et al., ICML 2020) obtained without sending them. When averaging is exact (every
    /// node ends a round on the same weighted mean), the global control variate is the mean model's
    /// last displacement and a node's own is its own last local displacement, both known locally; each
    /// local step then moves by `beta * (global - own) / steps` besides the optimiser's step, so a
    /// label-skewed node stops pulling the mean towards its own classes. Off in the first round (no
    /// history yet).
    public var driftCorrection: Float
    /// The federation's own step on the averaged model (FedAvgM, Hsu et al. 2019, done by every node
    /// for itself): between two rounds the mean model moved by `D`, the node starts its next round at
    /// `previous start + v` with `v = globalMomentum * v + globalLearningRate * D`. Four nodes' local
    /// steps taken side by side move the mean model about as far as one node's steps, while a central
    /// trainer takes four times as many in sequence; this step wins the distance back. Every node
    /// computes the same `v` from the same averaged models, so agreement is kept. (1, 0) = off.
    public var globalLearningRate: Float
    public var globalMomentum: Float
    /// The largest L2 norm a step's gradient may have; a longer one is scaled down to it (nil = no limit). A
    /// safety net, not a regulariser: healthy Aria runs stay below about 130, while a tiny one-class site cut
    /// off from its neighbours by the clipped rule was seen at 8,000 and then at 1e27 before its model turned
    /// NaN (docs/results.md, "Averaging inside the round").
    public var gradientNormLimit: Float? = FederationDefaults.gradientNormLimit
    /// Random flips, rotations and colour jitter on training batches.
    public var augment: Bool
    /// Train on deliberately wrong labels (each label `c` read as `(c + 1) mod k`): the label-flip attacker of
    /// `simulate --byzantine`, never set by a node. Package-only, so no production path can reach it.
    package var flipsLabels = false
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
        batchSize: Int? = 32, stepsPerRound: Int = 10, learningRate: Float? = nil,
        optimizer: OptimizerKind = FederationDefaults.optimizer, classBalancing: Bool = true, classWeightRange: ClosedRange<Float> = 0.2...5,
        augment: Bool = true, normalization: Normalization = FederatedTrainingConfiguration.federationNormalization,
        federationClassCounts: [Int]? = nil, logitAdjustment: Float = 0, proximalStrength: Float = 0,
        driftCorrection: Float = 0, globalLearningRate: Float = 1, globalMomentum: Float = 0
    ) {
        self.globalLearningRate = globalLearningRate
        self.globalMomentum = globalMomentum
        self.driftCorrection = driftCorrection
        self.logitAdjustment = logitAdjustment
        self.proximalStrength = proximalStrength
        self.architecture = architecture
        self.initSeed = initSeed
        self.dataSeed = dataSeed
        self.threads = threads
        self.batchSize = batchSize
        self.stepsPerRound = stepsPerRound
        self.learningRate = learningRate ?? FederationDefaults.learningRate(for: optimizer)
        self.optimizer = optimizer
        self.classBalancing = classBalancing
        self.classWeightRange = classWeightRange
        self.augment = augment
        self.normalization = normalization
        self.federationClassCounts = federationClassCounts
    }
}

/// The node recipe every entry point uses by default (`leuknode start`, `demo` and `simulate`), so a
/// federation set up by hand trains the way the measured one did. Each value is explained, with the
/// runs behind it, in docs/results.md ("Defaults").
public enum FederationDefaults {
    /// Local SGD steps per round. With `batchSize` nil a round is one local epoch cut into this many
    /// steps, so the number sets how many sequential steps the federation takes per epoch of data: on
    /// Aria (4 nodes, Dirichlet 0.5, 10 rounds) 20 steps gave accuracy 0.829 / AUC 0.893, 80 gave
    /// 0.886 / 0.952, 160 gave 0.896 / 0.962, 320 gave 0.877 / 0.949 (3 seeds each; docs/results.md,
    /// "One local epoch per round").
    public static let stepsPerRound = 160
    /// Images per step: nil = one local epoch per round (`localEpochBatch`).
    public static let batchSize: Int? = nil
    /// The smallest and largest one-local-epoch batch: a site with fewer images than steps still
    /// takes steps of 4 (a few epochs a round, as before), and a very large site's step stays a size
    /// the engine runs well.
    public static let localEpochBatchRange = 4...256

    /// A node's batch when a round is one local epoch: its images over the steps, rounded up, within
    /// `localEpochBatchRange`.
    public static func localEpochBatch(images: Int, stepsPerRound: Int) -> Int {
        let steps = max(stepsPerRound, 1)
        let batch = (max(images, 1) + steps - 1) / steps
        return min(max(batch, localEpochBatchRange.lowerBound), localEpochBatchRange.upperBound)
    }
    /// The optimiser, placed by `optimizerPlacement(for:)`; its state survives rounds (`FederatedTrainingSession`).
    /// SGD on the local steps. Adam on the averaged model's move (`--optimizer adam`) meets every issue-12 target on
    /// Aria, but a free rider or ALIE attacker turns it (-16 and -13 points, where SGD loses less than 6) and a
    /// state that lags its sender's last Adam step feeds that step back as a gradient (docs/results.md, "Adam on
    /// the averaged model's move").
    public static let optimizer: OptimizerKind = .sgd(momentum: 0.9, weightDecay: 5e-4)
    /// Peak learning rate of `optimizer` (the simulator anneals it with a cosine over the rounds).
    public static let learningRate: Float = learningRate(for: optimizer)
    /// The peak rate each optimiser is measured best with, what `start --lr` and `simulate --learning-rate` default
    /// to for the `--optimizer` chosen: SGD 0.01; Adam 0.003 (0.001 was worse on Aria: 0.946 against 0.962 on seed
    /// 0; docs/results.md, "Adam").
    public static func learningRate(for optimizer: OptimizerKind) -> Float {
        switch optimizer {
        case .sgd: 0.01
        case .adam: 0.003
        }
    }
    /// Where each optimiser steps unless the operator says otherwise (`--optimizer-placement`): SGD on the local
    /// steps, as measured throughout; Adam on the averaged model's move (`OptimizerPlacement.federation`), because
    /// Adam on the local steps lost one class per node on Aria (specificity 0.05), where Adam on the averaged move
    /// keeps it (0.972 / 0.970 / 0.996) and still meets the 4-node target (docs/results.md, "Adam on the averaged
    /// model's move").
    public static func optimizerPlacement(for optimizer: OptimizerKind) -> OptimizerPlacement {
        switch optimizer {
        case .sgd: .local
        case .adam: .federation
        }
    }
    /// Strength of the logit-adjusted local loss (`FederatedTrainingConfiguration.logitAdjustment`):
    /// off, because on Aria it lost to the class-balanced loss (0.52 against 0.82, docs/results.md).
    public static let logitAdjustment: Float = 0
    /// FedProx strength (`FederatedTrainingConfiguration.proximalStrength`).
    public static let proximalStrength: Float = 0
    /// Drift-correction strength (`FederatedTrainingConfiguration.driftCorrection`).
    public static let driftCorrection: Float = 0
    /// The federation's step on the averaged model (`FederatedTrainingConfiguration.globalLearningRate`
    /// and `.globalMomentum`).
    public static let globalLearningRate: Float = 1
    public static let globalMomentum: Float = 0
    /// Gossip exchanges between two training rounds in the simulator: one is exact on a complete
    /// graph since trained states are pushed at once and weighted `n_j / N`.
    public static let gossipPerRound = 1
    /// The gradient-norm limit of every local step (`FederatedTrainingConfiguration.gradientNormLimit`).
    public static let gradientNormLimit: Float? = 250
    /// Averaging steps inside one round (`--exchanges-per-round` of `start`, `demo` and `simulate`): the
    /// round's local epoch is cut into this many stretches, and the node publishes (and mixes) after each.
    /// See docs/results.md, "Averaging inside the round".
    public static let exchangesPerRound = 80

    /// The exchanges a round makes: the operator's choice, else the default capped at the round's steps
    /// (a round of 4 steps cannot be cut into 80 stretches).
    public static func exchanges(requested: Int?, stepsPerRound: Int) -> Int {
        requested ?? max(1, min(exchangesPerRound, stepsPerRound))
    }
    /// Whose class counts weight the local loss: a node's own when it holds every class, else the neighbourhood's,
    /// which the nodes learn from the per-class counts in each other's signed updates (`.adaptive`). See docs/results.md, "Averaging inside the round".
    public static let classBalance = ClassBalance.adaptive
}

/// Where a federated node's optimiser takes its steps.
public enum OptimizerPlacement: String, Sendable, Equatable, CaseIterable {
    /// Every local step is the optimiser's step on the node's own gradient; averaging mixes the results (FedAvg
    /// with a local optimiser).
    case local
    /// Local steps are plain gradient steps (no momentum, no decay) at the session's rate, and they measure a
    /// gradient: between two exchanges the averaged model moved by `-rate * g`, where `g` is the sum of the
    /// neighbourhood's local gradients, and every node then takes the optimiser's step with `g` from the averaged
    /// model (FedOpt, Reddi et al., ICLR 2021, done by each node for itself; with exact averaging every node takes
    /// the same step, so agreement is kept). Why: Adam's per-coordinate division, applied at
    /// each site, does not add up across sites, and a one-class site's steady "every cell is mine" gradient
    /// becomes a full-rate step in every coordinate; applied to the averaged move, the division sees the
    /// neighbourhood's gradient, in which the one-class sites' class pulls have already cancelled.
    case federation
}

/// Which class counts a federated node's class-balanced loss uses.
public enum ClassBalance: String, Sendable, Equatable, CaseIterable {
    /// The federation's counts: the node's own plus those its neighbours report in their signed updates (the
    /// pooled counts on a complete graph). The nodes' losses then add up to the pooled data's balanced loss,
    /// and a site holding one class weights it by the federation's mix rather than its own.
    case federation
    /// Each node's own counts, with oversampling of its rare classes.
    case local
    /// No class balancing: plain cross-entropy on the node's own mix (an ablation).
    case off = "none"
    /// `.local` on a node that holds every class; on one that misses a class, the weights that give every class
    /// the same mass in the neighbourhood's averaged step (`ClassMasses.missingClassWeights`). A site with no
    /// image of a class cannot balance its own mix, while a site that holds every class balances it better by
    /// itself (on Aria's Dirichlet 0.5 split the local balance scored higher). Weighting a one-class site by the
    /// whole federation's mix instead (the rule until 2026-12-07) counted its class about three times as much as
    /// a self-balanced site of its size would (docs/results.md, "One-class sites balance the neighbourhood's
    /// class masses").
    case adaptive

    /// Whether a node holding `counts` images per class weights its loss by the federation's counts.
    public func usesFederationCounts(own counts: [Int]) -> Bool {
        switch self {
        case .federation: true
        case .adaptive: counts.contains(0)
        case .local, .off: false
        }
    }
}

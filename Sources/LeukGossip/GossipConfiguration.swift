/// Timers, bounds and robustness options of one gossip node. Defaults are documented in
/// network/PROTOCOL.md ("Gossip averaging"); change them there too.
public struct GossipConfiguration: Sendable, Equatable {
    /// How often a node mixes what it holds from its neighbours and publishes its own state.
    public var gossipInterval: Duration
    /// Each tick is scheduled `gossipInterval * (1 + u)` ahead with `u` uniform in
    /// `[-tickJitter, tickJitter]`, so nodes drift apart instead of gossiping in lock-step.
    /// Zero gives exactly periodic ticks (used by the synchronous spectral-gap test).
    public var tickJitter: Double
    /// A neighbour's latest state is mixed in only while it is younger than this. A partitioned or
    /// silent peer thus stops pulling the model towards an old state; its weight goes to the node itself.
    public var stateTimeToLive: Duration
    /// Largest parameter vector accepted; anything else is refused before it is looked at.
    public var maxParameterCount: Int
    /// Byzantine robustness: how each neighbour's difference to the own model is clipped before mixing.
    public var clipping: ClippingRule
    /// Emit `.persist` every this many rounds. Persisting is what lets a restarted node resume from
    /// its averaged model and keep refusing replays; more often costs more writes.
    public var persistEveryRounds: Int
    public var scoring: ScoringParameters
    /// Publish a freshly trained state at once (`onLocalTrainingStep`), not only at the next tick.
    ///
    /// Why: a tick mixes the neighbour states that have arrived. Without the push, the states a node
    /// holds at its tick are the neighbours' previous ticks, from before their latest training, so a
    /// round's local updates are never averaged in the round they were made: each node ends the round
    /// at "last round's average + its own new update", and the consensus distance can never fall
    /// below one round's local drift (0.5 on Aria, 4 nodes, Dirichlet 0.5, 20 steps), even on a full
    /// graph whose Metropolis-Hastings weights average exactly in one synchronous step. With the push,
    /// the next tick mixes this round's trained states. It costs one more message per neighbour and
    /// training round.
    public var publishAfterTraining: Bool
    /// A node that trains mixes nothing before its first local step (`false`), so that, under
    /// clipping, its own step is there to bound the radius: at start-up the first state to arrive may
    /// be an attacker's alone, and with nothing to compare it with it would be mixed unclipped (a
    /// sign-flipped state at weight 1/4 flips the node's model). A node without training data keeps
    /// the default and follows its neighbours from the first tick.
    public var mixesBeforeFirstLocalStep = true
    /// Under adaptive clipping the radius is never below this multiple of the node's own last step.
    /// Two honest nodes that trained from the same point with uncorrelated updates of length `s` are
    /// about `sqrt(2) s` apart (measured on Aria: the cosine between two sites' round updates is
    /// within 0.1 of 0), so a floor of `s` clips honest neighbours whenever the median is below it.
    public var clipStepFloor: Double = 1
    /// Under adaptive clipping, a neighbour whose class counts miss a class (`GossipMessage.missesAClass`) is
    /// clipped to this multiple of the radius. A one-class site strays by design (every stretch pulls towards its
    /// class), so at the plain radius its pull, and with it its class, counts less than its images. 1 (the
    /// default) treats it as any neighbour; above 1, an attacker that claims to miss a class gets that much more
    /// pull. An experiment (`simulate --clip-missing-class-factor`), docs/results.md, "One-class sites".
    public var missingClassRadiusFactor: Double = 1
    /// Under a robust rule, how many distinct recent states of each peer the node remembers (as 64-bit digests,
    /// 8 bytes each) to recognise an old one sent again under a fresh version (`RejectionReason.repeatedState`).
    /// A state seen again becomes the newest, so one replayed every round stays remembered however many others
    /// come between; 256 covers a dozen rounds of a peer publishing at every stretch and tick. 0 turns the check off.
    public var recentStateMemory: Int = 256
    /// Under a robust rule, a peer benched on model evidence keeps being judged: its states are kept (never mixed) and
    /// measured at every tick like the mixed ones, so the bench lasts while they stay far, instead of ending after
    /// the cool-down with the evidence decayed (a sign-flipper is then mixed again until it is counted anew). An honest
    /// site benched for straying keeps hearing the node, comes back nearer, and its evidence decays as before. An
    /// experiment (`simulate --judge-benched`), off by default until measured (docs/results.md).
    public var judgesBenchedPeers = false

    public init(
        gossipInterval: Duration = .seconds(1),
        tickJitter: Double = 0.1,
        stateTimeToLive: Duration = .seconds(5),
        maxParameterCount: Int = 64 * 1024 * 1024,
        clipping: ClippingRule = .none,
        persistEveryRounds: Int = 10,
        scoring: ScoringParameters = ScoringParameters(),
        publishAfterTraining: Bool = true
    ) {
        self.publishAfterTraining = publishAfterTraining
        self.gossipInterval = gossipInterval
        self.tickJitter = max(0, min(tickJitter, 0.9))
        self.stateTimeToLive = stateTimeToLive
        self.maxParameterCount = maxParameterCount
        self.clipping = clipping
        self.persistEveryRounds = max(1, persistEveryRounds)
        self.scoring = scoring
    }
}

/// Centred clipping of neighbour differences (ClippedGossip, He, Karimireddy and Jaggi 2022):
/// `x_i += sum_j W_ij * clip(x_j - p_i, tau)` (`p_i`: the node's own last published state) with `clip(v, tau) = v * min(1, tau / |v|)`.
/// A Byzantine neighbour can then move a node by at most `W_ij * tau` per round, whatever it sends.
public enum ClippingRule: Sendable, Equatable {
    /// Plain averaging: one bad neighbour can drag the node anywhere.
    case none
    /// A fixed radius `tau` in parameter space (L2).
    case fixed(radius: Double)
    /// `tau` is the lower `quantile` (0.5 = the lower median) of the L2 distances to the neighbours
    /// mixed this round, never below the length of the node's own last local training step: a distance
    /// the node knows to be honest. A simple stand-in for the paper's adaptive rule: as long as fewer
    /// than `1 - quantile` of the neighbours attack, the radius is set by honest ones. With one neighbour
    /// a node that has trained takes its own step alone (an attacker heard alone is clipped to it).
    ///
    /// The step is not one of the values the quantile is taken over (it was, until one-class sites were
    /// seen to split into two camps that never met: on a two-and-two split, three neighbours and the step,
    /// the lower median was the distance to the one neighbour in the node's own camp, so the other camp
    /// pulled no harder than the node's own training pulled back). It is the floor instead: neighbours
    /// sitting on the node's own state would otherwise set the radius to zero for good.
    case adaptive(quantile: Double)
    /// Coordinate-wise trimmed mean of the neighbours' differences (Yin et al. 2018; BRIDGE, Yang and Bajwa
    /// 2019, for gossip): for every parameter, the `trim` largest and `trim` smallest of the differences
    /// `x_j - p_i` are dropped and the rest are averaged with their weights, rescaled to the total neighbour
    /// weight, so with nothing to drop it is plain averaging. With fewer than `2 * trim + 1` neighbours in a
    /// round the node keeps its own state that round (it cannot tell who is honest). Safe against up to
    /// `trim` Byzantine neighbours per node, whatever they send.
    case trimmedMean(trim: Int)
}

/// The mixing rules by the names `leuknode start` and `simulate` take (`--aggregation`, with `--trim`).
public enum AggregationRule: String, Sendable, Equatable, CaseIterable {
    /// Plain sample-weighted Metropolis-Hastings averaging.
    case mean
    /// Self-centred clipping (ClippedGossip, He, Karimireddy and Jaggi 2022): each neighbour's difference
    /// to the node's own published state is clipped to the median of those differences' lengths, never below
    /// the node's own last training step (`ClippingRule.adaptive`).
    case clipped
    /// Coordinate-wise trimmed mean of the neighbours' differences, dropping `trim` from each end per
    /// parameter (`ClippingRule.trimmedMean`): safe against up to `trim` attacking neighbours per node.
    case trimmedMean = "trimmed-mean"

    /// What a node and `simulate` use unless told otherwise: clipping. Measured (docs/results.md, "Byzantine
    /// peers"): without attackers it costs nothing against plain averaging, and it holds each measured attack
    /// by three of ten nodes within a point on synthetic cells where plain averaging loses up to 43; on Aria
    /// label-flipping attackers still cost about 4 points. With the own step among the values the median was
    /// taken over, one-class sites split into two camps that never met; `ConnectedFaultScheduleTests` checks
    /// that the two sides of a healed partition agree under this rule.
    public static let defaultRule = AggregationRule.clipped

    /// The gossip core's rule; `trim` is used by `.trimmedMean` only.
    public func clipping(trim: Int) -> ClippingRule {
        switch self {
        case .mean: .none
        case .clipped: .adaptive(quantile: 0.5)
        case .trimmedMean: .trimmedMean(trim: trim)
        }
    }
}

/// Peer scoring after gossipsub v1.1: counters per peer, decayed over time, combined into a score;
/// invalid messages count squared. A peer whose score falls below `banThreshold` is disconnected
/// and ignored for `coolDown`. Scores survive disconnects and restarts (they are in the snapshot).
public struct ScoringParameters: Sendable, Equatable {
    /// Reward per valid, fresh state received (gossipsub P2), counted up to `validDeliveryCap`.
    public var validDeliveryWeight: Double
    public var validDeliveryCap: Double
    /// Applied to the square of the decayed invalid-message counter (gossipsub P4). Negative.
    public var invalidMessageWeight: Double
    /// Applied to the square of the decayed replay counter (a behaviour penalty, gossipsub P7). Negative.
    /// Small, because an honest peer's message can arrive out of order and look like a replay.
    public var replayWeight: Double
    /// Applied to the square of the decayed outlier counter. Negative. Counted only under a robust
    /// rule (clipping or the trimmed mean): plain averaging is the undefended baseline.
    public var outlierWeight: Double
    /// A neighbour whose distance from this node exceeds this multiple of the median distance of the
    /// neighbours mixed at a tick (or of the node's own last step, if larger) is an outlier. Needs at least
    /// 3 neighbours (with 2, the median is one of the two), and an honest majority among them; when more
    /// than a third of them are that far, they are a camp of honest sites and none is counted. 4, not 12:
    /// at 12 small honest sites whose class mix differs were benched less (Aria, 8 nodes, Dirichlet 0.5, seed 2:
    /// 0.959 against 0.945), but an attacker replaying the initial state every round was never benched, and it
    /// held every honest node near that state (10 nodes, 3 attackers: 0.494 against 0.943 at 4; docs/results.md,
    /// "A wider outlier test").
    public var outlierFactor: Double
    /// A neighbour whose signed class counts miss a class is not measured against the others (it strays by
    /// design), but a state farther than this multiple of the node's own parameter norm from the node's state is
    /// an outlier all the same: no honest model lies that far (all start from the same initial parameters), a
    /// diverged or noise-filled one does.
    public var missingClassDistanceLimit: Double
    /// A peer's model evaluated on this node's validation split is poor when its loss exceeds both
    /// `poorModelFactor` times and `poorModelMargin` plus the node's own (`onPeerEvaluation`).
    public var poorModelFactor: Double
    public var poorModelMargin: Double
    /// Counters are multiplied by `decay` once per `decayInterval` (applied continuously) and snap to
    /// zero below `decayToZero`.
    public var decay: Double
    public var decayInterval: Duration
    public var decayToZero: Double
    /// Below this score a peer is disconnected and its messages are ignored (gossipsub graylist).
    public var banThreshold: Double
    public var coolDown: Duration

    public init(
        validDeliveryWeight: Double = 1,
        validDeliveryCap: Double = 10,
        invalidMessageWeight: Double = -10,
        replayWeight: Double = -1,
        outlierWeight: Double = -4,
        outlierFactor: Double = 4,
        missingClassDistanceLimit: Double = 1,
        poorModelFactor: Double = 3,
        poorModelMargin: Double = 1,
        decay: Double = 0.5,
        decayInterval: Duration = .seconds(30),
        decayToZero: Double = 0.01,
        banThreshold: Double = -50,
        coolDown: Duration = .seconds(60)
    ) {
        self.validDeliveryWeight = validDeliveryWeight
        self.validDeliveryCap = validDeliveryCap
        self.invalidMessageWeight = invalidMessageWeight
        self.replayWeight = replayWeight
        self.outlierWeight = outlierWeight
        self.outlierFactor = outlierFactor
        self.missingClassDistanceLimit = missingClassDistanceLimit
        self.poorModelFactor = poorModelFactor
        self.poorModelMargin = poorModelMargin
        self.decay = decay
        self.decayInterval = decayInterval
        self.decayToZero = decayToZero
        self.banThreshold = banThreshold
        self.coolDown = coolDown
    }
}

public import LeukCore

/// What the instance asks its shell to do. The shell executes every case (an exhaustive `switch`
/// with no `default:`), in the order given.
public enum GossipDirective: Sendable, Equatable {
    /// Send this state to this peer (the shell signs it, frames it and writes it to the channel).
    case send(to: NodeID, message: GossipMessage)
    /// Call `onTick` again after this delay.
    case scheduleTick(after: Duration)
    /// Store this snapshot durably; `GossipInstance(configuration:selfID:restoring:)` resumes from it.
    case persist(GossipSnapshot)
    /// Close the connection to this peer and do not reconnect before `until` (score below threshold, with
    /// protocol faults: undecodable or forged frames, replays).
    case disconnect(peer: NodeID, until: Timestamp)
    /// The core refuses this peer's states until `until` (score below threshold on model evidence alone: far
    /// outside the other neighbours, poor on the validation split). The session stays up, so the peer keeps
    /// hearing this node and can come back; the shell has nothing to close, only to report.
    case bench(peer: NodeID, until: Timestamp)
    /// One gossip round finished: for the node's one-line-per-round log and for statistics.
    case roundCompleted(GossipRoundSummary)
    /// Something worth a log line.
    case log(GossipLogEvent)
}

/// Why a message was refused. The raw values are the keys of `rejected` in `leuknode status --json`.
public enum RejectionReason: String, Sendable, Hashable, CaseIterable, Comparable {
    // Detected by the shell / wire layer and reported through `onInvalidMessage`.
    case badSignature = "bad_signature"
    case badDigest = "bad_digest"
    case malformed = "malformed"
    case oversize = "oversize"
    /// Signed by a key this node does not admit (e.g. relayed just after a revocation).
    case unknownAuthor = "unknown_author"
    /// Dated further ahead than the allowed clock skew: a misset clock more likely than an attack.
    case timestampInFuture = "timestamp_in_future"
    /// A signed update of another architecture or class list: a misconfigured peer, never mixed.
    case wrongModel = "wrong_model"
    // Detected by the core in `onMessage`.
    case authorMismatch = "author_mismatch"
    case wrongParameterCount = "wrong_parameter_count"
    case nonFinite = "non_finite"
    case invalidSampleCount = "invalid_sample_count"
    case replay = "replay"
    /// A state bit-identical to one the peer sent earlier, with others in between, under a fresh version: an old
    /// model replayed. Honest training never returns to an exact earlier state. Model evidence, like an outlier.
    case repeatedState = "repeated_state"
    case banned = "banned"

    /// How the refusal scores the sender: invalid messages cost the most (squared counter), replays a
    /// little (they can be honest reordering), a replayed old model counts as model evidence (an outlier: it
    /// benches without shutting the session, since an honest restart from a snapshot re-sends one old state
    /// once), and messages from a banned peer nothing more.
    public enum Penalty: Sendable { case invalid, replay, modelEvidence, none }

    public var penalty: Penalty {
        switch self {
        case .badSignature, .badDigest, .malformed, .oversize, .authorMismatch, .wrongParameterCount, .nonFinite,
             .invalidSampleCount, .wrongModel:
            return .invalid
        case .replay, .timestampInFuture: return .replay
        case .repeatedState: return .modelEvidence
        case .banned, .unknownAuthor: return .none
        }
    }

    public static func < (a: RejectionReason, b: RejectionReason) -> Bool { a.rawValue < b.rawValue }
}

/// A summary of one gossip round of one node.
public struct GossipRoundSummary: Sendable, Equatable {
    public var round: UInt64
    /// The version of the state published this round.
    public var version: UInt64
    /// How many neighbour states were mixed in (fresh, not banned).
    public var mixedPeers: Int
    /// L2 distance the mixing moved the own parameters.
    public var parameterShift: Double
    /// Mean L2 distance to the latest state of each peer, after mixing; `nil` with no peer state.
    public var neighborDistance: Double?
    /// How many neighbour differences were shortened by clipping this round.
    public var clippedPeers: Int
}

public struct GossipLogEvent: Sendable, Equatable {
    public enum Level: String, Sendable { case debug, info, warning }
    public var level: Level
    public var message: String
    public var peer: NodeID?

    public init(level: Level, message: String, peer: NodeID? = nil) {
        self.level = level
        self.message = message
        self.peer = peer
    }
}

/// Everything a node needs to resume after a restart: its model, its version high-water mark (so
/// peers do not take its new states for replays), the newest version seen from each author (so old
/// states cannot be replayed to it), and its peers' scores (so a restart does not forgive a bad peer).
public struct GossipSnapshot: Sendable, Equatable {
    public var parameters: [Float]
    public var sampleCount: Int
    public var version: UInt64
    public var round: UInt64
    public var newestVersionByAuthor: [NodeID: UInt64]
    public var scores: [NodeID: PeerScoreCounters]
    /// The length of the node's last local training step: the floor of its clipping radius
    /// (`ClippingRule.adaptive`), kept so a restarted node is not left without one until it trains again.
    public var lastLocalStep: Double?

    public init(
        parameters: [Float], sampleCount: Int, version: UInt64, round: UInt64,
        newestVersionByAuthor: [NodeID: UInt64], scores: [NodeID: PeerScoreCounters], lastLocalStep: Double? = nil
    ) {
        self.lastLocalStep = lastLocalStep
        self.parameters = parameters
        self.sampleCount = sampleCount
        self.version = version
        self.round = round
        self.newestVersionByAuthor = newestVersionByAuthor
        self.scores = scores
    }
}

public import LeukCore
import LeukCrypto
public import LeukGossip
public import LeukNet
import Foundation

/// A peer as `peer list`, `status` and `GET /v1/peers` show it, everything an operator asks about one
/// peer in one place: the stored `PeerRecord` (with this run's counters added) joined with the two
/// cores' readings of the moment, the connection layer's (`PeerConnectionSnapshot`: state, faults,
/// cool-down, updates sent) and the gossip core's (`GossipPeerSnapshot`: ban, updates accepted,
/// distance). For a node that is not running both readings are absent: no faults, nothing banned, 0.
public struct PeerView: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case connected, connecting, unreachable, refused
        /// The node is not running, so there is no live state to show.
        case offline
    }

    public var id: String
    public var fingerprint: String
    public var address: String
    public var state: State
    public var lastSeen: String?
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var score: Double
    public var rejected: [String: UInt64]
    /// Connection faults since the node started, by `ChannelFailure.code` (refused handshakes,
    /// garbage, timeouts): why a peer that should be connected is not.
    public var faults: [String: Int]
    /// Set while the connection layer neither dials nor admits the peer.
    public var coolDownUntil: String?
    /// Set while the gossip core refuses the peer's updates (its score fell below the threshold).
    public var bannedUntil: String?
    /// What the ban does while `bannedUntil` is set: `bench` (model evidence: the peer's states are
    /// refused, its session stays up and it keeps receiving ours) or `disconnect` (protocol faults: the
    /// session is closed). An operator reads a bench as "check that site's data", a disconnect as
    /// "check that site's software or keys".
    public var ban: Ban?
    public enum Ban: String, Codable, Sendable { case bench, disconnect }
    /// The share of its mixing weight the peer keeps (1 full, 0 none): lowered as its score falls below
    /// zero (outlier distances, poor models on this node's validation split, refused frames), before any
    /// ban; 0 while banned.
    public var trust: Double
    /// Updates from the peer the gossip core accepted since start (replays and refusals not counted),
    /// so the peers' counts add up to `status`'s `updates_received`.
    public var updatesReceived: Int
    /// Updates the connection layer sent the peer since start.
    public var updatesSent: Int
    /// L2 distance between the node's parameters and the peer's latest state, while one is held.
    public var distance: Double?
    /// Loss of the peer's latest model on this node's validation split, as last measured (every few
    /// training rounds): evidence of a poisoned model that distance alone can miss.
    public var validationLoss: Double?

    enum CodingKeys: String, CodingKey {
        case id, fingerprint, address, state
        case lastSeen = "last_seen", bytesIn = "bytes_in", bytesOut = "bytes_out", score, rejected
        case faults, coolDownUntil = "cool_down_until", bannedUntil = "banned_until", ban, trust
        case updatesReceived = "updates_received", updatesSent = "updates_sent", distance
        case validationLoss = "validation_loss"
    }

    /// `record` is the peer's record as the node would store it now (its score and counters current).
    public init(id: NodeID, record: PeerRecord, state: State, connection: PeerConnectionSnapshot? = nil,
                gossip: GossipPeerSnapshot? = nil) {
        self.id = id.hex
        let contact = try? record.parsedContact()
        fingerprint = contact?.fingerprint.text ?? "?"
        address = contact?.address ?? "?"
        self.state = state
        lastSeen = record.lastSeen.map { $0.iso8601 }
        bytesIn = record.bytesIn
        bytesOut = record.bytesOut
        score = record.score
        rejected = record.rejected
        faults = connection?.faults ?? [:]
        coolDownUntil = connection?.coolDownUntil.map { $0.iso8601 }
        bannedUntil = gossip?.bannedUntil.map { $0.iso8601 }
        ban = gossip.flatMap { $0.bannedUntil == nil ? nil : ($0.shutOut ? .disconnect : .bench) }
        trust = gossip?.trust ?? 1
        updatesReceived = gossip?.updatesReceived ?? 0
        updatesSent = connection?.updatesSent ?? 0
        // A peer's overflowed model has no distance worth printing, and JSON has no infinity.
        distance = gossip?.distance.flatMap { $0.isFinite ? $0 : nil }
    }
}

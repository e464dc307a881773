public import LeukCore
public import LeukCrypto
public import LeukWire

public enum ConnectionDirection: String, Sendable, Equatable {
    /// The peer dialled us.
    case inbound
    /// We dialled the peer.
    case outbound
}

/// A connection that did not become a session, for the operator: who knocked (when the handshake
/// got far enough to learn it), from where, and why it was turned away.
public struct RefusedConnection: Sendable, Equatable {
    /// The stranger's fingerprint, when it proved an identity we do not admit.
    public let fingerprint: Fingerprint?
    public let peer: NodeID?
    public let address: String
    public let direction: ConnectionDirection
    public let reason: ChannelFailure
}

/// What the shell reports to the node and the gossip core.
public enum NetworkEvent: Sendable, Equatable {
    case peerConnected(NodeID, address: String, direction: ConnectionDirection)
    /// `reason` is nil for an orderly close.
    case peerDisconnected(NodeID, reason: ChannelFailure?)
    /// A verified update: signature, digest, bounds and finiteness checked. Freshness (replays) is
    /// the gossip core's to judge, not the shell's.
    case received(ModelUpdate, from: NodeID)
    case refused(RefusedConnection)
    /// An update (or a frame) a connected peer sent and we refused; the gossip core scores the peer
    /// with it.
    case rejected(UpdateRejection, from: NodeID)
}

public enum PeerConnectionState: String, Sendable, Equatable {
    case connected, connecting, unreachable, refused, disconnected
    /// Disconnected for a cool-down period (`disconnect(peer:coolDown:)`, or garbage on the wire):
    /// neither dialled nor admitted in handshakes until it ends.
    case coolingDown = "cooling-down"
}

/// The connection layer's reading of one peer at one moment: a copy of `PeerConnections`' record of
/// it, the one place connection state, traffic and faults are counted. Not what an operator sees: the
/// node joins it with its stored `PeerRecord` and the gossip core's `GossipPeerSnapshot` into the one
/// `PeerView`.
public struct PeerConnectionSnapshot: Sendable, Equatable {
    public let peer: NodeID
    public let address: String?
    public let state: PeerConnectionState
    public let lastSeen: Timestamp?
    public let bytesReceived: UInt64
    public let bytesSent: UInt64
    public let updatesReceived: Int
    public let updatesSent: Int
    /// Connection faults by `ChannelFailure.code` (refused handshakes, garbage, timeouts) since start.
    public let faults: [String: Int]
    /// Set while the peer is in a cool-down.
    public let coolDownUntil: Timestamp?

    public init(peer: NodeID, address: String?, state: PeerConnectionState, lastSeen: Timestamp?, bytesReceived: UInt64,
                bytesSent: UInt64, updatesReceived: Int, updatesSent: Int, faults: [String: Int] = [:],
                coolDownUntil: Timestamp? = nil) {
        self.peer = peer
        self.address = address
        self.state = state
        self.lastSeen = lastSeen
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.updatesReceived = updatesReceived
        self.updatesSent = updatesSent
        self.faults = faults
        self.coolDownUntil = coolDownUntil
    }
}

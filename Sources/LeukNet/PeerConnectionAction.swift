public import LeukCore
public import LeukWire

/// Names one TCP connection for as long as it lives. Outbound ids are numbered by
/// `PeerConnections` when it decides to dial, so the dial's failure and its channel's events name the
/// same attempt; inbound ids are numbered by the listener on the event loop as channels arrive,
/// before the core hears of them. The direction keeps the two counters apart.
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let direction: ConnectionDirection
    public let number: UInt64

    public init(_ direction: ConnectionDirection, _ number: UInt64) {
        self.direction = direction
        self.number = number
    }

    public static func < (a: ConnectionID, b: ConnectionID) -> Bool {
        (a.direction.rawValue, a.number) < (b.direction.rawValue, b.number)
    }

    public var description: String { "\(direction == .inbound ? "in" : "out")#\(number)" }
}

/// What `PeerConnections` asks its shell to do. The shell executes every case, in order, with an
/// exhaustive `switch` and no `default:` (as the gossip shell executes `GossipDirective`).
public enum PeerConnectionAction: Sendable, Equatable {
    /// Open a TCP connection to `host:port`; the channel is `connection`. The shell answers with
    /// `dialSucceeded` once the channel exists, or `dialFailed`.
    case dial(NodeID, host: String, port: Int, connection: ConnectionID)
    /// Call `dialDue(_:now:)` for this peer after `after`; replaces the peer's earlier timer.
    case scheduleDial(NodeID, after: Duration)
    /// Drop the peer's dial timer, if any.
    case cancelDial(NodeID)
    /// Close the connection, sending `goodbye` first when set (only an open session can carry it).
    case close(ConnectionID, goodbye: GoodbyeReason?)
    /// Mirror a cool-down into the table that handshakes on the event loops consult (nil: lifted).
    /// The core decides; the table only lets a handshake refuse without waiting for the core.
    case setCoolDown(NodeID, until: Timestamp?)
    /// Tell the node (the shell's `events`).
    case report(NetworkEvent)
    /// A line for the operator's log.
    case log(PeerConnectionLog)
}

public struct PeerConnectionLog: Sendable, Equatable {
    public enum Level: String, Sendable { case debug, info, notice }
    public var level: Level
    public var message: String
    public var peer: NodeID?

    public init(_ level: Level, _ message: String, peer: NodeID? = nil) {
        self.level = level
        self.message = message
        self.peer = peer
    }
}

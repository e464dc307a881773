public import LeukCore

/// Schedules model-update verification (Ed25519 and SHA-256 over megabytes) with bounded
/// concurrency and read backpressure. Pure, like `PeerConnections`: it returns actions and
/// `NetworkShell` carries them out.
///
/// At most `slots` verifications run at once, one per peer, so a peer's updates reach the gossip
/// core in the order it sent them (an honest peer is never scored for a replay our reordering made).
/// An envelope that finds no slot waits, at most one per peer (a newer one replaces it: gossip
/// states supersede each other), and its connection stops being read until it gets a slot. A peer
/// that floods valid frames is thus slowed by TCP's own flow control instead of costing us memory or
/// CPU, and its sends see a busy channel (`NetworkError.peerBusy`).
public struct VerificationQueue: Sendable {
    public enum Action: Sendable, Equatable {
        case verify([UInt8], from: NodeID)
        case pauseReading(ConnectionID)
        case resumeReading(ConnectionID)
    }

    struct Waiting: Sendable {
        var peer: NodeID
        var connection: ConnectionID
        var envelope: [UInt8]
    }

    public let slots: Int
    private(set) var running: Set<NodeID> = []
    /// Oldest waiter first.
    private var waiting: [Waiting] = []
    public private(set) var paused: Set<ConnectionID> = []
    /// Envelopes replaced by a newer one from the same peer before they were verified.
    public private(set) var superseded = 0
    /// Times a connection's reading was paused.
    public private(set) var pauses = 0

    public init(slots: Int) { self.slots = max(1, slots) }

    public var runningCount: Int { running.count }
    public var waitingCount: Int { waiting.count }

    /// An update arrived from `peer` on `connection`.
    public mutating func arrived(_ envelope: [UInt8], from peer: NodeID, on connection: ConnectionID) -> [Action] {
        if let index = waiting.firstIndex(where: { $0.peer == peer }) {
            waiting[index].envelope = envelope
            waiting[index].connection = connection
            superseded += 1
        } else {
            waiting.append(Waiting(peer: peer, connection: connection, envelope: envelope))
        }
        var actions = startReady()
        if waiting.contains(where: { $0.connection == connection }) && !paused.contains(connection) {
            paused.insert(connection)
            pauses += 1
            actions.append(.pauseReading(connection))
        }
        return actions
    }

    /// The verification of `peer`'s envelope ended (either way); its slot goes to the next waiter.
    public mutating func finished(_ peer: NodeID) -> [Action] {
        running.remove(peer)
        return startReady()
    }

    /// The connection is gone: nothing to resume. Its waiting envelope is still verified (it was
    /// read in full from an authenticated session).
    public mutating func connectionClosed(_ connection: ConnectionID) {
        paused.remove(connection)
    }

    private mutating func startReady() -> [Action] {
        var actions: [Action] = []
        while running.count < slots, let index = waiting.firstIndex(where: { !running.contains($0.peer) }) {
            let next = waiting.remove(at: index)
            running.insert(next.peer)
            actions.append(.verify(next.envelope, from: next.peer))
            if paused.remove(next.connection) != nil { actions.append(.resumeReading(next.connection)) }
        }
        return actions
    }
}

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
///
/// A peer's verifications also start at most once per `minimumInterval` (a rate limit): without it a
/// flooding peer would keep one slot busy all the time, a core's worth of Ed25519 and SHA-256 for
/// updates that only supersede each other. An honest node publishes about twice per gossip interval
/// (its tick, and at once after local training), well under the default of four per second.
public struct VerificationQueue: Sendable {
    public enum Action: Sendable, Equatable {
        case verify([UInt8], from: NodeID)
        case pauseReading(ConnectionID)
        case resumeReading(ConnectionID)
        /// A waiting update is held back by its peer's rate limit: call `timerFired(now:)` at this time.
        case wakeUp(at: Timestamp)
    }

    struct Waiting: Sendable {
        var peer: NodeID
        var connection: ConnectionID
        var envelope: [UInt8]
    }

    public let slots: Int
    public let minimumInterval: Duration
    private(set) var running: Set<NodeID> = []
    /// When each peer's last verification started, for the rate limit.
    private var lastStart: [NodeID: Timestamp] = [:]
    /// The wake-up asked for and not yet fired, so one is not asked for twice.
    private var pendingWakeUp: Timestamp?
    /// Times an update had to wait for its peer's rate limit.
    public private(set) var rateLimited = 0
    /// Peers whose waiting update is held back by the rate limit now (each hold counted once).
    private var held: Set<NodeID> = []
    /// Oldest waiter first.
    private var waiting: [Waiting] = []
    public private(set) var paused: Set<ConnectionID> = []
    /// Envelopes replaced by a newer one from the same peer before they were verified.
    public private(set) var superseded = 0
    /// Times a connection's reading was paused.
    public private(set) var pauses = 0

    public init(slots: Int, minimumInterval: Duration = .milliseconds(250)) {
        self.slots = max(1, slots)
        self.minimumInterval = max(minimumInterval, .zero)
    }

    public var runningCount: Int { running.count }
    public var waitingCount: Int { waiting.count }

    /// An update arrived from `peer` on `connection`.
    public mutating func arrived(_ envelope: [UInt8], from peer: NodeID, on connection: ConnectionID, now: Timestamp) -> [Action] {
        if let index = waiting.firstIndex(where: { $0.peer == peer }) {
            waiting[index].envelope = envelope
            waiting[index].connection = connection
            superseded += 1
        } else {
            waiting.append(Waiting(peer: peer, connection: connection, envelope: envelope))
        }
        var actions = startReady(now: now)
        if waiting.contains(where: { $0.connection == connection }) && !paused.contains(connection) {
            paused.insert(connection)
            pauses += 1
            actions.append(.pauseReading(connection))
        }
        return actions
    }

    /// The verification of `peer`'s envelope ended (either way); its slot goes to the next waiter.
    public mutating func finished(_ peer: NodeID, now: Timestamp) -> [Action] {
        running.remove(peer)
        return startReady(now: now)
    }

    /// The wake-up asked for by `.wakeUp` is due.
    public mutating func timerFired(now: Timestamp) -> [Action] {
        pendingWakeUp = nil
        return startReady(now: now)
    }

    /// The connection is gone: nothing to resume. Its waiting envelope is still verified (it was
    /// read in full from an authenticated session).
    public mutating func connectionClosed(_ connection: ConnectionID) {
        paused.remove(connection)
    }

    /// A wall clock set back (NTP, an operator) puts `now` before the last start: the limit then lets the
    /// update through instead of holding every peer until the clock has caught up again.
    private func mayStart(_ peer: NodeID, now: Timestamp) -> Bool {
        guard let last = lastStart[peer], now >= last else { return true }
        return now >= last.adding(minimumInterval)
    }

    private mutating func startReady(now: Timestamp) -> [Action] {
        var actions: [Action] = []
        while running.count < slots,
              let index = waiting.firstIndex(where: { !running.contains($0.peer) && mayStart($0.peer, now: now) }) {
            let next = waiting.remove(at: index)
            running.insert(next.peer)
            held.remove(next.peer)
            lastStart[next.peer] = now
            actions.append(.verify(next.envelope, from: next.peer))
            if paused.remove(next.connection) != nil { actions.append(.resumeReading(next.connection)) }
        }
        // Waiters held back only by their rate limit: wake up when the first one may start.
        let limited = waiting.filter { !running.contains($0.peer) && !mayStart($0.peer, now: now) }
        for waiter in limited where held.insert(waiter.peer).inserted { rateLimited += 1 }
        if running.count < slots, let due = limited.compactMap({ lastStart[$0.peer]?.adding(minimumInterval) }).min() {
            if pendingWakeUp.map({ due < $0 }) ?? true {
                pendingWakeUp = due
                actions.append(.wakeUp(at: due))
            }
        }
        return actions
    }
}

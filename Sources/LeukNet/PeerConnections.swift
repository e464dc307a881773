public import LeukCore
import LeukCrypto
public import LeukWire

/// The connection lifecycle of one node, as a pure state machine: whom to dial and when to redial,
/// which of two simultaneous connections to the same peer survives, cool-downs, and the per-peer
/// count of bytes, updates and faults that `peer list` shows.
///
/// Like `GossipInstance` (and SWIM's `SWIM.Instance`, or AsyncHTTPClient's connection-pool state
/// machine), it never touches a socket, a timer, the clock or a global random source: every event
/// takes `now`, the jitter of its backoff comes from a generator seeded in its configuration, and
/// each event returns the `PeerConnectionAction`s for `NetworkShell` to execute. So every decision
/// is tested without a socket (`PeerConnectionsTests`), and the shell holds no lifecycle rule.
///
/// What it does not decide: whom to admit (the `AdmissionPolicy`, asked in handshakes), and whom
/// to punish for what an update says. Replays, scores and bans belong to the gossip core, which
/// asks for a cool-down through `disconnectRequested`.
public struct PeerConnections: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var backoff: ReconnectBackoff
        /// Seed of the backoff jitter, so a redial schedule replays exactly.
        public var jitterSeed: UInt64
        /// How long a peer whose session carried garbage (`ChannelFailure.isProtocolViolation`) is
        /// neither redialled nor admitted: a broken peer is not hammered into the same failure.
        public var faultCoolDown: Duration
        /// Inbound connections allowed to be mid-handshake at once; more are closed on arrival, so
        /// strangers holding half-finished handshakes cannot exhaust the node.
        public var maximumPendingHandshakes: Int
        /// Of those, how many may come from one IP address. Without it one host holding
        /// `maximumPendingHandshakes` silent connections (a slowloris, renewed every handshake timeout)
        /// would close the door to every admitted peer that needs a new session; with it that host
        /// fills only its own share, and peers elsewhere still get in.
        public var maximumPendingHandshakesPerAddress: Int
        /// Refused connections kept for the operator's status view.
        public var recentRefusalLimit: Int

        public init(backoff: ReconnectBackoff = ReconnectBackoff(), jitterSeed: UInt64 = 0, faultCoolDown: Duration = .seconds(30),
                    maximumPendingHandshakes: Int = 64, maximumPendingHandshakesPerAddress: Int = 16, recentRefusalLimit: Int = 100) {
            self.backoff = backoff
            self.jitterSeed = jitterSeed
            self.faultCoolDown = faultCoolDown
            self.maximumPendingHandshakes = maximumPendingHandshakes
            self.maximumPendingHandshakesPerAddress = maximumPendingHandshakesPerAddress
            self.recentRefusalLimit = recentRefusalLimit
        }
    }

    /// Where a peer's dialling stands.
    enum DialState: Equatable {
        /// Not dialling and no timer: connected, or not ours to dial.
        case idle
        /// A `dialDue` timer is armed.
        case waiting
        /// A dial is under way on this connection (TCP connect or handshake).
        case dialling(ConnectionID)
    }

    /// Everything the node knows about one peer's connections: the one peer record of LeukNet.
    struct Peer {
        /// Where to dial; nil for a peer that only dials us (not ours to keep connected).
        var host: String?
        var port = 0
        /// The address its session came from, shown when we have no dial address.
        var seenAddress: String?
        var session: ConnectionID?
        var dial = DialState.idle
        /// Failed attempts since the last session opened: the backoff's exponent.
        var attempt = 0
        var coolDownUntil: Timestamp?
        var state = PeerConnectionState.disconnected
        var lastSeen: Timestamp?
        var bytesReceived: UInt64 = 0
        var bytesSent: UInt64 = 0
        var updatesReceived = 0
        var updatesSent = 0
        var faults: [String: Int] = [:]

        var address: String? { host.map { "\($0):\(port)" } ?? seenAddress }
        func isCoolingDown(at now: Timestamp) -> Bool { coolDownUntil.map { now < $0 } ?? false }
    }

    struct Connection {
        let direction: ConnectionDirection
        /// The peer we meant to reach (outbound only).
        let dialled: NodeID?
        var address: String
        /// Set when the handshake proved who is on the other end.
        var peer: NodeID?
        /// Why the session failed, reported when it closes.
        var failure: ChannelFailure?
        /// We asked the shell to close it; whatever it still reports changes nothing.
        var closing = false
        /// Bytes moved before the handshake named the peer; added to the peer's count then.
        var bytesReceived: UInt64 = 0
        var bytesSent: UInt64 = 0
    }

    public let localID: NodeID
    public let configuration: Configuration
    private var jitter: SeededGenerator
    private var nextOutbound: UInt64 = 0
    private var peers: [NodeID: Peer] = [:]
    private var connections: [ConnectionID: Connection] = [:]
    private var shuttingDown = false
    public private(set) var refusedConnectionCount = 0
    /// The latest refused connections, newest last.
    public private(set) var recentRefusals: [RefusedConnection] = []

    public init(localID: NodeID, configuration: Configuration = Configuration()) {
        self.localID = localID
        self.configuration = configuration
        jitter = SeededGenerator(seed: configuration.jitterSeed)
    }

    // MARK: Queries

    /// The open session with `peer`, the only connection updates are sent on.
    public func session(of peer: NodeID) -> ConnectionID? { peers[peer]?.session }

    public var connectedPeers: [NodeID] { peers.filter { $0.value.session != nil }.keys.sorted() }

    /// Connections the shell holds or is opening: sessions, handshakes and dials alike.
    public var connectionCount: Int { connections.count }

    /// The peer whose live session `connection` is; nil for a handshake, a losing duplicate, or a
    /// connection being closed (frames from those are not the node's business).
    public func sessionPeer(of connection: ConnectionID) -> NodeID? {
        guard let peer = connections[connection]?.peer, peers[peer]?.session == connection else { return nil }
        return peer
    }

    /// Every known peer, sorted by id. A connected peer answers keep-alives, so it was seen `now`.
    public func snapshots(now: Timestamp) -> [PeerConnectionSnapshot] {
        peers.keys.sorted().map { id in
            let p = peers[id]!
            return PeerConnectionSnapshot(peer: id, address: p.address, state: p.state, lastSeen: p.session != nil ? now : p.lastSeen,
                              bytesReceived: p.bytesReceived, bytesSent: p.bytesSent, updatesReceived: p.updatesReceived,
                              updatesSent: p.updatesSent, faults: p.faults,
                              coolDownUntil: p.isCoolingDown(at: now) ? p.coolDownUntil : nil)
        }
    }

    // MARK: Peers the node keeps

    /// Keeps a connection to `peer` at `host:port` (a new address replaces the old one): dial now,
    /// unless connected, already dialling, or cooling down.
    public mutating func peerAdded(_ peer: NodeID, host: String, port: Int, now: Timestamp) -> [PeerConnectionAction] {
        guard peer != localID, !shuttingDown else { return [] }
        peers[peer, default: Peer()].host = host
        peers[peer]!.port = port
        if peers[peer]!.dial == .waiting && !peers[peer]!.isCoolingDown(at: now) {
            // An operator re-adding a peer means "try now", not "after the backoff".
            peers[peer]!.dial = .idle
            return [.cancelDial(peer)] + dialIfPossible(peer, now: now)
        }
        return dialIfPossible(peer, now: now)
    }

    /// Forgets the peer (the operator revoked it): no more dialling, every connection to it closes,
    /// and its record goes, counters included (the node keeps its own long-term record).
    public mutating func peerRemoved(_ peer: NodeID, now: Timestamp) -> [PeerConnectionAction] {
        guard let record = peers.removeValue(forKey: peer) else { return [] }
        var actions: [PeerConnectionAction] = [.cancelDial(peer)]
        if record.coolDownUntil != nil { actions.append(.setCoolDown(peer, until: nil)) }
        for id in connections.keys.sorted() where connections[id]!.peer == peer || connections[id]!.dialled == peer {
            actions += close(id, goodbye: connections[id]!.peer == nil ? nil : .removedByOperator)
        }
        if record.session != nil { actions.append(.report(.peerDisconnected(peer, reason: nil))) }
        return actions
    }

    /// The peer's dial timer fired.
    public mutating func dialDue(_ peer: NodeID, now: Timestamp) -> [PeerConnectionAction] {
        guard peers[peer]?.dial == .waiting else { return [] }  // a stale timer
        peers[peer]!.dial = .idle
        return dialIfPossible(peer, now: now)
    }

    /// Closes the session with `peer`. With a cool-down, the peer is also refused in handshakes and
    /// not redialled until it ends: the gossip core's penalty for a peer whose score fell too low.
    /// Without one, the peer is redialled after the usual backoff.
    public mutating func disconnectRequested(_ peer: NodeID, reason: GoodbyeReason, coolDown: Duration?,
                                             now: Timestamp) -> [PeerConnectionAction] {
        guard peer != localID else { return [] }
        var actions: [PeerConnectionAction] = []
        if let coolDown {
            actions += startCoolDown(peer, until: now.adding(coolDown), now: now)
        }
        guard let session = peers[peer]?.session else { return actions }
        return actions + close(session, goodbye: coolDown == nil ? reason : .coolDown)
    }

    // MARK: Connections

    /// The shell's TCP connect for `connection` produced a channel; the handshake runs next.
    public mutating func dialSucceeded(_ connection: ConnectionID, now: Timestamp) -> [PeerConnectionAction] {
        guard let c = connections[connection], !c.closing else {
            // Removed, or the dial was given up, while TCP connected.
            return [.close(connection, goodbye: nil)]
        }
        return []
    }

    /// The TCP connect for `connection` failed (refused, unreachable, timed out).
    public mutating func dialFailed(_ connection: ConnectionID, error: String, now: Timestamp) -> [PeerConnectionAction] {
        guard let c = connections.removeValue(forKey: connection), let peer = c.dialled else { return [] }
        var actions: [PeerConnectionAction] = [.log(PeerConnectionLog(.debug, "dial failed: \(error)", peer: peer))]
        if peers[peer]?.state == .connecting { peers[peer]!.state = .unreachable }
        actions += retry(peer, after: connection, now: now)
        return actions
    }

    /// A peer dialled us. Past the cap on pending handshakes, overall or from its IP address, it is
    /// closed at once, and counted as refused (so an operator sees the flood in `status`).
    public mutating func inboundAccepted(_ connection: ConnectionID, address: String, now: Timestamp) -> [PeerConnectionAction] {
        let host = Self.host(of: address)
        var pending = 0, pendingFromHost = 0
        for c in connections.values where c.direction == .inbound && c.peer == nil && !c.closing {
            pending += 1
            if Self.host(of: c.address) == host { pendingFromHost += 1 }
        }
        connections[connection] = Connection(direction: .inbound, dialled: nil, address: address)
        if shuttingDown { return close(connection, goodbye: nil) }
        let limit: (count: Int, perAddress: Bool)?
        if pending >= configuration.maximumPendingHandshakes {
            limit = (configuration.maximumPendingHandshakes, false)
        } else if pendingFromHost >= configuration.maximumPendingHandshakesPerAddress {
            limit = (configuration.maximumPendingHandshakesPerAddress, true)
        } else {
            limit = nil
        }
        guard let limit else { return [] }
        let failure = ChannelFailure.tooManyPendingHandshakes(limit: limit.count, fromOneAddress: limit.perAddress)
        return refuse(connection, peer: nil, fingerprint: nil, reason: failure, now: now) + close(connection, goodbye: nil)
    }

    /// The IP address of a `host:port` (or `[v6]:port`, or `v6:port`) address: what the per-address cap counts by.
    static func host(of address: String) -> Substring {
        guard let colon = address.lastIndex(of: ":") else { return address[...] }
        return address[..<colon]
    }

    /// The handshake on `connection` proved `peer`'s identity (and the admission policy admitted it).
    /// Refuses a peer in a cool-down, and resolves duplicate sessions by a rule both ends apply alike.
    public mutating func handshakeCompleted(_ connection: ConnectionID, peer: NodeID, now: Timestamp) -> [PeerConnectionAction] {
        guard var c = connections[connection], !c.closing else { return [] }
        c.peer = peer
        connections[connection] = c
        var record = peers[peer] ?? Peer()
        record.bytesReceived += c.bytesReceived
        record.bytesSent += c.bytesSent
        connections[connection]!.bytesReceived = 0
        connections[connection]!.bytesSent = 0
        peers[peer] = record

        if record.isCoolingDown(at: now) {
            // The handshake's mirror of the cool-down lagged behind the decision, or we dialled
            // before it began: the session is refused all the same.
            return close(connection, goodbye: .coolDown) + refuse(connection, peer: peer, fingerprint: nil,
                                                                  reason: .coolingDown(peer), now: now)
        }
        var actions: [PeerConnectionAction] = []
        if record.coolDownUntil != nil {
            record.coolDownUntil = nil  // over: lift its mirror too
            actions.append(.setCoolDown(peer, until: nil))
        }
        if let existing = record.session, existing != connection, let old = connections[existing] {
            guard keepsNew(c, over: old, peer: peer) else {
                // Our own dial lost: it is over, so a later loss of the session redials.
                if record.dial == .dialling(connection) { record.dial = .idle }
                peers[peer] = record
                return actions + close(connection, goodbye: .duplicateConnection)
            }
            actions += close(existing, goodbye: .duplicateConnection)
            record.session = connection
        } else {
            record.session = connection
            actions.append(.report(.peerConnected(peer, address: c.address, direction: c.direction)))
            actions.append(.log(PeerConnectionLog(.info, "peer connected (\(c.direction.rawValue))", peer: peer)))
        }
        switch record.dial {
        case .waiting:
            actions.append(.cancelDial(peer))
            record.dial = .idle
        case let .dialling(attempt) where attempt == connection:
            record.dial = .idle
        case .dialling, .idle:
            break  // an own dial still under way ends as a duplicate, resolved by the same rule
        }
        record.attempt = 0
        record.state = .connected
        record.lastSeen = now
        if c.direction == .outbound || record.seenAddress == nil { record.seenAddress = c.address }
        peers[peer] = record
        return actions
    }

    /// The handshake on `connection` failed: a stranger, a refusal, a timeout, garbage.
    public mutating func handshakeFailed(_ connection: ConnectionID, failure: ChannelFailure, now: Timestamp) -> [PeerConnectionAction] {
        guard let c = connections[connection], c.peer == nil else { return faultObserved(connection, failure: failure, now: now) }
        // We closed it ourselves (a cap, a removal, shutdown): its "closed during the handshake" is our own
        // doing, already accounted for when we decided to close it.
        guard !c.closing else { return [] }
        var fingerprint: Fingerprint?
        var named = c.dialled
        var reason = failure
        if case let .handshake(.notAdmitted(identity)) = failure {
            fingerprint = identity.fingerprint
            named = identity.id
            // The handshake only asks yes or no; say why when the answer was our cool-down.
            if peers[identity.id]?.isCoolingDown(at: now) == true { reason = .coolingDown(identity.id) }
        }
        if let dialled = c.dialled, peers[dialled] != nil {
            peers[dialled]!.state = .refused
            peers[dialled]!.faults[reason.code, default: 0] += 1
        } else if let named, peers[named] != nil {
            peers[named]!.faults[reason.code, default: 0] += 1
        }
        return refuse(connection, peer: named, fingerprint: fingerprint, reason: reason, now: now)
    }

    /// An open session failed: counted against the peer. Garbage on the wire (a protocol violation)
    /// also starts a cool-down, and garbage that decrypted under the session's keys, which only the
    /// peer can have sent, is reported to the gossip core as a malformed message, which scores it.
    public mutating func faultObserved(_ connection: ConnectionID, failure: ChannelFailure, now: Timestamp) -> [PeerConnectionAction] {
        guard var c = connections[connection] else { return [] }
        guard let peer = c.peer else { return handshakeFailed(connection, failure: failure, now: now) }
        c.failure = c.failure ?? failure
        connections[connection] = c
        peers[peer, default: Peer()].faults[failure.code, default: 0] += 1
        var actions: [PeerConnectionAction] = [.log(PeerConnectionLog(.notice, "session failed: \(failure.description)", peer: peer))]
        if failure.isAuthenticatedGarbage {
            actions.append(.report(.rejected(.malformed(field: "frame", why: failure.description), from: peer)))
        }
        if failure.isProtocolViolation {
            actions += startCoolDown(peer, until: now.adding(configuration.faultCoolDown), now: now)
        }
        return actions + close(connection, goodbye: nil)
    }

    /// A frame arrived on `connection`; returns the peer when it is that peer's live session.
    public mutating func frameReceived(_ connection: ConnectionID, now: Timestamp) -> NodeID? {
        guard let peer = sessionPeer(of: connection) else { return nil }
        peers[peer]!.lastSeen = now
        return peer
    }

    /// The channel is gone. A lost session is reported, and the peer redialled after its backoff
    /// (or when its cool-down ends); a failed dial is retried the same way.
    public mutating func channelClosed(_ connection: ConnectionID, now: Timestamp) -> [PeerConnectionAction] {
        guard let c = connections.removeValue(forKey: connection) else { return [] }
        guard let peer = c.peer else {
            guard let dialled = c.dialled else { return [] }
            if peers[dialled]?.state == .connecting { peers[dialled]!.state = .unreachable }
            return retry(dialled, after: connection, now: now)
        }
        guard var record = peers[peer], record.session == connection else { return [] }
        record.session = nil
        record.state = record.isCoolingDown(at: now) ? .coolingDown : .disconnected
        record.lastSeen = now
        peers[peer] = record
        var actions: [PeerConnectionAction] = [
            .report(.peerDisconnected(peer, reason: c.failure)),
            .log(PeerConnectionLog(.info, "peer disconnected\(c.failure.map { ": \($0.description)" } ?? "")", peer: peer)),
        ]
        if record.host != nil && !shuttingDown {
            if case .dialling = record.dial { return actions }  // the other dial still runs
            actions += scheduleRetry(peer, now: now)
        }
        return actions
    }

    /// Stops dialling and closes everything, saying goodbye on open sessions.
    public mutating func shutdownRequested(now: Timestamp) -> [PeerConnectionAction] {
        guard !shuttingDown else { return [] }
        shuttingDown = true
        var actions: [PeerConnectionAction] = []
        for peer in peers.keys.sorted() where peers[peer]!.dial != .idle {
            peers[peer]!.dial = .idle
            actions.append(.cancelDial(peer))
        }
        for id in connections.keys.sorted() {
            actions += close(id, goodbye: sessionPeer(of: id) != nil ? .shuttingDown : nil)
        }
        return actions
    }

    // MARK: Accounting

    /// Bytes read from `connection` since the last report (handshake and encryption included).
    public mutating func bytesRead(_ connection: ConnectionID, count: UInt64, now: Timestamp) {
        guard count > 0, connections[connection] != nil else { return }
        if let peer = connections[connection]!.peer, peers[peer] != nil {
            peers[peer]!.bytesReceived &+= count
            peers[peer]!.lastSeen = now
        } else {
            connections[connection]!.bytesReceived &+= count
        }
    }

    /// Bytes written to `connection` since the last report.
    public mutating func bytesWritten(_ connection: ConnectionID, count: UInt64, now: Timestamp) {
        guard count > 0, connections[connection] != nil else { return }
        if let peer = connections[connection]!.peer, peers[peer] != nil {
            peers[peer]!.bytesSent &+= count
        } else {
            connections[connection]!.bytesSent &+= count
        }
    }

    public mutating func updateSent(to peer: NodeID) { peers[peer]?.updatesSent += 1 }
    public mutating func updateVerified(from peer: NodeID) { peers[peer]?.updatesReceived += 1 }

    // MARK: Rules

    /// Both ends keep the session whose initiator has the smaller node id (bytewise), so they agree
    /// without a message. Two sessions dialled by the same side mean the initiator gave up on the
    /// older one (a restart, a half-dead socket), so the newer one wins.
    func keepsNew(_ new: Connection, over old: Connection, peer: NodeID) -> Bool {
        func initiator(_ c: Connection) -> NodeID { c.direction == .outbound ? localID : peer }
        if initiator(new) == initiator(old) { return true }
        return initiator(new) == min(localID, peer)
    }

    private mutating func dialIfPossible(_ peer: NodeID, now: Timestamp) -> [PeerConnectionAction] {
        guard !shuttingDown, var record = peers[peer], let host = record.host, record.session == nil,
              record.dial == .idle else { return [] }
        if record.isCoolingDown(at: now) {
            record.dial = .waiting
            peers[peer] = record
            return [.scheduleDial(peer, after: Self.atLeastAMillisecond(record.coolDownUntil!.since(now)))]
        }
        var actions: [PeerConnectionAction] = []
        if record.coolDownUntil != nil {
            record.coolDownUntil = nil
            actions.append(.setCoolDown(peer, until: nil))
        }
        nextOutbound += 1
        let id = ConnectionID(.outbound, nextOutbound)
        connections[id] = Connection(direction: .outbound, dialled: peer, address: "\(host):\(record.port)")
        record.dial = .dialling(id)
        if record.state != .connected { record.state = .connecting }
        peers[peer] = record
        return actions + [.dial(peer, host: host, port: record.port, connection: id)]
    }

    /// The dial on `connection` ended without a session; retry unless another attempt took over.
    private mutating func retry(_ peer: NodeID, after connection: ConnectionID, now: Timestamp) -> [PeerConnectionAction] {
        guard peers[peer]?.dial == .dialling(connection) else { return [] }
        peers[peer]!.dial = .idle
        guard peers[peer]!.session == nil, !shuttingDown else { return [] }
        return scheduleRetry(peer, now: now)
    }

    /// Arms the peer's dial timer: the rest of its cool-down, else the jittered backoff.
    private mutating func scheduleRetry(_ peer: NodeID, now: Timestamp) -> [PeerConnectionAction] {
        guard var record = peers[peer], record.host != nil else { return [] }
        let delay: Duration
        if record.isCoolingDown(at: now) {
            delay = Self.atLeastAMillisecond(record.coolDownUntil!.since(now))
        } else {
            delay = configuration.backoff.delay(forAttempt: record.attempt, using: &jitter)
            record.attempt += 1
        }
        record.dial = .waiting
        peers[peer] = record
        return [.scheduleDial(peer, after: delay)]
    }

    private mutating func startCoolDown(_ peer: NodeID, until: Timestamp, now: Timestamp) -> [PeerConnectionAction] {
        var record = peers[peer] ?? Peer()
        let end = max(until, record.coolDownUntil ?? until)
        record.coolDownUntil = end
        record.state = .coolingDown  // a session still open is being closed for it
        var actions: [PeerConnectionAction] = [
            .setCoolDown(peer, until: end),
            .log(PeerConnectionLog(.notice, "cooling down until \(end)", peer: peer)),
        ]
        if record.host != nil {
            // The timer replaces any backoff; a dial under way is refused at its handshake.
            record.dial = .waiting
            actions.append(.scheduleDial(peer, after: Self.atLeastAMillisecond(end.since(now))))
        }
        peers[peer] = record
        return actions
    }

    private mutating func close(_ connection: ConnectionID, goodbye: GoodbyeReason?) -> [PeerConnectionAction] {
        guard connections[connection]?.closing == false else { return [] }
        connections[connection]!.closing = true
        return [.close(connection, goodbye: goodbye)]
    }

    private mutating func refuse(_ connection: ConnectionID, peer: NodeID?, fingerprint: Fingerprint?, reason: ChannelFailure,
                                 now: Timestamp) -> [PeerConnectionAction] {
        guard let c = connections[connection] else { return [] }
        refusedConnectionCount += 1
        let refusal = RefusedConnection(fingerprint: fingerprint, peer: peer, address: c.address, direction: c.direction,
                                        reason: reason)
        recentRefusals.append(refusal)
        if recentRefusals.count > configuration.recentRefusalLimit {
            recentRefusals.removeFirst(recentRefusals.count - configuration.recentRefusalLimit)
        }
        return [.report(.refused(refusal)),
                .log(PeerConnectionLog(.notice, "connection from \(c.address) refused: \(reason.description)", peer: peer))]
    }

    /// A timer for a moment already past still fires after a millisecond, so a clock that reads a
    /// hair behind the timer cannot spin.
    static func atLeastAMillisecond(_ d: Duration) -> Duration { max(d, .milliseconds(1)) }
}

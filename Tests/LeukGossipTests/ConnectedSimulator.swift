import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
@testable import LeukGossip

/// A federation of nodes made of the two pure cores a real node runs, wired as `NetworkShell` and
/// `FederationService` wire them: `PeerConnections` decides whom to dial, which of two sessions to keep,
/// whom to admit and cool down; `GossipInstance` decides what to mix and whom to score down and ban.
/// They run over a simulated network that loses, duplicates, delays and reorders messages, partitions,
/// crashes and restarts nodes, and gives every node a clock of its own (an offset, and a drift).
///
/// `GossipSimulator` connects admitted neighbours by fiat; here every session is dialled, handshaken,
/// deduplicated, timed out and cooled down by the production state machine, so the safety rules that
/// live between the two cores are under test: no session and no mixed state for a key that is not
/// admitted (strangers, a revoked peer), no stale or replayed version mixed, and a banned peer kept out
/// for its whole cool-down, across restarts. The handshake is modelled by its outcome (each end's
/// admission check, in `Handshake`'s order); its bytes are covered by the wire tests and the fuzz targets.
///
/// The simulator is a shell and an observer: it records every violation of those invariants the moment
/// it happens (`violations`), with the simulated time, and one seed replays the same run.
struct ConnectedSimulator {
    /// What a node is. Only `.honest` nodes count for agreement and the conserved mean.
    enum Role: Equatable, CustomStringConvertible {
        case honest
        /// Admitted, but every state it sends is garbage: half undecodable frames (which decrypted, so only
        /// it can have sent them), half states with a NaN. Its neighbours must ban it and keep it out.
        case garbler
        /// Admitted until `revocationRound`, when every neighbour's operator removes it; it keeps dialling.
        case revoked
        /// Honest, but its clock runs 20 minutes ahead, beyond the 10 minutes of skew an update may have.
        case fastClock

        var description: String {
            switch self {
            case .honest: "honest"
            case .garbler: "garbler"
            case .revoked: "revoked"
            case .fastClock: "fast clock"
            }
        }
    }

    struct Setup {
        var roles: [Role]
        /// Who admits whom (symmetric): the federation's graph, extras attached to some honest nodes.
        var adjacency: [[Int]]
        var counts: [Int]
        var initial: [[Float]]
        /// Each node's clock offset from simulated time, in nanoseconds.
        var clockOffsets: [Int64]
        /// Each node's clock rate error, in parts per million.
        var driftPPM: [Double]
        /// Unadmitted keys that knock at random honest nodes; one knock in four never sends its hello.
        var strangers: Int
        var revocationRound: Int?
        var gossip: GossipConfiguration
        var seed: UInt64
    }

    /// The network's misbehaviour of the moment (`NetworkConditions` of the gossip simulator, plus
    /// duplication: a state is idempotent, so a second copy must be refused as a replay, never mixed twice).
    struct Conditions {
        var drop = 0.0
        var duplicate = 0.0
        var minimumDelay: UInt64 = 5_000_000
        var maximumDelay: UInt64 = 50_000_000
    }

    /// The shell's timers, as `PeerTimers` and `ModelUpdateLimits` set them.
    static let handshakeTimeout = Duration.seconds(10)
    static let idleTimeout = Duration.seconds(45)
    static let maximumClockSkew = Duration.seconds(600)
    /// The first gossip tick comes this long after the nodes start, when their sessions are up.
    static let gossipStart = Duration.seconds(2)

    let setup: Setup
    let ids: [NodeID]
    private let identities: [PublicIdentity]
    private let strangerIdentities: [PublicIdentity]
    private(set) var violations: [String] = []
    /// Sessions established, refusals by reason code, replays refused, bans: what the run exercised.
    private(set) var counters: [String: Int] = [:]
    private(set) var round = 0
    var conditions = Conditions()
    /// While set, every live honest node takes a local step at the start of each round, a tenth of the way
    /// towards its own starting state (as a site's training pulls towards its own data), and its core publishes
    /// the result. Under the clipped rule that step is the honest evidence the clipping radius rests on.
    var training = false

    private var nodes: [Node]
    private var links: [Link] = []
    private var linkByEnd: [End: Int] = [:]
    private var queue = EventQueue<Event>()
    private var rng: SeededGenerator
    private var group: [Int]?
    private var now: UInt64
    private let origin: UInt64 = 1_700_000_000_000_000_000

    private struct Node {
        var role: Role
        var allow: Set<NodeID>
        var connections: PeerConnections
        var gossip: GossipInstance?
        var coolDownMirror: [NodeID: Timestamp] = [:]
        var persisted: GossipSnapshot?
        var incarnation = 0
        var nextInbound: UInt64 = 0
        var dialGeneration: [NodeID: Int] = [:]
        // The observer's record of what the node decided, kept across its restarts.
        var acceptedVersion: [NodeID: UInt64] = [:]
        var banEnds: [NodeID: Timestamp] = [:]
        /// Benches on model evidence (`.bench`): the session stays, the states are refused.
        var benchEnds: [NodeID: Timestamp] = [:]
        var coolDownEnds: [NodeID: Timestamp] = [:]
        var revoked: Set<NodeID> = []
    }

    private struct End: Hashable {
        let node: Int
        let connection: ConnectionID
    }

    /// One TCP connection: a node's dial (or a stranger's knock) and, once it arrived, the acceptor's end.
    private struct Link {
        /// The dialling node, or nil for a stranger.
        let dialer: Int?
        let stranger: Int?
        let slowloris: Bool
        let dialerConnection: ConnectionID?
        let dialerIncarnation: Int
        let acceptor: Int
        var acceptorConnection: ConnectionID?
        var acceptorIncarnation = -1
        /// Whether each end (dialer, acceptor) still holds the channel.
        var open = [true, true]
        var established = false
    }

    private enum Payload {
        case state(GossipMessage, timestamp: Timestamp)
        case garbage
    }

    private enum Event {
        case start(node: Int, incarnation: Int)
        case tick(node: Int, incarnation: Int)
        case dialDue(node: Int, peer: NodeID, generation: Int, incarnation: Int)
        case arrive(link: Int)
        case handshake(link: Int)
        case handshakeTimeout(link: Int)
        case deliver(link: Int, toDialer: Bool, payload: Payload)
        case closed(link: Int, dialerEnd: Bool)
        case idleCheck(link: Int)
        case knock(stranger: Int)
    }

    init(setup: Setup) throws {
        self.setup = setup
        var keys = SeededGenerator(seed: setup.seed ^ 0x4B45_5953)
        func identity() throws -> NodeIdentity {
            try NodeIdentity(signing: SigningKeyPair(seed: (0..<32).map { _ in UInt8(truncatingIfNeeded: keys.next()) }),
                             agreement: AgreementKeyPair(secret: (0..<32).map { _ in UInt8(truncatingIfNeeded: keys.next()) }))
        }
        identities = try setup.roles.map { _ in try identity().publicIdentity }
        strangerIdentities = try (0..<setup.strangers).map { _ in try identity().publicIdentity }
        ids = identities.map(\.id)
        rng = SeededGenerator(seed: setup.seed ^ 0x5348_454C)
        now = origin
        let ids = self.ids
        nodes = setup.roles.indices.map { i in
            Node(role: setup.roles[i], allow: Set(setup.adjacency[i].map { ids[$0] }),
                 connections: PeerConnections(localID: ids[i], configuration: Self.connectionConfiguration(seed: setup.seed, node: i, incarnation: 0)),
                 gossip: GossipInstance(configuration: setup.gossip, selfID: ids[i], initialParameters: setup.initial[i],
                                        sampleCount: setup.counts[i]))
        }
        for i in nodes.indices {
            startConnections(i)
            queue.push(at: origin + Self.nanoseconds(Self.gossipStart), .start(node: i, incarnation: 0))
        }
        for s in 0..<setup.strangers { queue.push(at: origin + 100_000_000 * UInt64(s + 1), .knock(stranger: s)) }
    }

    static func connectionConfiguration(seed: UInt64, node: Int, incarnation: Int) -> PeerConnections.Configuration {
        PeerConnections.Configuration(jitterSeed: seed &* 31 &+ UInt64(node) &* 1_000_003 &+ UInt64(incarnation))
    }

    // MARK: - Queries

    var honest: [Int] { setup.roles.indices.filter { setup.roles[$0] == .honest } }
    func isAlive(_ node: Int) -> Bool { nodes[node].gossip != nil }
    func parameters(of node: Int) -> [Float]? { nodes[node].gossip?.parameters }
    var consensusDistance: Double { ParameterMath.consensusDistance(honest.compactMap { parameters(of: $0) }) }

    /// Each node's view at the end, for a failing seed's message: its sessions and its peers' connection states.
    var peerStates: String {
        nodes.indices.map { i in
            let states = nodes[i].connections.snapshots(now: localTime(i)).map { "\(ids.firstIndex(of: $0.peer).map(String.init) ?? "?")=\($0.state.rawValue)" }
            return "\(i)\(isAlive(i) ? "" : " (down)"): \(states.joined(separator: " "))"
        }.joined(separator: "; ")
    }

    /// A node's own clock: simulated time shifted by its offset and stretched by its drift.
    func localTime(_ node: Int) -> Timestamp {
        let elapsed = Double(now - origin)
        let local = Int64(bitPattern: now) &+ setup.clockOffsets[node] &+ Int64(elapsed * setup.driftPPM[node] * 1e-6)
        return Timestamp(nanosecondsSinceEpoch: UInt64(max(local, 0)))
    }

    // MARK: - Running

    /// Runs one gossip interval of events; returns the honest nodes' consensus distance.
    mutating func runRound() -> Double {
        round += 1
        if round == setup.revocationRound { revoke() }
        if training {
            for i in honest {
                guard let current = nodes[i].gossip?.parameters else { continue }
                let target = setup.initial[i], samples = setup.counts[i]
                let stepped = zip(current, target).map { $0 + 0.1 * ($1 - $0) }
                gossip(i) { $0.onLocalTrainingStep(newParameters: stepped, sampleCount: samples, now: $1) }
            }
        }
        let interval = Self.nanoseconds(setup.gossip.gossipInterval)
        let end = origin + Self.nanoseconds(Self.gossipStart) + UInt64(round) * interval + interval / 2
        while let next = queue.nextTime, next <= end, let (time, event) = queue.pop() {
            now = time
            handle(event)
        }
        now = end
        return consensusDistance
    }

    // MARK: - Faults

    mutating func partition(cut: Int) {
        group = nodes.indices.map { $0 < cut ? 0 : 1 }
        armIdleChecks()
    }

    mutating func heal() { group = nil }

    mutating func crash(_ i: Int) {
        guard nodes[i].gossip != nil else { return }
        nodes[i].gossip = nil
        nodes[i].incarnation += 1
        for (k, link) in links.enumerated() {
            if link.dialer == i { links[k].open[0] = false }
            if link.acceptor == i { links[k].open[1] = false }
        }
        armIdleChecks()
    }

    /// The node comes back from its last persisted snapshot, with a fresh connection layer (cool-downs
    /// are not stored; bans are, in the snapshot's scores), and dials its admitted peers.
    mutating func restart(_ i: Int) {
        guard nodes[i].gossip == nil else { return }
        nodes[i].incarnation += 1
        let inc = nodes[i].incarnation
        nodes[i].connections = PeerConnections(localID: ids[i], configuration: Self.connectionConfiguration(seed: setup.seed, node: i, incarnation: inc))
        nodes[i].coolDownMirror = [:]
        nodes[i].coolDownEnds = [:]
        nodes[i].dialGeneration = [:]
        nodes[i].gossip = nodes[i].persisted.map { GossipInstance(configuration: setup.gossip, selfID: ids[i], restoring: $0) }
            ?? GossipInstance(configuration: setup.gossip, selfID: ids[i], initialParameters: setup.initial[i], sampleCount: setup.counts[i])
        startConnections(i)
        var generator = SeededGenerator(seed: setup.seed ^ UInt64(i) ^ (UInt64(inc) << 32))
        gossip(i) { $0.onStart(now: $1, rng: &generator) }
    }

    // MARK: - Events

    private mutating func handle(_ event: Event) {
        switch event {
        case let .start(i, inc):
            // The first start only: a node restarted before it came has started already.
            guard inc == 0, nodes[i].incarnation == 0, nodes[i].gossip != nil else { return }
            var generator = SeededGenerator(seed: setup.seed ^ UInt64(i))
            gossip(i) { $0.onStart(now: $1, rng: &generator) }
        case let .tick(i, inc):
            guard inc == nodes[i].incarnation, nodes[i].gossip != nil else { return }
            checkMixable(i)
            var generator = SeededGenerator(seed: setup.seed ^ UInt64(i) ^ UInt64(round) << 20)
            gossip(i) { $0.onTick(now: $1, rng: &generator) }
        case let .dialDue(i, peer, generation, inc):
            guard inc == nodes[i].incarnation, nodes[i].gossip != nil, nodes[i].dialGeneration[peer] == generation else { return }
            connections(i) { $0.dialDue(peer, now: $1) }
        case let .arrive(k):
            arrive(k)
        case let .handshake(k):
            handshake(k)
        case let .handshakeTimeout(k):
            let link = links[k]
            guard link.open[1], let connection = link.acceptorConnection, alive(link.acceptor, link.acceptorIncarnation) else { return }
            count("refused: handshake_timeout")
            connections(link.acceptor) { $0.handshakeFailed(connection, failure: .handshakeTimeout(seconds: 10), now: $1) }
            closeEnd(k, dialerEnd: false)
        case let .deliver(k, toDialer, payload):
            deliver(k, toDialer: toDialer, payload: payload)
        case let .closed(k, dialerEnd):
            let link = links[k]
            guard let node = dialerEnd ? link.dialer : link.acceptor,
                  let connection = dialerEnd ? link.dialerConnection : link.acceptorConnection,
                  alive(node, dialerEnd ? link.dialerIncarnation : link.acceptorIncarnation) else { return }
            connections(node) { $0.channelClosed(connection, now: $1) }
        case let .idleCheck(k):
            idleCheck(k)
        case let .knock(s):
            knock(s)
        }
    }

    private func alive(_ node: Int, _ incarnation: Int) -> Bool {
        nodes[node].gossip != nil && nodes[node].incarnation == incarnation
    }

    private func canReach(_ a: Int, _ b: Int) -> Bool {
        guard nodes[a].gossip != nil, nodes[b].gossip != nil else { return false }
        if let group, group[a] != group[b] { return false }
        return true
    }

    private mutating func delay() -> UInt64 {
        let low = conditions.minimumDelay, high = max(conditions.maximumDelay, low)
        return low + (high > low ? rng.next() % (high - low + 1) : 0)
    }

    private mutating func count(_ what: String) { counters[what, default: 0] += 1 }

    private mutating func violation(_ what: String) {
        violations.append("round \(round), t+\(Double(now - origin) / 1e9) s: \(what)")
    }

    private func name(_ node: Int) -> String { "node \(node) (\(setup.roles[node]))" }

    private mutating func startConnections(_ i: Int) {
        for j in setup.adjacency[i] where nodes[i].allow.contains(ids[j]) {
            let peer = ids[j]
            connections(i) { $0.peerAdded(peer, host: Self.host(j), port: 7400, now: $1) }
        }
    }

    static func host(_ node: Int) -> String { "10.0.\(node / 250).\(node % 250 + 1)" }

    private func node(atHost host: String) -> Int? {
        nodes.indices.first { Self.host($0) == host }
    }

    // MARK: Connections

    private mutating func arrive(_ k: Int) {
        let link = links[k]
        let acceptor = link.acceptor
        if let dialer = link.dialer {
            guard link.open[0], alive(dialer, link.dialerIncarnation) else { return }
            guard canReach(dialer, acceptor) else {
                links[k].open[0] = false
                connections(dialer) { $0.dialFailed(link.dialerConnection!, error: "connection timed out", now: $1) }
                return
            }
        } else if nodes[acceptor].gossip == nil {
            return
        }
        nodes[acceptor].nextInbound += 1
        let inbound = ConnectionID(.inbound, nodes[acceptor].nextInbound)
        links[k].acceptorConnection = inbound
        links[k].acceptorIncarnation = nodes[acceptor].incarnation
        linkByEnd[End(node: acceptor, connection: inbound)] = k
        let address = link.dialer.map { Self.host($0) } ?? "192.0.2.\(link.stranger! + 1)"
        connections(acceptor) { $0.inboundAccepted(inbound, address: "\(address):50000", now: $1) }
        if let dialer = link.dialer {
            connections(dialer) { $0.dialSucceeded(link.dialerConnection!, now: $1) }
        }
        if link.slowloris {
            queue.push(at: now + Self.nanoseconds(Self.handshakeTimeout), .handshakeTimeout(link: k))
        } else {
            let roundTrips = delay() + delay() + delay()
            queue.push(at: now + roundTrips, .handshake(link: k))
        }
    }

    private func admits(_ node: Int, _ peer: NodeID) -> Bool {
        guard nodes[node].allow.contains(peer) else { return false }
        if let until = nodes[node].coolDownMirror[peer], localTime(node) < until { return false }
        return true
    }

    /// The three handshake messages have crossed: each end decides as `Handshake` does (the initiator checks
    /// the responder first; the responder then checks the initiator and hangs up on a refusal).
    private mutating func handshake(_ k: Int) {
        let link = links[k]
        let a = link.acceptor
        guard link.open[1], let inbound = link.acceptorConnection, alive(a, link.acceptorIncarnation) else { return }
        guard let d = link.dialer else {
            count("refused: not_admitted (stranger)")
            let stranger = strangerIdentities[link.stranger!]
            connections(a) { $0.handshakeFailed(inbound, failure: .handshake(.notAdmitted(stranger)), now: $1) }
            closeEnd(k, dialerEnd: false)
            return
        }
        let outbound = link.dialerConnection!
        guard link.open[0], alive(d, link.dialerIncarnation), canReach(d, a) else {
            // The handshake stalls; each end's timer ends it.
            if link.open[1] {
                connections(a) { $0.handshakeFailed(inbound, failure: .handshakeTimeout(seconds: 10), now: $1) }
                closeEnd(k, dialerEnd: false)
            }
            if link.open[0], alive(d, link.dialerIncarnation) {
                connections(d) { $0.handshakeFailed(outbound, failure: .handshakeTimeout(seconds: 10), now: $1) }
                closeEnd(k, dialerEnd: true)
            }
            return
        }
        if !admits(d, ids[a]) {
            count("refused: not_admitted (by the dialler)")
            let responder = identities[a]
            connections(d) { $0.handshakeFailed(outbound, failure: .handshake(.notAdmitted(responder)), now: $1) }
            connections(a) { $0.handshakeFailed(inbound, failure: .closedDuringHandshake, now: $1) }
        } else if !admits(a, ids[d]) {
            count("refused: not_admitted")
            let initiator = identities[d]
            connections(a) { $0.handshakeFailed(inbound, failure: .handshake(.notAdmitted(initiator)), now: $1) }
            connections(d) { $0.handshakeFailed(outbound, failure: .closedDuringHandshake, now: $1) }
        } else {
            links[k].established = true
            let (initiator, responder) = (ids[d], ids[a])
            connections(a) { $0.handshakeCompleted(inbound, peer: initiator, now: $1) }
            connections(d) { $0.handshakeCompleted(outbound, peer: responder, now: $1) }
            return
        }
        closeEnd(k, dialerEnd: false)
        closeEnd(k, dialerEnd: true)
    }

    /// One end drops the channel: its own `channelClosed` now, the other end's when the FIN arrives.
    private mutating func closeEnd(_ k: Int, dialerEnd: Bool) {
        let side = dialerEnd ? 0 : 1
        guard links[k].open[side] else { return }
        links[k].open[side] = false
        queue.push(at: now + 1, .closed(link: k, dialerEnd: dialerEnd))
        let other = 1 - side
        if links[k].open[other] {
            links[k].open[other] = false
            queue.push(at: now + delay(), .closed(link: k, dialerEnd: !dialerEnd))
        }
    }

    /// Every open end whose other end died or is cut off hears nothing more: its keep-alive runs out.
    private mutating func armIdleChecks() {
        for k in links.indices where links[k].open[0] || links[k].open[1] {
            queue.push(at: now + Self.nanoseconds(Self.idleTimeout), .idleCheck(link: k))
        }
    }

    private mutating func idleCheck(_ k: Int) {
        let link = links[k]
        guard let d = link.dialer, link.acceptorConnection != nil else { return }
        let reachable = alive(d, link.dialerIncarnation) && alive(link.acceptor, link.acceptorIncarnation) && canReach(d, link.acceptor)
            && link.open[0] && link.open[1]
        guard !reachable else { return }
        for dialerEnd in [true, false] {
            let side = dialerEnd ? 0 : 1
            let node = dialerEnd ? d : link.acceptor
            guard link.open[side], alive(node, dialerEnd ? link.dialerIncarnation : link.acceptorIncarnation),
                  let connection = dialerEnd ? link.dialerConnection : link.acceptorConnection else { continue }
            connections(node) { $0.faultObserved(connection, failure: .idleTimeout(seconds: 45), now: $1) }
            closeEnd(k, dialerEnd: dialerEnd)
        }
    }

    private mutating func knock(_ s: Int) {
        let targets = honest.filter { nodes[$0].gossip != nil }
        if let target = targets.isEmpty ? nil : targets[Int(rng.next() % UInt64(targets.count))] {
            links.append(Link(dialer: nil, stranger: s, slowloris: rng.next() % 4 == 0, dialerConnection: nil, dialerIncarnation: 0,
                              acceptor: target))
            queue.push(at: now + delay(), .arrive(link: links.count - 1))
        }
        queue.push(at: now + 200_000_000 + rng.next() % 800_000_000, .knock(stranger: s))
    }

    /// Every neighbour's operator removes the revoked node (`peer remove`): allowlist, connections, gossip.
    private mutating func revoke() {
        guard let r = setup.roles.firstIndex(of: .revoked) else { return }
        for i in setup.adjacency[r] where nodes[i].allow.contains(ids[r]) {
            nodes[i].allow.remove(ids[r])
            nodes[i].revoked.insert(ids[r])
            nodes[i].banEnds[ids[r]] = nil
            guard nodes[i].gossip != nil else { continue }
            let removed = ids[r]
            connections(i) { $0.peerRemoved(removed, now: $1) }
            gossip(i) { $0.onPeerDown(removed, now: $1) }
        }
    }

    // MARK: Messages

    private mutating func send(_ message: GossipMessage, to peer: NodeID, from i: Int) {
        guard let connection = nodes[i].connections.session(of: peer), let k = linkByEnd[End(node: i, connection: connection)] else { return }
        nodes[i].connections.updateSent(to: peer)
        let toDialer = links[k].acceptor == i
        let copies = conditions.duplicate > 0 && rng.nextUnitDouble() < conditions.duplicate ? 2 : 1
        for _ in 0..<copies {
            guard !(conditions.drop > 0 && rng.nextUnitDouble() < conditions.drop) else { continue }
            var payload = Payload.state(message, timestamp: localTime(i))
            if setup.roles[i] == .garbler {
                if rng.next() % 2 == 0 {
                    payload = .garbage
                } else {
                    var poisoned = message
                    poisoned.parameters[Int(rng.next() % UInt64(poisoned.parameters.count))] = .nan
                    payload = .state(poisoned, timestamp: localTime(i))
                }
            }
            queue.push(at: now + delay(), .deliver(link: k, toDialer: toDialer, payload: payload))
        }
    }

    private mutating func deliver(_ k: Int, toDialer: Bool, payload: Payload) {
        let link = links[k]
        guard let sender = toDialer ? link.acceptor : link.dialer, let receiver = toDialer ? link.dialer : link.acceptor,
              let connection = toDialer ? link.dialerConnection : link.acceptorConnection,
              link.open[toDialer ? 0 : 1], alive(receiver, toDialer ? link.dialerIncarnation : link.acceptorIncarnation),
              canReach(sender, receiver) else { return }
        let local = localTime(receiver)
        guard let peer = nodes[receiver].connections.frameReceived(connection, now: local) else {
            count("frames off a session, ignored")
            return
        }
        switch payload {
        case .garbage:
            count("garbage frames")
            connections(receiver) { $0.faultObserved(connection, failure: .malformedFrame(
                BinaryDecodingError(field: "frame", reason: .invalid("garbage"))), now: $1) }
            closeEnd(k, dialerEnd: toDialer)
        case let .state(message, timestamp):
            // The shell's checks before the core: the signature names the author, who must be admitted (or is
            // refused as unknown), and the update may not be dated beyond the allowed skew.
            if timestamp > local.adding(Self.maximumClockSkew) {
                count("refused: timestamp_in_future")
                gossip(receiver) { $0.onInvalidMessage(from: peer, reason: .timestampInFuture, now: $1) }
                return
            }
            guard nodes[receiver].allow.contains(message.author) else {
                count("refused: unknown_author")
                gossip(receiver) { $0.onInvalidMessage(from: peer, reason: .unknownAuthor, now: $1) }
                return
            }
            nodes[receiver].connections.updateVerified(from: peer)
            let before = nodes[receiver].gossip?.updatesReceived ?? 0
            let replaysBefore = nodes[receiver].gossip?.rejected[.replay] ?? 0
            gossip(receiver) { $0.onMessage(from: peer, message: message, now: $1) }
            if (nodes[receiver].gossip?.rejected[.replay] ?? 0) > replaysBefore { count("replays refused") }
            guard (nodes[receiver].gossip?.updatesReceived ?? 0) > before else { return }
            // Invariants of an accepted state.
            if !nodes[receiver].allow.contains(peer) { violation("\(name(receiver)) accepted a state from unadmitted \(peer.short)") }
            if message.author != peer { violation("\(name(receiver)) accepted \(message.author.short)'s state from \(peer.short)") }
            if let last = nodes[receiver].acceptedVersion[peer], message.version <= last {
                violation("\(name(receiver)) accepted version \(message.version) from \(peer.short) after \(last)")
            }
            if let until = nodes[receiver].banEnds[peer], local < until {
                violation("\(name(receiver)) accepted a state from \(peer.short), banned until \(until)")
            }
            // A peer benched on model evidence keeps its session (no `.disconnect`), but its states stay refused
            // until the core's cool-down ends.
            if let until = nodes[receiver].benchEnds[peer], local < until {
                violation("\(name(receiver)) accepted a state from \(peer.short), benched until \(until)")
            }
            if !ParameterMath.allFinite(message.parameters) { violation("\(name(receiver)) accepted a non-finite state") }
            nodes[receiver].acceptedVersion[peer] = message.version
        }
    }

    /// Before a tick mixes: every peer whose state the core would mix is admitted and has a live session.
    private mutating func checkMixable(_ i: Int) {
        guard let gossip = nodes[i].gossip else { return }
        let local = localTime(i)
        let sessions = Set(nodes[i].connections.connectedPeers)
        for peer in gossip.peerSnapshots(now: local) where peer.isUp && peer.bannedUntil == nil && peer.lastReceivedAt != nil {
            if !nodes[i].allow.contains(peer.id) { violation("\(name(i)) holds a mixable state of unadmitted \(peer.id.short)") }
            if !sessions.contains(peer.id) { violation("\(name(i)) holds a mixable state of \(peer.id.short) without a session") }
            if let until = nodes[i].banEnds[peer.id], local < until {
                violation("\(name(i)) would mix \(peer.id.short), banned until \(until)")
            }
        }
    }

    // MARK: - Executing the cores' decisions

    /// Feeds one event to node `i`'s connection core (on its own clock) and executes what it decides. The event
    /// closure sees only the core and the time, so the shell's bookkeeping is never touched mid-decision.
    private mutating func connections(_ i: Int, _ event: (inout PeerConnections, Timestamp) -> [PeerConnectionAction]) {
        let clock = localTime(i)
        let actions = event(&nodes[i].connections, clock)
        apply(actions, node: i)
    }

    /// Feeds one event to node `i`'s gossip core, if the node is up, and executes its directives.
    private mutating func gossip(_ i: Int, _ event: (inout GossipInstance, Timestamp) -> [GossipDirective]) {
        guard nodes[i].gossip != nil else { return }
        let clock = localTime(i)
        let directives = event(&nodes[i].gossip!, clock)
        apply(directives, node: i)
    }

    /// `NetworkShell` executing `PeerConnectionAction`s, and `FederationService` turning its reports into
    /// gossip events.
    private mutating func apply(_ actions: [PeerConnectionAction], node i: Int) {
        for action in actions {
            switch action {
            case let .dial(peer, host, _, connection):
                guard let j = node(atHost: host) else { continue }
                _ = peer
                links.append(Link(dialer: i, stranger: nil, slowloris: false, dialerConnection: connection,
                                  dialerIncarnation: nodes[i].incarnation, acceptor: j))
                linkByEnd[End(node: i, connection: connection)] = links.count - 1
                queue.push(at: now + delay(), .arrive(link: links.count - 1))
            case let .scheduleDial(peer, after):
                nodes[i].dialGeneration[peer, default: 0] += 1
                queue.push(at: now + globalNanoseconds(after, node: i),
                           .dialDue(node: i, peer: peer, generation: nodes[i].dialGeneration[peer]!, incarnation: nodes[i].incarnation))
            case let .cancelDial(peer):
                nodes[i].dialGeneration[peer, default: 0] += 1
            case let .close(connection, _):
                guard let k = linkByEnd[End(node: i, connection: connection)] else { continue }
                closeEnd(k, dialerEnd: links[k].dialer == i && links[k].dialerConnection == connection)
            case let .setCoolDown(peer, until):
                nodes[i].coolDownMirror[peer] = until
                if let until { nodes[i].coolDownEnds[peer] = max(until, nodes[i].coolDownEnds[peer] ?? until) }
            case let .report(event):
                report(event, node: i)
            case .log:
                break
            }
        }
    }

    private mutating func report(_ event: NetworkEvent, node i: Int) {
        let local = localTime(i)
        switch event {
        case let .peerConnected(peer, _, _):
            count("sessions established")
            if !nodes[i].allow.contains(peer) { violation("\(name(i)) established a session with unadmitted \(peer.short)") }
            if let until = nodes[i].banEnds[peer], local < until {
                violation("\(name(i)) established a session with \(peer.short), banned until \(until)")
            }
            if let until = nodes[i].coolDownEnds[peer], local < until {
                violation("\(name(i)) established a session with \(peer.short), cooling down until \(until)")
            }
            gossip(i) { $0.onPeerUp(peer, now: $1) }
        case let .peerDisconnected(peer, _):
            gossip(i) { $0.onPeerDown(peer, now: $1) }
        case let .received(_, from):
            violation("\(name(i)): the connection core reported an update from \(from.short); only the shell may")
        case let .refused(refusal):
            count("refusals reported")
            if let peer = refusal.peer, nodes[i].connections.connectedPeers.contains(peer), !nodes[i].allow.contains(peer) {
                violation("\(name(i)) refused \(peer.short) yet keeps its session")
            }
        case let .rejected(rejection, from):
            gossip(i) { $0.onInvalidMessage(from: from, reason: rejection.reason, now: $1) }
        }
    }

    /// `FederationService` executing `GossipDirective`s.
    private mutating func apply(_ directives: [GossipDirective], node i: Int) {
        for directive in directives {
            switch directive {
            case let .send(peer, message):
                send(message, to: peer, from: i)
            case let .scheduleTick(after):
                queue.push(at: now + globalNanoseconds(after, node: i), .tick(node: i, incarnation: nodes[i].incarnation))
            case let .persist(snapshot):
                nodes[i].persisted = snapshot
            case let .disconnect(peer, until):
                count(ids.firstIndex(of: peer).map { setup.roles[$0] } == .honest ? "bans of honest peers" : "bans")
                nodes[i].banEnds[peer] = max(until, nodes[i].banEnds[peer] ?? until)
                let local = localTime(i)
                connections(i) { $0.disconnectRequested(peer, reason: .coolDown, coolDown: until.since(local), now: $1) }
            case let .bench(peer, until):
                count(ids.firstIndex(of: peer).map { setup.roles[$0] } == .honest ? "benches of honest peers" : "benches")
                nodes[i].benchEnds[peer] = max(until, nodes[i].benchEnds[peer] ?? until)
            case .roundCompleted, .log:
                break
            }
        }
    }

    // MARK: - Time

    /// A duration on node `i`'s clock, in simulated nanoseconds (its drift stretches or shrinks it).
    private func globalNanoseconds(_ d: Duration, node i: Int) -> UInt64 {
        UInt64(max(1, (Double(Self.nanoseconds(d)) / (1 + setup.driftPPM[i] * 1e-6)).rounded()))
    }

    static func nanoseconds(_ d: Duration) -> UInt64 {
        let (s, atto) = d.components
        return UInt64(max(s, 0)) * 1_000_000_000 + UInt64(max(atto, 0) / 1_000_000_000)
    }
}

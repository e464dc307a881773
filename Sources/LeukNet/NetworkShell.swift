public import LeukCore
public import LeukCrypto
public import LeukWire
public import Logging
public import NIOCore
import NIOPosix
import Synchronization

/// Everything the network shell needs to run one node's federation endpoint.
public struct NetworkConfiguration: Sendable {
    public var identity: NodeIdentity
    public var networkKey: NetworkKey
    /// Where to listen; port 0 picks a free port (tests).
    public var host: String
    public var port: Int
    /// Hard maximum of one frame's plaintext, checked before allocating.
    public var maximumFrameBytes: Int
    public var updateLimits: UpdateLimits
    public var timers: SessionTimers
    public var backoff: ReconnectBackoff
    public var clock: any WallClock
    /// Seed of the jitter generator, so a test's redial schedule is reproducible.
    public var jitterSeed: UInt64
    /// Inbound connections allowed to be mid-handshake at once; more are closed on arrival.
    public var maximumPendingHandshakes: Int
    /// Update verifications (Ed25519 + SHA-256 over about a megabyte) running at once. Each peer
    /// also has at most one envelope waiting: a newer one replaces it, so an admitted peer that
    /// floods valid frames costs bounded memory and CPU.
    public var maximumConcurrentVerifications: Int

    public init(identity: NodeIdentity, networkKey: NetworkKey = .publicDefault, host: String = "127.0.0.1", port: Int = 0,
                maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes, updateLimits: UpdateLimits = UpdateLimits(),
                timers: SessionTimers = SessionTimers(), backoff: ReconnectBackoff = ReconnectBackoff(),
                clock: any WallClock = SystemWallClock(), jitterSeed: UInt64 = 0, maximumPendingHandshakes: Int = 64,
                maximumConcurrentVerifications: Int = 2) {
        self.identity = identity
        self.networkKey = networkKey
        self.host = host
        self.port = port
        self.maximumFrameBytes = maximumFrameBytes
        self.updateLimits = updateLimits
        self.timers = timers
        self.backoff = backoff
        self.clock = clock
        self.jitterSeed = jitterSeed
        self.maximumPendingHandshakes = maximumPendingHandshakes
        self.maximumConcurrentVerifications = max(1, maximumConcurrentVerifications)
    }
}

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
    /// An update a connected peer sent and we refused; the gossip core scores the peer with it.
    case rejected(UpdateRejection, from: NodeID)
}

public enum PeerConnectionState: String, Sendable, Equatable {
    case connected, connecting, unreachable, refused, disconnected
    /// Disconnected on purpose for a cool-down period (`disconnect(peer:coolDown:)`).
    case coolingDown = "cooling-down"
}

/// One peer as `peer list` shows it.
public struct PeerStatus: Sendable, Equatable {
    public let peer: NodeID
    public let address: String?
    public let state: PeerConnectionState
    public let lastSeen: Timestamp?
    public let bytesReceived: UInt64
    public let bytesSent: UInt64
    public let updatesReceived: Int
    public let updatesSent: Int

    public init(peer: NodeID, address: String?, state: PeerConnectionState, lastSeen: Timestamp?, bytesReceived: UInt64,
                bytesSent: UInt64, updatesReceived: Int, updatesSent: Int) {
        self.peer = peer
        self.address = address
        self.state = state
        self.lastSeen = lastSeen
        self.bytesReceived = bytesReceived
        self.bytesSent = bytesSent
        self.updatesReceived = updatesReceived
        self.updatesSent = updatesSent
    }
}

public enum NetworkError: LeukUserFacingError, Equatable {
    case notConnected(NodeID)
    /// The peer has not yet taken the previous frame off our socket buffer: this update is not
    /// queued behind it (the gossip core sends a newer one next round).
    case peerBusy(NodeID)
    case sendFailed(NodeID, String)
    case notStarted
    case bindFailed(String)

    public var description: String {
        switch self {
        case let .notConnected(peer): return "peer \(peer.short) is not connected"
        case let .peerBusy(peer): return "peer \(peer.short) is still receiving an earlier frame"
        case let .sendFailed(peer, why): return "sending to peer \(peer.short) failed: \(why)"
        case .notStarted: return "the network shell is not listening"
        case let .bindFailed(why): return "could not listen: \(why)"
        }
    }
}

/// A model update ready to send: the signed envelope, made once and sent to any number of peers.
public struct SealedModelUpdate: Sendable, Equatable {
    public let bytes: [UInt8]

    public init(metadata: ModelUpdateMetadata, parameters: [Float], author: SigningKeyPair) {
        bytes = SignedModelUpdate.seal(metadata, parameters: parameters, author: author)
    }
}

/// The node's federation endpoint: listens, dials admitted peers and keeps redialling them with
/// backoff, runs each connection's handshake and secret streams (in `PeerSessionHandler`), verifies
/// incoming updates off the event loop, and reports everything on `events`.
///
/// The gossip core decides whom to send what and whom to punish; this shell only moves verified
/// bytes and carries out `send`, `broadcast` and `disconnect`.
public actor NetworkShell {
    public nonisolated let events: AsyncStream<NetworkEvent>
    private let eventSink: AsyncStream<NetworkEvent>.Continuation
    private let signals: AsyncStream<Signal>
    private nonisolated let signalSink: AsyncStream<Signal>.Continuation

    private let configuration: NetworkConfiguration
    private let admission: any AdmissionPolicy
    private let group: any EventLoopGroup
    private let logger: Logger
    private nonisolated let coolDowns = CoolDowns()
    private nonisolated let nextConnectionID = Mutex<UInt64>(0)
    private nonisolated let pendingHandshakes: PendingHandshakes

    private var listener: (any Channel)?
    private var signalTask: Task<Void, Never>?
    private var jitter: SeededGenerator
    private var shuttingDown = false

    private var connections: [UInt64: Connection] = [:]
    private var sessionByPeer: [NodeID: UInt64] = [:]
    private var dialTargets: [NodeID: DialTarget] = [:]
    private var records: [NodeID: PeerRecord] = [:]
    /// Verifications running now, and the newest envelope waiting per peer (oldest waiter first).
    private var verifyingPeers: Set<NodeID> = []
    private var waitingEnvelopes: [NodeID: [UInt8]] = [:]
    private var waitingOrder: [NodeID] = []
    /// Envelopes replaced by a newer one from the same peer before they were verified.
    public private(set) var supersededEnvelopes = 0
    public private(set) var refusedConnectionCount = 0
    /// The latest refused connections, newest last, for the operator's status view.
    public private(set) var recentRefusals: [RefusedConnection] = []
    static let recentRefusalLimit = 100

    enum Signal: Sendable {
        case opened(UInt64, any Channel, ConnectionDirection, TrafficCounter, dialled: NodeID?, address: String)
        case session(UInt64, SessionEvent)
        case closed(UInt64)
        case verified(Result<ModelUpdate, UpdateRejection>, from: NodeID)
    }

    struct Connection {
        let channel: any Channel
        let direction: ConnectionDirection
        let counter: TrafficCounter
        let dialled: NodeID?
        /// The peer's address, taken when the connection opened (a closed socket no longer knows it).
        let address: String
        var peer: NodeID?
        /// Why an established session failed, reported when it closes.
        var failure: ChannelFailure?
    }

    struct DialTarget {
        var host: String
        var port: Int
        var attempt = 0
        var pending: Task<Void, Never>?
        var dialling = false
    }

    struct PeerRecord {
        var state: PeerConnectionState = .disconnected
        var address: String?
        var lastSeen: Timestamp?
        var closedBytesReceived: UInt64 = 0
        var closedBytesSent: UInt64 = 0
        var updatesReceived = 0
        var updatesSent = 0
    }

    /// - Parameter group: the event loops to run on; nil uses NIO's shared singleton group.
    public init(configuration: NetworkConfiguration, admission: any AdmissionPolicy,
                group: (any EventLoopGroup)? = nil,
                logger: Logger = Logger(label: "leuknode.net")) {
        self.configuration = configuration
        self.admission = admission
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
        self.logger = logger
        self.jitter = SeededGenerator(seed: configuration.jitterSeed)
        self.pendingHandshakes = PendingHandshakes(limit: configuration.maximumPendingHandshakes)
        (events, eventSink) = AsyncStream.makeStream(of: NetworkEvent.self)
        (signals, signalSink) = AsyncStream.makeStream(of: Signal.self)
    }

    public nonisolated var localIdentity: NodeID { configuration.identity.id }

    // MARK: Listening

    /// Binds the listener and starts processing; returns the bound port (the same one if called again).
    @discardableResult
    public func start() async throws(NetworkError) -> Int {
        if let port = listener?.localAddress?.port { return port }
        if signalTask == nil {
            let stream = signals
            signalTask = Task { [weak self] in
                for await signal in stream { await self?.handle(signal) }
            }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.install(on: channel, direction: .inbound, dialled: nil, address: nil) }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            listener = channel
            logger.info("listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
            return channel.localAddress?.port ?? configuration.port
        } catch {
            throw .bindFailed("\(configuration.host):\(configuration.port): \(error)")
        }
    }

    public var listeningPort: Int? { listener?.localAddress?.port }

    /// The admission check a handshake runs: admitted, and not in a cool-down.
    private nonisolated func handshakeConfiguration(now: @escaping @Sendable () -> Timestamp) -> HandshakeConfiguration {
        let admission = self.admission
        let coolDowns = self.coolDowns
        return HandshakeConfiguration(identity: configuration.identity, networkKey: configuration.networkKey) { identity in
            guard admission.admits(identity.id) else { return false }
            return !coolDowns.isCoolingDown(identity.id, now: now())
        }
    }

    /// Adds the handler stack to a fresh channel; runs on its event loop.
    private nonisolated func install(on channel: any Channel, direction: ConnectionDirection, dialled: NodeID?, address: String?) throws {
        let id = nextConnectionID.withLock { value -> UInt64 in
            value += 1
            return value
        }
        let counter = TrafficCounter()
        let clock = configuration.clock
        let role: PeerSessionHandler.Role = direction == .outbound ? .initiator(expectedPeer: dialled) : .responder
        let sink = signalSink
        let remote = address ?? channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        // Unauthenticated inbound connections are capped, so a flood of strangers holding
        // half-finished handshakes cannot exhaust the node; the slot frees on session or close.
        let slot = HandshakeSlot(pool: direction == .inbound ? pendingHandshakes : nil)
        guard slot.acquire() else {
            logger.notice("too many pending handshakes; dropping a connection", metadata: ["address": "\(remote)"])
            channel.close(promise: nil)
            return
        }
        sink.yield(.opened(id, channel, direction, counter, dialled: dialled, address: remote))
        let handlers = PeerPipeline.handlers(role: role, configuration: handshakeConfiguration(now: { clock.now() }),
                                             maximumFrameBytes: configuration.maximumFrameBytes,
                                             timers: configuration.timers, counter: counter)
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers(handlers)
        try sync.addHandler(SessionEventForwarder { signal in
            switch signal {
            case let .event(event):
                if case .established = event { slot.release() }
                sink.yield(.session(id, event))
            case .closed:
                slot.release()
                sink.yield(.closed(id))
            }
        })
    }

    // MARK: Dialling

    /// Keeps a connection to `peer` at `host:port`, redialling with backoff whenever it drops.
    /// Both sides of a mutual admission may dial; a duplicate connection is resolved by a fixed rule.
    public func connect(to peer: NodeID, host: String, port: Int) {
        guard !shuttingDown, peer != localIdentity else { return }
        if var target = dialTargets[peer] {
            target.host = host
            target.port = port
            dialTargets[peer] = target
        } else {
            dialTargets[peer] = DialTarget(host: host, port: port)
        }
        records[peer, default: PeerRecord()].address = "\(host):\(port)"
        if sessionByPeer[peer] == nil { scheduleDial(peer, after: .zero) }
    }

    /// Stops dialling `peer` and closes its connection at once (the operator removed it). The caller
    /// revokes it in the admission policy too, so it cannot simply dial back.
    public func forget(peer: NodeID) {
        dialTargets[peer]?.pending?.cancel()
        dialTargets[peer] = nil
        closeSession(of: peer, reason: .removedByOperator)
        records[peer]?.state = .disconnected
    }

    /// Closes the session with `peer` now. With a cool-down, the peer is also refused in handshakes
    /// and not redialled until it ends: the gossip core's penalty for a peer whose score fell too low.
    public func disconnect(peer: NodeID, reason: GoodbyeReason = .removedByOperator, coolDown: Duration? = nil) {
        if let coolDown {
            let until = configuration.clock.now().adding(coolDown)
            coolDowns.set(peer, until: until)
            records[peer, default: PeerRecord()].state = .coolingDown
            dialTargets[peer]?.pending?.cancel()
            if dialTargets[peer] != nil { scheduleDial(peer, after: coolDown) }
        }
        closeSession(of: peer, reason: coolDown == nil ? reason : .coolDown)
    }

    private func closeSession(of peer: NodeID, reason: GoodbyeReason) {
        guard let id = sessionByPeer[peer], let connection = connections[id] else { return }
        connection.channel.writeAndFlush(Frame.goodbye(reason, message: "\(reason)"), promise: nil)
        connection.channel.close(promise: nil)
    }

    private func scheduleDial(_ peer: NodeID, after delay: Duration) {
        guard var target = dialTargets[peer], !shuttingDown else { return }
        target.pending?.cancel()
        target.pending = Task { [weak self] in
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { return }
            }
            await self?.dial(peer)
        }
        dialTargets[peer] = target
    }

    private func dial(_ peer: NodeID) async {
        guard var target = dialTargets[peer], !shuttingDown, sessionByPeer[peer] == nil, !target.dialling else { return }
        if coolDowns.isCoolingDown(peer, now: configuration.clock.now()) { return }
        target.dialling = true
        dialTargets[peer] = target
        if records[peer]?.state != .connected { records[peer, default: PeerRecord()].state = .connecting }
        let address = "\(target.host):\(target.port)"
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
            .connectTimeout(.seconds(5))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.install(on: channel, direction: .outbound, dialled: peer, address: address) }
            }
        do {
            _ = try await bootstrap.connect(host: target.host, port: target.port).get()
            dialTargets[peer]?.dialling = false
        } catch {
            dialTargets[peer]?.dialling = false
            logger.debug("dial failed", metadata: ["peer": "\(peer.short)", "error": "\(error)"])
            if records[peer]?.state == .connecting { records[peer]?.state = .unreachable }
            retry(peer)
        }
    }

    private func retry(_ peer: NodeID) {
        guard var target = dialTargets[peer], !shuttingDown, sessionByPeer[peer] == nil else { return }
        let delay = configuration.backoff.delay(forAttempt: target.attempt, using: &jitter)
        target.attempt += 1
        dialTargets[peer] = target
        scheduleDial(peer, after: delay)
    }

    // MARK: Sending

    /// Sends a sealed update to one connected peer; returns when the bytes are handed to the socket.
    public func send(_ update: SealedModelUpdate, to peer: NodeID) async throws(NetworkError) {
        let write = try startWrite(update, to: peer)
        do {
            try await write.get()
        } catch {
            throw .sendFailed(peer, "\(error)")
        }
    }

    /// Queues the frame on the peer's channel; fails at once when the peer is gone or still busy.
    private func startWrite(_ update: SealedModelUpdate, to peer: NodeID) throws(NetworkError) -> EventLoopFuture<Void> {
        guard let id = sessionByPeer[peer], let connection = connections[id] else { throw .notConnected(peer) }
        guard connection.channel.isWritable else { throw .peerBusy(peer) }
        records[peer, default: PeerRecord()].updatesSent += 1
        return connection.channel.writeAndFlush(Frame.modelUpdate(update.bytes))
    }

    /// Sends to every connected peer at once, so a slow peer delays no other; returns those reached.
    @discardableResult
    public func broadcast(_ update: SealedModelUpdate) async -> [NodeID] {
        var writes: [(NodeID, EventLoopFuture<Void>)] = []
        for peer in sessionByPeer.keys.sorted() {
            do {
                writes.append((peer, try startWrite(update, to: peer)))
            } catch {
                logger.debug("broadcast skipped a peer", metadata: ["peer": "\(peer.short)", "error": "\(error)"])
            }
        }
        var reached: [NodeID] = []
        for (peer, write) in writes {
            do {
                try await write.get()
                reached.append(peer)
            } catch {
                logger.debug("broadcast write failed", metadata: ["peer": "\(peer.short)", "error": "\(error)"])
            }
        }
        return reached
    }

    public var connectedPeers: [NodeID] { sessionByPeer.keys.sorted() }

    /// Open TCP connections, sessions and handshakes in progress alike.
    public var openConnectionCount: Int { connections.count }

    public func peers() -> [PeerStatus] {
        var live: [NodeID: (UInt64, UInt64)] = [:]
        for (_, connection) in connections {
            guard let peer = connection.peer else { continue }
            let current = live[peer] ?? (0, 0)
            live[peer] = (current.0 + connection.counter.bytesReceived, current.1 + connection.counter.bytesSent)
        }
        let now = configuration.clock.now()
        return records.keys.sorted().map { peer in
            let r = records[peer]!
            // A connected peer answers keep-alives, so it was seen just now.
            let lastSeen = r.state == .connected ? now : r.lastSeen
            let (inLive, outLive) = live[peer] ?? (0, 0)
            return PeerStatus(peer: peer, address: r.address, state: r.state, lastSeen: lastSeen,
                              bytesReceived: r.closedBytesReceived + inLive, bytesSent: r.closedBytesSent + outLive,
                              updatesReceived: r.updatesReceived, updatesSent: r.updatesSent)
        }
    }

    // MARK: Shutdown

    /// Says goodbye to every peer, stops dialling and listening, and ends `events`.
    public func shutdown() async {
        guard !shuttingDown else { return }
        shuttingDown = true
        for (_, target) in dialTargets { target.pending?.cancel() }
        let channels = connections.values.map(\.channel)
        for (peer, id) in sessionByPeer {
            _ = peer
            connections[id]?.channel.writeAndFlush(Frame.goodbye(.shuttingDown, message: "node shutting down"), promise: nil)
        }
        try? await listener?.close()
        for channel in channels {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
        signalSink.finish()
        await signalTask?.value
        eventSink.finish()
    }

    // MARK: Signals from the event loops

    private func handle(_ signal: Signal) {
        switch signal {
        case let .opened(id, channel, direction, counter, dialled, address):
            connections[id] = Connection(channel: channel, direction: direction, counter: counter, dialled: dialled, address: address)
        case let .session(id, event):
            handleSession(event, connection: id)
        case let .closed(id):
            handleClosed(id)
        case let .verified(result, from):
            finishVerification(result, from: from)
        }
    }

    private func handleSession(_ event: SessionEvent, connection id: UInt64) {
        guard var connection = connections[id] else { return }
        switch event {
        case let .established(identity):
            let peer = identity.id
            connection.peer = peer
            connections[id] = connection
            if let existing = sessionByPeer[peer], existing != id {
                if keepsNew(connection, over: connections[existing], peer: peer) {
                    sessionByPeer[peer] = id
                    closeDuplicate(existing)
                } else {
                    closeDuplicate(id)
                    return
                }
            } else {
                sessionByPeer[peer] = id
            }
            dialTargets[peer]?.attempt = 0
            dialTargets[peer]?.pending?.cancel()
            var record = records[peer, default: PeerRecord()]
            record.state = .connected
            record.lastSeen = configuration.clock.now()
            if connection.direction == .outbound || record.address == nil { record.address = connection.address }
            records[peer] = record
            logger.info("peer connected", metadata: ["peer": "\(peer.short)", "direction": "\(connection.direction.rawValue)"])
            eventSink.yield(.peerConnected(peer, address: connection.address, direction: connection.direction))

        case let .frame(frame):
            guard let peer = connection.peer, sessionByPeer[peer] == id else { return }
            records[peer]?.lastSeen = configuration.clock.now()
            switch frame {
            case let .modelUpdate(envelope):
                enqueueVerification(envelope, from: peer)
            case .goodbye, .ping, .pong, .error:
                break  // goodbye: the close that follows is reported by handleClosed
            }

        case let .failed(failure):
            if let peer = connection.peer, sessionByPeer[peer] == id {
                connection.failure = failure
                connections[id] = connection
                return
            }
            refusedConnectionCount += 1
            var failure = failure
            var fingerprint: Fingerprint?
            var stranger: NodeID?
            if case let .handshake(.notAdmitted(identity)) = failure {
                fingerprint = identity.fingerprint
                stranger = identity.id
                // The handshake only asks yes or no; say why when the answer was a cool-down.
                if admission.admits(identity.id) && coolDowns.isCoolingDown(identity.id, now: configuration.clock.now()) {
                    failure = .coolingDown(identity.id)
                }
            }
            if let dialled = connection.dialled {
                records[dialled, default: PeerRecord()].state = .refused
            }
            logger.notice("connection refused", metadata: ["address": "\(connection.address)", "reason": "\(failure)"])
            let refusal = RefusedConnection(fingerprint: fingerprint, peer: stranger ?? connection.dialled,
                                            address: connection.address, direction: connection.direction, reason: failure)
            recentRefusals.append(refusal)
            if recentRefusals.count > Self.recentRefusalLimit { recentRefusals.removeFirst(recentRefusals.count - Self.recentRefusalLimit) }
            eventSink.yield(.refused(refusal))
        }
    }

    /// Both ends keep the connection dialled by the smaller node id, so they agree without talking.
    private func keepsNew(_ new: Connection, over old: Connection?, peer: NodeID) -> Bool {
        guard let old else { return true }
        let preferredInitiator = min(localIdentity, peer)
        func initiator(_ c: Connection) -> NodeID { c.direction == .outbound ? localIdentity : peer }
        if initiator(old) == preferredInitiator { return false }
        return initiator(new) == preferredInitiator
    }

    private func closeDuplicate(_ id: UInt64) {
        guard let connection = connections[id] else { return }
        connection.channel.writeAndFlush(Frame.goodbye(.duplicateConnection, message: "duplicate connection"), promise: nil)
        connection.channel.close(promise: nil)
    }

    private func handleClosed(_ id: UInt64) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        guard let peer = connection.peer else {
            if let dialled = connection.dialled { retry(dialled) }
            return
        }
        var record = records[peer, default: PeerRecord()]
        record.closedBytesReceived += connection.counter.bytesReceived
        record.closedBytesSent += connection.counter.bytesSent
        guard sessionByPeer[peer] == id else {
            records[peer] = record
            return
        }
        sessionByPeer[peer] = nil
        if record.state == .connected {
            record.state = .disconnected
            record.lastSeen = configuration.clock.now()
        }
        records[peer] = record
        eventSink.yield(.peerDisconnected(peer, reason: connection.failure))
        if dialTargets[peer] != nil && !shuttingDown {
            if coolDowns.isCoolingDown(peer, now: configuration.clock.now()) { return }
            retry(peer)
        }
    }

    // MARK: Verification, off the event loop

    /// Queues an envelope for verification. At most `maximumConcurrentVerifications` run at once;
    /// a peer has at most one envelope waiting, and a newer one replaces it (gossip states
    /// supersede each other, so nothing an honest peer meant is lost).
    private func enqueueVerification(_ envelope: [UInt8], from peer: NodeID) {
        if waitingEnvelopes.updateValue(envelope, forKey: peer) != nil {
            supersededEnvelopes += 1
        } else {
            waitingOrder.append(peer)
        }
        startVerifications()
    }

    /// One verification per peer at a time, so a peer's updates reach the gossip core in the order
    /// it sent them (an honest peer is never scored for a replay the shell's reordering made).
    private func startVerifications() {
        while verifyingPeers.count < configuration.maximumConcurrentVerifications,
              let index = waitingOrder.firstIndex(where: { !verifyingPeers.contains($0) }) {
            let peer = waitingOrder.remove(at: index)
            guard let envelope = waitingEnvelopes.removeValue(forKey: peer) else { continue }
            verifyingPeers.insert(peer)
            verifyOffLoop(envelope, from: peer)
        }
    }

    private func verifyOffLoop(_ envelope: [UInt8], from peer: NodeID) {
        let me = localIdentity
        let admission = self.admission
        let limits = configuration.updateLimits
        let now = configuration.clock.now()
        let sink = signalSink
        Task.detached(priority: .medium) {
            let result = SignedModelUpdate.verify(envelope, limits: limits, now: now) { author in
                author == me || admission.admits(author) ? .known : .unknown
            }
            sink.yield(.verified(result, from: peer))
        }
    }

    private func finishVerification(_ result: Result<ModelUpdate, UpdateRejection>, from peer: NodeID) {
        verifyingPeers.remove(peer)
        defer { startVerifications() }
        switch result {
        case let .success(update):
            records[peer, default: PeerRecord()].updatesReceived += 1
            eventSink.yield(.received(update, from: peer))
        case let .failure(rejection):
            logger.notice("update rejected", metadata: ["peer": "\(peer.short)", "reason": "\(rejection.reason.rawValue)"])
            eventSink.yield(.rejected(rejection, from: peer))
        }
    }
}

/// Peers disconnected for a cool-down, read by handshakes on the event loops and written by the shell.
final class CoolDowns: Sendable {
    private let until = Mutex<[NodeID: Timestamp]>([:])

    func set(_ peer: NodeID, until end: Timestamp) { until.withLock { $0[peer] = end } }

    func isCoolingDown(_ peer: NodeID, now: Timestamp) -> Bool {
        until.withLock { table in
            guard let end = table[peer] else { return false }
            if now >= end {
                table[peer] = nil
                return false
            }
            return true
        }
    }
}

/// Counts inbound connections that have not finished their handshake.
final class PendingHandshakes: Sendable {
    private let count = Mutex<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func tryEnter() -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }

    func leave() { count.withLock { $0 -= 1 } }
    var current: Int { count.withLock { $0 } }
}

/// One connection's claim on a `PendingHandshakes` slot, released exactly once (on the session
/// opening or the connection closing, whichever comes first). Outbound connections hold none.
final class HandshakeSlot: Sendable {
    private let pool: PendingHandshakes?
    private let held = Mutex(false)

    init(pool: PendingHandshakes?) { self.pool = pool }

    func acquire() -> Bool {
        guard let pool else { return true }
        guard pool.tryEnter() else { return false }
        held.withLock { $0 = true }
        return true
    }

    func release() {
        guard let pool else { return }
        let wasHeld = held.withLock { h -> Bool in
            defer { h = false }
            return h
        }
        if wasHeld { pool.leave() }
    }
}

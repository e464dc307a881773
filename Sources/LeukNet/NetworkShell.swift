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
    /// Of those, how many may come from one IP address (`PeerConnections.Configuration`).
    public var maximumPendingHandshakesPerAddress: Int = 16
    /// Update verifications (Ed25519 + SHA-256 over about a megabyte) running at once. Each peer
    /// also has at most one envelope waiting, and its connection is not read while it waits
    /// (`VerificationQueue`), so an admitted peer that floods valid frames costs bounded memory and CPU.
    public var maximumConcurrentVerifications: Int
    /// A peer's update verifications start at most this often (`VerificationQueue`'s rate limit); the node
    /// sets a quarter of its gossip interval, so an honest peer (about two updates per interval) never waits.
    public var minimumUpdateInterval: Duration = .milliseconds(250)
    /// How long a peer whose session carried garbage is neither redialled nor admitted.
    public var faultCoolDown: Duration

    public init(identity: NodeIdentity, networkKey: NetworkKey = .publicDefault, host: String = "127.0.0.1", port: Int = 0,
                maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes, updateLimits: UpdateLimits = UpdateLimits(),
                timers: SessionTimers = SessionTimers(), backoff: ReconnectBackoff = ReconnectBackoff(),
                clock: any WallClock = SystemWallClock(), jitterSeed: UInt64 = 0, maximumPendingHandshakes: Int = 64,
                maximumConcurrentVerifications: Int = 2, faultCoolDown: Duration = .seconds(30)) {
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
        self.faultCoolDown = faultCoolDown
    }

    /// The connection lifecycle's share of the configuration.
    public var peerConnections: PeerConnections.Configuration {
        PeerConnections.Configuration(backoff: backoff, jitterSeed: jitterSeed, faultCoolDown: faultCoolDown,
                                      maximumPendingHandshakes: maximumPendingHandshakes,
                                      maximumPendingHandshakesPerAddress: maximumPendingHandshakesPerAddress)
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

/// The node's federation endpoint: the thin NIO shell around `PeerConnections` (the connection
/// lifecycle) and `VerificationQueue` (bounded update verification). It listens, dials, runs each
/// connection's handshake and secret streams (in `PeerSessionHandler`), feeds what happens on the
/// event loops to the two cores, and executes the actions they return with exhaustive switches.
/// It decides nothing itself about whom to dial, when, which duplicate survives, or who cools down.
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
    /// The core's cool-downs, mirrored for handshakes, which ask on the event loop and cannot wait.
    private nonisolated let coolDowns = CoolDowns()
    private nonisolated let nextInbound = Mutex<UInt64>(0)

    private var core: PeerConnections
    private var verification: VerificationQueue
    private var channels: [ConnectionID: (channel: any Channel, counter: TrafficCounter)] = [:]
    /// One dial timer per peer; the generation tells a timer that fired from one replaced since.
    private var dialTimers: [NodeID: (generation: UInt64, task: Task<Void, Never>)] = [:]
    private var timerGeneration: UInt64 = 0
    /// The wake-up `VerificationQueue` asked for (a peer's rate limit), if one is pending.
    private var verificationWakeUp: Task<Void, Never>?
    /// TCP connects under way, so shutdown can close what they bring once the signal stream is gone.
    private var pendingDials: [ConnectionID: EventLoopFuture<any Channel>] = [:]
    private var listener: (any Channel)?
    private var signalTask: Task<Void, Never>?
    private var shuttingDown = false

    enum Signal: Sendable {
        case opened(ConnectionID, any Channel, TrafficCounter, address: String)
        case dialFailed(ConnectionID, String)
        case session(ConnectionID, SessionEvent)
        case closed(ConnectionID)
        case verified(Result<ModelUpdate, UpdateRejection>, from: NodeID)
    }

    /// - Parameter group: the event loops to run on; nil uses NIO's shared singleton group.
    public init(configuration: NetworkConfiguration, admission: any AdmissionPolicy,
                group: (any EventLoopGroup)? = nil,
                logger: Logger = Logger(label: "leuknode.net")) {
        self.configuration = configuration
        self.admission = admission
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
        self.logger = logger
        core = PeerConnections(localID: configuration.identity.id, configuration: configuration.peerConnections)
        verification = VerificationQueue(slots: configuration.maximumConcurrentVerifications,
                                         minimumInterval: configuration.minimumUpdateInterval)
        (events, eventSink) = AsyncStream.makeStream(of: NetworkEvent.self)
        (signals, signalSink) = AsyncStream.makeStream(of: Signal.self)
    }

    public nonisolated var localIdentity: NodeID { configuration.identity.id }

    private var now: Timestamp { configuration.clock.now() }

    // MARK: Listening

    /// Binds the listener and starts processing; returns the bound port (the same one if called again).
    @discardableResult
    public func start() async throws(NetworkError) -> Int {
        if let port = listener?.localAddress?.port { return port }
        startSignalTask()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let number = nextInbound.withLock { value -> UInt64 in
                        value += 1
                        return value
                    }
                    try self.install(on: channel, connection: ConnectionID(.inbound, number), dialled: nil, address: nil)
                }
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

    private func startSignalTask() {
        guard signalTask == nil else { return }
        let stream = signals
        signalTask = Task { [weak self] in
            for await signal in stream { await self?.handle(signal) }
        }
    }

    /// The admission check a handshake runs: admitted, and not in a cool-down.
    private nonisolated func handshakeConfiguration() -> HandshakeConfiguration {
        let admission = self.admission
        let coolDowns = self.coolDowns
        let clock = configuration.clock
        return HandshakeConfiguration(identity: configuration.identity, networkKey: configuration.networkKey) { identity in
            admission.admits(identity.id) && !coolDowns.isCoolingDown(identity.id, now: clock.now())
        }
    }

    /// Adds the handler stack to a fresh channel; runs on its event loop.
    private nonisolated func install(on channel: any Channel, connection id: ConnectionID, dialled: NodeID?, address: String?) throws {
        let counter = TrafficCounter()
        let role: PeerSessionHandler.Role = id.direction == .outbound ? .initiator(expectedPeer: dialled) : .responder
        let sink = signalSink
        let remote = address ?? channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
        sink.yield(.opened(id, channel, counter, address: remote))
        let handlers = PeerPipeline.handlers(role: role, configuration: handshakeConfiguration(),
                                             maximumFrameBytes: configuration.maximumFrameBytes,
                                             timers: configuration.timers, counter: counter)
        let sync = channel.pipeline.syncOperations
        try sync.addHandlers(handlers)
        try sync.addHandler(SessionEventForwarder { signal in
            switch signal {
            case let .event(event): sink.yield(.session(id, event))
            case .closed: sink.yield(.closed(id))
            }
        })
    }

    // MARK: The node's requests

    /// Keeps a connection to `peer` at `host:port`, redialling with backoff whenever it drops.
    /// Both sides of a mutual admission may dial; a duplicate connection is resolved by a fixed rule.
    public func connect(to peer: NodeID, host: String, port: Int) {
        startSignalTask()
        run(core.peerAdded(peer, host: host, port: port, now: now))
    }

    /// Stops dialling `peer` and closes its connection at once (the operator removed it). The caller
    /// revokes it in the admission policy too, so it cannot simply dial back.
    public func forget(peer: NodeID) {
        run(core.peerRemoved(peer, now: now))
    }

    /// Closes the session with `peer` now. With a cool-down, the peer is also refused in handshakes
    /// and not redialled until it ends: the gossip core's penalty for a peer whose score fell too low.
    public func disconnect(peer: NodeID, reason: GoodbyeReason = .removedByOperator, coolDown: Duration? = nil) {
        run(core.disconnectRequested(peer, reason: reason, coolDown: coolDown, now: now))
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

    /// Queues the frame on the peer's session; fails at once when the peer is gone or still busy.
    private func startWrite(_ update: SealedModelUpdate, to peer: NodeID) throws(NetworkError) -> EventLoopFuture<Void> {
        guard let id = core.session(of: peer), let channel = channels[id]?.channel else { throw .notConnected(peer) }
        guard channel.isWritable else { throw .peerBusy(peer) }
        core.updateSent(to: peer)
        return channel.writeAndFlush(Frame.modelUpdate(update.bytes))
    }

    /// Sends to every connected peer at once, so a slow peer delays no other; returns those reached.
    @discardableResult
    public func broadcast(_ update: SealedModelUpdate) async -> [NodeID] {
        var writes: [(NodeID, EventLoopFuture<Void>)] = []
        for peer in core.connectedPeers {
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

    // MARK: Views

    public var connectedPeers: [NodeID] { core.connectedPeers }

    /// Open TCP connections, sessions and handshakes in progress alike.
    public var openConnectionCount: Int { channels.count }

    /// Connections refused since start (strangers, failed handshakes, cool-downs).
    public var refusedConnectionCount: Int { core.refusedConnectionCount }

    /// The latest refused connections, newest last, for the operator's status view.
    public var recentRefusals: [RefusedConnection] { core.recentRefusals }

    /// Envelopes replaced by a newer one from the same peer before they were verified.
    public var supersededEnvelopes: Int { verification.superseded }

    /// Updates that waited for their peer's rate limit (`NetworkConfiguration.minimumUpdateInterval`).
    public var rateLimitedUpdates: Int { verification.rateLimited }

    /// Times a connection stopped being read because its peer's update waited for verification.
    public var readPauses: Int { verification.pauses }

    /// Every known peer, from `PeerConnections`' record, with the traffic counted so far.
    public func peers() -> [PeerConnectionSnapshot] {
        for id in channels.keys.sorted() { reportTraffic(of: id) }
        return core.snapshots(now: now)
    }

    private func reportTraffic(of id: ConnectionID) {
        guard let counter = channels[id]?.counter else { return }
        let (received, sent) = counter.takeUnreported()
        let now = self.now
        core.bytesRead(id, count: received, now: now)
        core.bytesWritten(id, count: sent, now: now)
    }

    // MARK: Shutdown

    /// Says goodbye to every peer, stops dialling and listening, and ends `events`.
    public func shutdown() async {
        guard !shuttingDown else { return }
        shuttingDown = true
        run(core.shutdownRequested(now: now))
        for (_, timer) in dialTimers { timer.task.cancel() }
        dialTimers = [:]
        verificationWakeUp?.cancel()
        verificationWakeUp = nil
        let open = channels.values.map(\.channel)
        // A connect that completes after the signal stream ends would go unseen: close it then.
        for (_, connecting) in pendingDials { connecting.whenSuccess { $0.close(promise: nil) } }
        pendingDials = [:]
        try? await listener?.close()
        for channel in open {
            channel.close(promise: nil)
            try? await channel.closeFuture.get()
        }
        signalSink.finish()
        await signalTask?.value
        eventSink.finish()
    }

    // MARK: Executing actions

    private func run(_ actions: [PeerConnectionAction]) {
        for action in actions {
            switch action {
            case let .dial(peer, host, port, connection):
                dial(peer, host: host, port: port, connection: connection)
            case let .scheduleDial(peer, delay):
                dialTimers[peer]?.task.cancel()
                timerGeneration += 1
                let generation = timerGeneration
                dialTimers[peer] = (generation, Task { [weak self] in
                    do { try await Task.sleep(for: delay) } catch { return }
                    await self?.dialTimerFired(peer, generation: generation)
                })
            case let .cancelDial(peer):
                dialTimers.removeValue(forKey: peer)?.task.cancel()
            case let .close(connection, goodbye):
                guard let channel = channels[connection]?.channel else { break }  // not open yet: the core closes it on arrival
                if let goodbye {
                    channel.writeAndFlush(Frame.goodbye(goodbye, message: "\(goodbye)"), promise: nil)
                }
                channel.close(promise: nil)
            case let .setCoolDown(peer, until):
                coolDowns.set(peer, until: until)
            case let .report(event):
                eventSink.yield(event)
            case let .log(entry):
                var metadata: Logger.Metadata = [:]
                if let peer = entry.peer { metadata["peer"] = "\(peer.short)" }
                switch entry.level {
                case .debug: logger.debug("\(entry.message)", metadata: metadata)
                case .info: logger.info("\(entry.message)", metadata: metadata)
                case .notice: logger.notice("\(entry.message)", metadata: metadata)
                }
            }
        }
    }

    private func run(_ actions: [VerificationQueue.Action]) {
        for action in actions {
            switch action {
            case let .verify(envelope, peer):
                verifyOffLoop(envelope, from: peer)
            case let .pauseReading(connection):
                _ = channels[connection]?.channel.setOption(ChannelOptions.autoRead, value: false)
            case let .resumeReading(connection):
                _ = channels[connection]?.channel.setOption(ChannelOptions.autoRead, value: true)
            case let .wakeUp(at):
                verificationWakeUp?.cancel()
                let delay = at > now ? at.since(now) : .zero
                verificationWakeUp = Task { [weak self] in
                    do { try await Task.sleep(for: delay) } catch { return }
                    await self?.verificationWakeUpFired()
                }
            }
        }
    }

    private func verificationWakeUpFired() {
        verificationWakeUp = nil
        guard !shuttingDown else { return }
        run(verification.timerFired(now: now))
    }

    private func dialTimerFired(_ peer: NodeID, generation: UInt64) {
        guard dialTimers[peer]?.generation == generation else { return }  // replaced or cancelled meanwhile
        dialTimers[peer] = nil
        run(core.dialDue(peer, now: now))
    }

    /// Starts a TCP connect; its channel reports `.opened` (before the connect completes), a failure
    /// reports `.dialFailed`, both through the one ordered signal stream.
    private func dial(_ peer: NodeID, host: String, port: Int, connection: ConnectionID) {
        let address = "\(host):\(port)"
        let sink = signalSink
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
            .connectTimeout(.seconds(5))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try self.install(on: channel, connection: connection, dialled: peer, address: address) }
            }
        let connecting = bootstrap.connect(host: host, port: port)
        pendingDials[connection] = connecting
        connecting.whenFailure { error in
            sink.yield(.dialFailed(connection, "\(error)"))
        }
    }

    // MARK: Signals from the event loops

    private func handle(_ signal: Signal) {
        let now = self.now
        switch signal {
        case let .opened(id, channel, counter, address):
            channels[id] = (channel, counter)
            pendingDials[id] = nil
            switch id.direction {
            case .outbound: run(core.dialSucceeded(id, now: now))
            case .inbound: run(core.inboundAccepted(id, address: address, now: now))
            }
        case let .dialFailed(id, error):
            pendingDials[id] = nil
            run(core.dialFailed(id, error: error, now: now))
        case let .session(id, event):
            handleSession(event, connection: id, now: now)
        case let .closed(id):
            reportTraffic(of: id)
            channels[id] = nil
            verification.connectionClosed(id)
            run(core.channelClosed(id, now: now))
        case let .verified(result, from):
            finishVerification(result, from: from)
        }
    }

    private func handleSession(_ event: SessionEvent, connection id: ConnectionID, now: Timestamp) {
        switch event {
        case let .established(identity):
            run(core.handshakeCompleted(id, peer: identity.id, now: now))
        case let .frame(frame):
            guard let peer = core.frameReceived(id, now: now) else { return }
            switch frame {
            case let .modelUpdate(envelope):
                run(verification.arrived(envelope, from: peer, on: id, now: now))
            case .goodbye, .ping, .pong, .error:
                break  // goodbye: the close that follows is reported by channelClosed
            }
        case let .failed(failure):
            run(core.faultObserved(id, failure: failure, now: now))
        }
    }

    // MARK: Verification, off the event loop

    /// At most `maximumConcurrentVerifications` of these run at once (`VerificationQueue`).
    private func verifyOffLoop(_ envelope: [UInt8], from peer: NodeID) {
        let me = localIdentity
        let admission = self.admission
        let limits = configuration.updateLimits
        let now = self.now
        let sink = signalSink
        Task.detached(priority: .medium) {
            let result = SignedModelUpdate.verify(envelope, limits: limits, now: now) { author in
                author == me || admission.admits(author) ? .known : .unknown
            }
            sink.yield(.verified(result, from: peer))
        }
    }

    private func finishVerification(_ result: Result<ModelUpdate, UpdateRejection>, from peer: NodeID) {
        switch result {
        case let .success(update):
            core.updateVerified(from: peer)
            eventSink.yield(.received(update, from: peer))
        case let .failure(rejection):
            logger.notice("update rejected", metadata: ["peer": "\(peer.short)", "reason": "\(rejection.reason.rawValue)"])
            eventSink.yield(.rejected(rejection, from: peer))
        }
        run(verification.finished(peer, now: now))
    }
}

/// The core's cool-downs, read by handshakes on the event loops and written only by the shell
/// executing `PeerConnectionAction.setCoolDown`.
final class CoolDowns: Sendable {
    private let until = Mutex<[NodeID: Timestamp]>([:])

    func set(_ peer: NodeID, until end: Timestamp?) { until.withLock { $0[peer] = end } }

    func isCoolingDown(_ peer: NodeID, now: Timestamp) -> Bool {
        until.withLock { table in table[peer].map { now < $0 } ?? false }
    }
}

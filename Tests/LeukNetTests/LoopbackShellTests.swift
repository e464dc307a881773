import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import Logging
import NIOCore
import NIOPosix
import Testing

/// Collects a shell's events so a test can wait for the one it expects.
actor EventLog {
    private(set) var events: [NetworkEvent] = []
    private var task: Task<Void, Never>?

    init(_ stream: AsyncStream<NetworkEvent>) {
        task = nil
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<NetworkEvent>) async {
        for await event in stream { events.append(event) }
    }

    /// Waits up to `seconds` for an event matching `predicate`; returns it or nil.
    func wait(seconds: Double = 30, for predicate: @Sendable (NetworkEvent) -> Bool) async -> NetworkEvent? {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        while monotonicNanoseconds() < deadline {
            if let hit = events.first(where: predicate) { return hit }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}

@Suite(.serialized) struct LoopbackShellTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func shell(_ identity: NodeIdentity, admitting others: [NodeIdentity]) -> (NetworkShell, AllowList) {
        let allow = AllowList(others.map(\.id))
        let config = NetworkConfiguration(identity: identity, host: "127.0.0.1", port: 0,
                                          backoff: ReconnectBackoff(initial: .milliseconds(50), maximum: .milliseconds(400)))
        return (NetworkShell(configuration: config, admission: allow, logger: Self.quiet), allow)
    }

    func update(version: UInt64, by author: NodeIdentity, count: Int = 1000) -> SealedModelUpdate {
        let metadata = ModelUpdateMetadata(version: version, timestamp: SystemWallClock().now(), sampleCount: 100, round: 3, degree: 2,
                                           metrics: ValidationMetrics(accuracy: 0.9, loss: 0.2), architecture: "test", parents: [])
        return SealedModelUpdate(metadata: metadata, parameters: (0..<count).map { Float($0) / 100 }, author: author.signing)
    }

    @Test func twoShellsExchangeAnUpdateAndRefuseAStranger() async throws {
        let (a, _) = shell(Keys.alice, admitting: [Keys.bob])
        let (b, _) = shell(Keys.bob, admitting: [Keys.alice])
        let logA = EventLog(a.events), logB = EventLog(b.events)
        _ = try await a.start()
        let portB = try await b.start()

        await a.connect(to: Keys.bob.id, host: "127.0.0.1", port: portB)
        #expect(await logA.wait { if case .peerConnected(Keys.bob.id, _, .outbound) = $0 { true } else { false } } != nil)
        #expect(await logB.wait { if case .peerConnected(Keys.alice.id, _, .inbound) = $0 { true } else { false } } != nil)

        // A signed update crosses, verified on arrival.
        let sealed = update(version: 1, by: Keys.alice)
        try await a.send(sealed, to: Keys.bob.id)
        let received = await logB.wait { if case .received = $0 { true } else { false } }
        guard case let .received(got, from)? = received else { Issue.record("no update received"); return }
        #expect(from == Keys.alice.id)
        #expect(got.author == Keys.alice.id)
        #expect(got.parameters.count == 1000)

        // The same update again is still authentic, so the shell passes it on: replays are the gossip
        // core's to judge (it alone holds the newest version per author), not the shell's.
        try await a.send(sealed, to: Keys.bob.id)
        #expect(await logB.wait { if case let .received(u, _) = $0 { u.metadata.version == 1 } else { false } } != nil)

        // A stranger with a valid key that nobody admitted is refused, with its fingerprint shown.
        let (m, _) = shell(Keys.mallory, admitting: [Keys.bob])
        let logM = EventLog(m.events)
        _ = try await m.start()
        await m.connect(to: Keys.bob.id, host: "127.0.0.1", port: portB)
        let refused = await logB.wait { if case .refused = $0 { true } else { false } }
        guard case let .refused(knock)? = refused else { Issue.record("stranger not refused"); return }
        #expect(knock.fingerprint == Keys.mallory.publicIdentity.fingerprint)
        #expect(knock.direction == .inbound)
        #expect(await b.refusedConnectionCount >= 1)
        #expect(await logM.wait(seconds: 0.3) { if case .peerConnected = $0 { true } else { false } } == nil)
        await m.shutdown()

        // Random garbage on the port: refused, and the node carries on.
        let garbage = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: portB).get()
        var rng = SeededGenerator(seed: 5)
        var junk = ByteBuffer()
        junk.writeBytes((0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try await garbage.writeAndFlush(junk)
        try await garbage.closeFuture.get()  // the node hangs up on it
        try await a.send(update(version: 2, by: Keys.alice), to: Keys.bob.id)
        #expect(await logB.wait { if case let .received(u, _) = $0 { u.metadata.version == 2 } else { false } } != nil)

        // Byte counters moved in both directions.
        let statusB = await b.peers().first { $0.peer == Keys.alice.id }
        #expect((statusB?.bytesReceived ?? 0) > 8000)
        #expect((statusB?.bytesSent ?? 0) > 0)
        #expect(statusB?.updatesReceived == 3)

        // Removing a peer closes its connection at once; a goodbye reaches the other side.
        await b.forget(peer: Keys.alice.id)
        #expect(await logA.wait { if case .peerDisconnected(Keys.bob.id, _) = $0 { true } else { false } } != nil)
        await a.shutdown()
        await b.shutdown()
    }

    @Test func redialsAfterThePeerRestarts() async throws {
        let (a, _) = shell(Keys.alice, admitting: [Keys.bob])
        let (b1, _) = shell(Keys.bob, admitting: [Keys.alice])
        let logA = EventLog(a.events)
        _ = try await a.start()
        let port = try await b1.start()
        await a.connect(to: Keys.bob.id, host: "127.0.0.1", port: port)
        #expect(await logA.wait { if case .peerConnected = $0 { true } else { false } } != nil)
        await b1.shutdown()
        #expect(await logA.wait { if case .peerDisconnected = $0 { true } else { false } } != nil)

        // Bob comes back on the same port; Alice's backoff loop finds him again.
        let config = NetworkConfiguration(identity: Keys.bob, host: "127.0.0.1", port: port)
        let b2 = NetworkShell(configuration: config, admission: AllowList([Keys.alice.id]), logger: Self.quiet)
        _ = try await b2.start()
        var connectedCount = 0
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while connectedCount < 2 && monotonicNanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            connectedCount = await logA.events.filter { if case .peerConnected = $0 { true } else { false } }.count
        }
        #expect(connectedCount == 2)
        #expect(await a.connectedPeers == [Keys.bob.id])
        await a.shutdown()
        await b2.shutdown()
    }

    @Test func bothSidesDiallingEndUpWithOneSession() async throws {
        let (a, _) = shell(Keys.alice, admitting: [Keys.bob])
        let (b, _) = shell(Keys.bob, admitting: [Keys.alice])
        let logA = EventLog(a.events), logB = EventLog(b.events)
        let portA = try await a.start()
        let portB = try await b.start()
        await a.connect(to: Keys.bob.id, host: "127.0.0.1", port: portB)
        await b.connect(to: Keys.alice.id, host: "127.0.0.1", port: portA)
        #expect(await logA.wait { if case .peerConnected = $0 { true } else { false } } != nil)
        #expect(await logB.wait { if case .peerConnected = $0 { true } else { false } } != nil)
        // Both dialled, so two connections existed; each side must close the same one.
        var settled = false
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while !settled && monotonicNanoseconds() < deadline {
            try await Task.sleep(for: .milliseconds(20))
            let countA = await a.openConnectionCount, countB = await b.openConnectionCount
            settled = countA == 1 && countB == 1
        }
        #expect(settled)
        #expect(await a.connectedPeers == [Keys.bob.id])
        #expect(await b.connectedPeers == [Keys.alice.id])
        try await a.send(update(version: 1, by: Keys.alice), to: Keys.bob.id)
        #expect(await logB.wait { if case .received = $0 { true } else { false } } != nil)
        await a.shutdown()
        await b.shutdown()
    }

    @Test func coolDownDisconnectsAndRefusesUntilItEnds() async throws {
        let (a, _) = shell(Keys.alice, admitting: [Keys.bob])
        let (b, _) = shell(Keys.bob, admitting: [Keys.alice])
        let logA = EventLog(a.events), logB = EventLog(b.events)
        _ = try await a.start()
        let portB = try await b.start()
        await a.connect(to: Keys.bob.id, host: "127.0.0.1", port: portB)
        #expect(await logB.wait { if case .peerConnected = $0 { true } else { false } } != nil)

        let start = monotonicNanoseconds()
        await b.disconnect(peer: Keys.alice.id, coolDown: .milliseconds(2500))
        #expect(await logA.wait { if case .peerDisconnected(Keys.bob.id, _) = $0 { true } else { false } } != nil)
        #expect(await b.peers().first { $0.peer == Keys.alice.id }?.state == .coolingDown)
        // Alice redials with backoff (50-400 ms); Bob refuses her while the cool-down lasts. The
        // cool-down is long against the backoff so that a loaded CI machine still redials inside it.
        let refusal = await logB.wait(seconds: 10) { if case .refused = $0 { true } else { false } }
        guard case let .refused(knock)? = refusal else { Issue.record("no refusal during the cool-down"); return }
        #expect(knock.reason == .coolingDown(Keys.alice.id))
        #expect(knock.fingerprint == Keys.alice.publicIdentity.fingerprint)
        #expect(await b.connectedPeers.isEmpty)
        // ...and admits her again after it.
        var reconnected = false
        while !reconnected && monotonicNanoseconds() - start < 15_000_000_000 {
            try await Task.sleep(for: .milliseconds(20))
            reconnected = await b.connectedPeers == [Keys.alice.id]
        }
        #expect(reconnected)
        #expect(monotonicNanoseconds() - start >= 2_500_000_000)
        await a.shutdown()
        await b.shutdown()
    }

    @Test func strangersHoldingHalfOpenHandshakesAreCapped() async throws {
        let allow = AllowList([Keys.alice.id])
        let config = NetworkConfiguration(identity: Keys.bob, host: "127.0.0.1", port: 0, maximumPendingHandshakes: 2)
        let b = NetworkShell(configuration: config, admission: allow, logger: Self.quiet)
        let logB = EventLog(b.events)
        let port = try await b.start()
        let group = MultiThreadedEventLoopGroup.singleton
        var silent: [any Channel] = []
        for _ in 0..<2 {
            silent.append(try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get())
        }
        try await Task.sleep(for: .milliseconds(100))
        // A third silent stranger is over the cap: the node hangs up on it at once.
        let knocked = monotonicNanoseconds()
        let third = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        try await third.closeFuture.get()
        // Well before the 10 s handshake timeout that would close it anyway.
        #expect(monotonicNanoseconds() - knocked < 3_000_000_000)
        let stillOpen = silent.allSatisfy { $0.isActive }
        #expect(stillOpen)

        // Once the squatters leave, an admitted peer gets in as usual.
        for channel in silent { try await channel.close() }
        try await Task.sleep(for: .milliseconds(100))
        let (a, _) = shell(Keys.alice, admitting: [Keys.bob])
        _ = try await a.start()
        await a.connect(to: Keys.bob.id, host: "127.0.0.1", port: port)
        #expect(await logB.wait { if case .peerConnected(Keys.alice.id, _, _) = $0 { true } else { false } } != nil)
        await a.shutdown()
        await b.shutdown()
    }

    /// Twenty updates written in one flush by a raw client (the handler stack a node runs, driven by
    /// hand) reach a node that verifies one at a time, at most one of Alice's every 4 seconds here. Frames read together find the only slot busy,
    /// so the node stops reading the connection until a slot frees; nothing is reordered, and what
    /// is not delivered was superseded by a newer update from the same peer.
    @Test func aFloodOfUpdatesIsReadOnlyAsFastAsItIsVerified() async throws {
        var config = NetworkConfiguration(identity: Keys.bob, host: "127.0.0.1", port: 0, maximumConcurrentVerifications: 1)
        // Long enough that no verification, however loaded the machine, ends before Alice's next start is due,
        // and that the frames still in flight after the first are read before it is (1 s was not: on a clean-clone
        // CI run, with the suite's other tests sharing two cores, no update was held, 2026-12-07).
        config.minimumUpdateInterval = .seconds(4)
        let b = NetworkShell(configuration: config, admission: AllowList([Keys.alice.id]), logger: Self.quiet)
        let logB = EventLog(b.events)
        let port = try await b.start()

        let (client, opened) = try await rawAlice(dialling: port)
        try await opened.get()

        let count = 20
        for version in 1...count {
            client.write(Frame.modelUpdate(update(version: UInt64(version), by: Keys.alice).bytes), promise: nil)
        }
        client.flush()
        #expect(await logB.wait { if case let .received(u, _) = $0 { u.metadata.version == UInt64(count) } else { false } } != nil)

        let versions = await logB.events.compactMap { if case let .received(u, _) = $0 { u.metadata.version } else { nil } }
        #expect(versions == versions.sorted() && Set(versions).count == versions.count, "one peer's updates stay in order")
        #expect(versions.count + (await b.supersededEnvelopes) == count)
        #expect(await b.readPauses >= 1)
        // The flood also meets Alice's rate limit (4 s between her verifications here): the frames
        // read while she waits only replace one another, so most of the twenty are never verified.
        #expect(await b.rateLimitedUpdates >= 1)
        #expect(versions.count < count)
        #expect(client.isActive, "backpressure is no reason to hang up")
        // Reading resumed: a later update still gets through.
        try await client.writeAndFlush(Frame.modelUpdate(update(version: UInt64(count + 1), by: Keys.alice).bytes))
        #expect(await logB.wait { if case let .received(u, _) = $0 { u.metadata.version == UInt64(count + 1) } else { false } } != nil)
        #expect(await b.peers().first?.updatesReceived == versions.count + 1)
        try await client.close()
        await b.shutdown()
    }

    /// An admitted peer whose session carries garbage (here a length prefix far above the limit) is
    /// disconnected, counted, and refused until its fault cool-down ends.
    @Test func aPeerThatSendsGarbageIsDisconnectedAndCooledDown() async throws {
        let config = NetworkConfiguration(identity: Keys.bob, host: "127.0.0.1", port: 0, faultCoolDown: .seconds(30))
        let b = NetworkShell(configuration: config, admission: AllowList([Keys.alice.id]), logger: Self.quiet)
        let logB = EventLog(b.events)
        let port = try await b.start()
        let (client, opened) = try await rawAlice(dialling: port, garbage: [0xff, 0xff, 0xff, 0x7f])
        try await opened.get()
        let dropped = await logB.wait { if case .peerDisconnected(Keys.alice.id, .frameTooLarge?) = $0 { true } else { false } }
        #expect(dropped != nil)
        try await client.closeFuture.get()  // the node hung up
        let status = await b.peers().first { $0.peer == Keys.alice.id }
        #expect(status?.faults == ["frame_too_large": 1])
        #expect(status?.state == .coolingDown)
        #expect(status?.coolDownUntil != nil)

        // The same peer, now well-behaved, is refused while the cool-down lasts.
        let (again, openedAgain) = try await rawAlice(dialling: port)
        await #expect(throws: (any Error).self) { try await openedAgain.get() }
        let refusal = await logB.wait { if case .refused = $0 { true } else { false } }
        guard case let .refused(knock)? = refusal else { Issue.record("no refusal during the cool-down"); return }
        #expect(knock.reason == .coolingDown(Keys.alice.id))
        #expect(await b.connectedPeers.isEmpty)
        try? await again.close()
        await b.shutdown()
    }

    /// Alice's handler stack driven by hand, dialling Bob; `garbage` is written once the session opens.
    func rawAlice(dialling port: Int, garbage: [UInt8]? = nil) async throws -> (any Channel, EventLoopFuture<Void>) {
        let opened = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let client = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RawGate())
                    try sync.addHandlers(PeerPipeline.handlers(role: .initiator(expectedPeer: Keys.bob.id),
                                                               configuration: Keys.configuration(Keys.alice, admitting: [Keys.bob]),
                                                               maximumFrameBytes: 1 << 20, timers: SessionTimers(),
                                                               counter: TrafficCounter()))
                    try sync.addHandler(SessionOpened(promise: opened, garbage: garbage))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return (client, opened.futureResult)
    }
}

/// Completes a promise when the session it sits behind opens, and then, when given garbage, writes
/// it below the session handler (through `RawGate`): bytes no honest session would send.
final class SessionOpened: ChannelInboundHandler {
    typealias InboundIn = SessionEvent
    let promise: EventLoopPromise<Void>
    let garbage: [UInt8]?
    private var done = false
    init(promise: EventLoopPromise<Void>, garbage: [UInt8]?) {
        self.promise = promise
        self.garbage = garbage
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done, case .established = unwrapInboundIn(data) else { return }
        done = true
        promise.succeed()
        if let garbage, let gate = try? context.pipeline.syncOperations.context(handlerType: RawGate.self) {
            gate.writeAndFlush(NIOAny(ByteBuffer(bytes: garbage)), promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done { promise.fail(ChannelFailure.closedDuringHandshake) }
        done = true
        context.fireChannelInactive()
    }
}

/// Sits at the socket end of a test client's pipeline; writing from its context skips the session.
final class RawGate: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
}

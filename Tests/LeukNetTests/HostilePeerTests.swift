import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import NIOCore
import NIOEmbedded
import Testing

/// Regression tests for what the hostile-peer end-to-end suite (Tests/NodeE2ETests/HostilePeerE2ETests.swift)
/// found against real nodes, pinned here without a socket: the pure core fed by hand, the session
/// handler over embedded channels.
@Suite struct HostilePeerTests {
    static let t0 = Timestamp(nanosecondsSinceEpoch: 1_000_000_000_000_000_000)

    func closes(_ actions: [PeerConnectionAction]) -> [ConnectionID] {
        actions.compactMap { if case let .close(id, _) = $0 { id } else { nil } }
    }

    func refusals(_ actions: [PeerConnectionAction]) -> [RefusedConnection] {
        actions.compactMap { if case let .report(.refused(refusal)) = $0 { refusal } else { nil } }
    }

    /// A slowloris from one address filled all 64 handshake places, so an admitted peer dialling from
    /// anywhere else was closed on arrival for as long as the attack went on. Now one address gets at
    /// most its share, the rest of the places stay open, and every connection closed on arrival is
    /// counted as refused exactly once (not again when its "closed during the handshake" comes back).
    @Test func oneAddressCannotTakeEveryHandshakePlace() {
        var core = PeerConnections(localID: Keys.bob.id,
                                   configuration: .init(maximumPendingHandshakes: 5, maximumPendingHandshakesPerAddress: 2))
        func inbound(_ n: UInt64) -> ConnectionID { ConnectionID(.inbound, n) }
        #expect(core.inboundAccepted(inbound(1), address: "10.0.0.9:4001", now: Self.t0).isEmpty)
        #expect(core.inboundAccepted(inbound(2), address: "10.0.0.9:4002", now: Self.t0).isEmpty)
        let third = core.inboundAccepted(inbound(3), address: "10.0.0.9:4003", now: Self.t0)
        #expect(closes(third) == [inbound(3)])
        #expect(refusals(third).map(\.reason) == [.tooManyPendingHandshakes(limit: 2, fromOneAddress: true)])
        // Another address still gets in, up to the overall cap.
        #expect(core.inboundAccepted(inbound(4), address: "10.0.0.8:5000", now: Self.t0).isEmpty)
        #expect(core.inboundAccepted(inbound(5), address: "[::1]:5000", now: Self.t0).isEmpty)
        #expect(core.inboundAccepted(inbound(6), address: "10.0.0.7:5000", now: Self.t0).isEmpty)
        let overall = core.inboundAccepted(inbound(7), address: "10.0.0.6:5000", now: Self.t0)
        #expect(refusals(overall).map(\.reason) == [.tooManyPendingHandshakes(limit: 5, fromOneAddress: false)])
        #expect(core.refusedConnectionCount == 2)
        // The dropped connections report their end of the handshake; that is not a second refusal.
        #expect(core.handshakeFailed(inbound(3), failure: .closedDuringHandshake, now: Self.t0).isEmpty)
        #expect(core.handshakeFailed(inbound(7), failure: .closedDuringHandshake, now: Self.t0).isEmpty)
        #expect(core.refusedConnectionCount == 2)
        // A finished handshake frees its address's place.
        _ = core.handshakeCompleted(inbound(1), peer: Keys.alice.id, now: Self.t0)
        _ = core.channelClosed(inbound(3), now: Self.t0)
        #expect(core.inboundAccepted(inbound(8), address: "10.0.0.9:4004", now: Self.t0).isEmpty)
        // The failure has a stable code and is not garbage: no cool-down, no score.
        let failure = ChannelFailure.tooManyPendingHandshakes(limit: 2, fromOneAddress: true)
        #expect(failure.code == "too_many_pending_handshakes" && !failure.isProtocolViolation && !failure.isAuthenticatedGarbage)
    }

    /// An admitted peer that flooded pings and never read made the node queue a pong per ping without
    /// bound (hundreds of MiB in seconds against a real node). Pongs now go out only while the channel
    /// is writable; the session stays up, and answers again once the peer reads.
    @Test func pingsAreNotAnsweredWhileThePeerDoesNotRead() throws {
        let link = try EmbeddedLink.standard(client: Keys.configuration(Keys.alice, admitting: [Keys.bob]), expecting: Keys.bob.id,
                                             server: Keys.configuration(Keys.bob, admitting: [Keys.alice]))
        try link.activate()
        try link.pump()
        _ = try EmbeddedLink.events(link.client)
        _ = try EmbeddedLink.events(link.server)
        func ping() throws {
            link.client.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.write)
            let bytes = try #require(try link.client.readOutbound(as: ByteBuffer.self))
            try link.server.writeInbound(bytes)
        }
        link.server.isWritable = false
        for _ in 0..<100 { try ping() }
        #expect(try link.server.readOutbound(as: ByteBuffer.self) == nil, "a pong was queued to a peer that does not read")
        #expect(link.server.isActive && link.client.isActive)
        #expect(try EmbeddedLink.events(link.server).isEmpty)
        let handler = try link.server.pipeline.syncOperations.handler(type: PeerSessionHandler.self)
        #expect(handler.unansweredPings == 100)
        link.server.isWritable = true
        try ping()
        let pong = try #require(try link.server.readOutbound(as: ByteBuffer.self))
        try link.client.writeInbound(pong)
        #expect(try EmbeddedLink.events(link.client).isEmpty && link.client.isActive)
    }
}

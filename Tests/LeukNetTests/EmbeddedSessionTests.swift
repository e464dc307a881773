import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import NIOCore
import NIOEmbedded
import Testing

enum Keys {
    static func identity(_ byte: UInt8) -> NodeIdentity {
        NodeIdentity(signing: try! SigningKeyPair(seed: [UInt8](repeating: byte, count: 32)),
                     agreement: try! AgreementKeyPair(secret: [UInt8](repeating: byte &+ 0x40, count: 32)))
    }
    static let alice = identity(1)
    static let bob = identity(2)
    static let mallory = identity(3)

    static func configuration(_ me: NodeIdentity, admitting others: [NodeIdentity]) -> HandshakeConfiguration {
        let allowed = Set(others.map(\.id))
        return HandshakeConfiguration(identity: me, admits: { allowed.contains($0.id) })
    }
}

/// Two embedded channels wired back to back: what one writes, the other reads, on demand.
struct EmbeddedLink {
    let client: EmbeddedChannel
    let server: EmbeddedChannel

    init(client clientHandlers: [any ChannelHandler], server serverHandlers: [any ChannelHandler]) throws {
        client = EmbeddedChannel()
        server = EmbeddedChannel()
        try client.pipeline.syncOperations.addHandlers(clientHandlers)
        try server.pipeline.syncOperations.addHandlers(serverHandlers)
    }

    static func standard(client: HandshakeConfiguration, expecting: NodeID?, server: HandshakeConfiguration,
                         maximumFrameBytes: Int = 1 << 20) throws -> EmbeddedLink {
        let timers = SessionTimers()
        return try EmbeddedLink(
            client: PeerPipeline.handlers(role: .initiator(expectedPeer: expecting), configuration: client,
                                          maximumFrameBytes: maximumFrameBytes, timers: timers, counter: TrafficCounter()),
            server: PeerPipeline.handlers(role: .responder, configuration: server,
                                          maximumFrameBytes: maximumFrameBytes, timers: timers, counter: TrafficCounter()))
    }

    func activate() throws {
        // Connecting makes the channels active, which starts the handshake on the client.
        try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
    }

    /// Moves every pending outbound buffer across, both ways, until nothing moves.
    func pump() throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                if server.isActive { try server.writeInbound(bytes) }
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                if client.isActive { try client.writeInbound(bytes) }
                moved = true
            }
        }
    }

    static func events(_ channel: EmbeddedChannel) throws -> [SessionEvent] {
        var out: [SessionEvent] = []
        while let event = try channel.readInbound(as: SessionEvent.self) { out.append(event) }
        return out
    }
}

@Suite struct EmbeddedSessionTests {
    func establishedLink() throws -> EmbeddedLink {
        let link = try EmbeddedLink.standard(client: Keys.configuration(Keys.alice, admitting: [Keys.bob]), expecting: Keys.bob.id,
                                             server: Keys.configuration(Keys.bob, admitting: [Keys.alice]))
        try link.activate()
        try link.pump()
        #expect(try EmbeddedLink.events(link.client) == [.established(Keys.bob.publicIdentity)])
        #expect(try EmbeddedLink.events(link.server) == [.established(Keys.alice.publicIdentity)])
        return link
    }

    @Test func mutualAuthenticationThenFramesFlowBothWays() throws {
        let link = try establishedLink()
        try link.client.writeOutbound(Frame.modelUpdate([1, 2, 3, 4]))
        try link.server.writeOutbound(Frame.modelUpdate([9]))
        try link.pump()
        #expect(try EmbeddedLink.events(link.server) == [.frame(.modelUpdate([1, 2, 3, 4]))])
        #expect(try EmbeddedLink.events(link.client) == [.frame(.modelUpdate([9]))])
    }

    @Test func strangerIsRefusedDuringTheHandshakeBeforeAnyFrameMoves() throws {
        let link = try EmbeddedLink.standard(client: Keys.configuration(Keys.mallory, admitting: [Keys.bob]), expecting: nil,
                                             server: Keys.configuration(Keys.bob, admitting: [Keys.alice]))
        try link.activate()
        try link.pump()
        #expect(try EmbeddedLink.events(link.server) == [.failed(.handshake(.notAdmitted(Keys.mallory.publicIdentity)))])
        #expect(!link.server.isActive)
        // The stranger never saw the session open; a frame it tries to send is refused locally.
        _ = try EmbeddedLink.events(link.client)
        #expect(throws: (any Error).self) { try link.client.writeOutbound(Frame.modelUpdate([1])) }
    }

    @Test func initiatorRefusesAResponderItDoesNotAdmit() throws {
        let link = try EmbeddedLink.standard(client: Keys.configuration(Keys.alice, admitting: []), expecting: nil,
                                             server: Keys.configuration(Keys.mallory, admitting: [Keys.alice]))
        try link.activate()
        try link.pump()
        #expect(try EmbeddedLink.events(link.client) == [.failed(.handshake(.notAdmitted(Keys.mallory.publicIdentity)))])
        #expect(!link.client.isActive)
    }

    @Test func tamperedRecordClosesTheChannel() throws {
        let link = try establishedLink()
        try link.client.writeOutbound(Frame.modelUpdate([UInt8](repeating: 7, count: 100)))
        var record = try #require(try link.client.readOutbound(as: ByteBuffer.self))
        let index = record.readerIndex + 20
        record.setInteger(record.getInteger(at: index, as: UInt8.self)! ^ 0x01, at: index)
        try link.server.writeInbound(record)
        #expect(try EmbeddedLink.events(link.server) == [.failed(.decryptionFailed)])
        #expect(!link.server.isActive)
    }

    @Test func replayedRecordClosesTheChannel() throws {
        let link = try establishedLink()
        try link.client.writeOutbound(Frame.modelUpdate([5, 5]))
        let record = try #require(try link.client.readOutbound(as: ByteBuffer.self))
        try link.server.writeInbound(record)
        #expect(try EmbeddedLink.events(link.server) == [.frame(.modelUpdate([5, 5]))])
        try link.server.writeInbound(record)
        #expect(try EmbeddedLink.events(link.server) == [.failed(.decryptionFailed)])
        #expect(!link.server.isActive)
    }

    @Test func oversizeLengthPrefixIsRefusedFromItsFourBytes() throws {
        let link = try establishedLink()
        var prefix = ByteBuffer()
        prefix.writeInteger(UInt32(0xFFFF_FFF0), endianness: .little)
        // Only the four prefix bytes arrive: the refusal cannot have waited for (or buffered) a body.
        _ = try? link.server.writeInbound(prefix)
        #expect(try EmbeddedLink.events(link.server) == [.failed(.frameTooLarge(claimed: 0xFFFF_FFF0 - 17, limit: 1 << 20))])
        #expect(!link.server.isActive)
    }

    @Test func sendingAnOversizeFrameFailsLocally() throws {
        let link = try establishedLink()
        #expect(throws: ChannelFailure.frameTooLarge(claimed: (1 << 20) + 2, limit: 1 << 20)) {
            try link.client.writeOutbound(Frame.modelUpdate([UInt8](repeating: 0, count: (1 << 20) + 1)))
        }
    }

    @Test func keepAlivePingIsAnsweredAndIdlePeerIsDropped() throws {
        let link = try establishedLink()
        link.client.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.write)
        let ping = try #require(try link.client.readOutbound(as: ByteBuffer.self))
        try link.server.writeInbound(ping)
        let pong = try #require(try link.server.readOutbound(as: ByteBuffer.self))
        try link.client.writeInbound(pong)
        #expect(try EmbeddedLink.events(link.server).isEmpty)
        #expect(try EmbeddedLink.events(link.client).isEmpty)
        #expect(link.client.isActive && link.server.isActive)
        // When NIO's IdleStateHandler reports a silent peer (it reads the wall clock, so the test
        // raises its event directly), the session closes.
        link.server.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.read)
        #expect(try EmbeddedLink.events(link.server) == [.failed(.idleTimeout(seconds: 45))])
        #expect(!link.server.isActive)
    }

    @Test func handshakeTimesOut() throws {
        let link = try EmbeddedLink.standard(client: Keys.configuration(Keys.alice, admitting: [Keys.bob]), expecting: nil,
                                             server: Keys.configuration(Keys.bob, admitting: [Keys.alice]))
        try link.activate()  // the hello is never delivered
        link.client.embeddedEventLoop.advanceTime(by: .seconds(11))
        #expect(try EmbeddedLink.events(link.client) == [.failed(.handshakeTimeout(seconds: 10))])
        #expect(!link.client.isActive)
    }

    @Test func goodbyeEndsTheSessionOnBothSides() throws {
        let link = try establishedLink()
        try link.client.writeOutbound(Frame.goodbye(.shuttingDown, message: "bye"))
        #expect(!link.client.isActive)
        try link.pump()
        #expect(try EmbeddedLink.events(link.server) == [.frame(.goodbye(.shuttingDown, message: "bye"))])
        #expect(!link.server.isActive)
    }

    @Test func versionMismatchIsAClearErrorOnBothSides() throws {
        let future = HandshakeInitiator(configuration: Keys.configuration(Keys.alice, admitting: [Keys.bob]), expectedPeer: nil,
                                        ephemeral: KeyExchangeKeyPair(), version: 2)
        let link = try EmbeddedLink(
            client: [ByteToMessageHandler(SessionRecordDecoder(role: .initiator, version: 2)), PeerSessionHandler(initiator: future)],
            server: [ByteToMessageHandler(SessionRecordDecoder(role: .responder)),
                     PeerSessionHandler(role: .responder, configuration: Keys.configuration(Keys.bob, admitting: [Keys.alice]))])
        try link.activate()
        try link.pump()
        #expect(try EmbeddedLink.events(link.server) == [.failed(.handshake(.versionMismatch(ours: 1, theirs: 2)))])
        #expect(try EmbeddedLink.events(link.client) == [.failed(.handshake(.versionMismatch(ours: 2, theirs: 1)))])
        #expect(!link.client.isActive && !link.server.isActive)
    }

    @Test func randomGarbageIsRefusedWithoutCrashing() throws {
        var rng = SeededGenerator(seed: 7)
        for round in 0..<40 {
            let server = EmbeddedChannel()
            try server.pipeline.syncOperations.addHandlers(
                PeerPipeline.handlers(role: .responder, configuration: Keys.configuration(Keys.bob, admitting: [Keys.alice]),
                                      maximumFrameBytes: 1 << 20, timers: SessionTimers(), counter: TrafficCounter()))
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            let length = [1, 69, 70, 71, 300, 5000][round % 6]
            var buffer = ByteBuffer()
            buffer.writeBytes((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
            if round % 2 == 0 { buffer.setBytes(Array("LEUK".utf8) + [1, 0], at: 0) }  // get past the magic sometimes
            _ = try? server.writeInbound(buffer)
            let events = try EmbeddedLink.events(server)
            #expect(try server.readOutbound(as: ByteBuffer.self) == nil, "a stranger learns nothing")
            if length >= HandshakeLayout.helloByteCount {
                #expect(events.count == 1)
                #expect(!server.isActive)
            } else {
                #expect(events.isEmpty)  // still waiting for a whole hello; the handshake timer ends it
            }
            _ = try? server.finish()
        }
    }
}

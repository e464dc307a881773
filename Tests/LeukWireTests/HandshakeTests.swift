import LeukCore
import LeukCrypto
import LeukWire
import Testing

@Suite struct HandshakeTests {
    /// Runs a full handshake between two state machines; returns both sides' outcomes.
    func run(initiator: inout HandshakeInitiator, responder: inout HandshakeResponder)
        -> (EstablishedSession?, EstablishedSession?, HandshakeFailure?) {
        let hello = initiator.start()
        guard case let .send(response) = responder.receiveHello(hello) else { return (nil, nil, nil) }
        switch initiator.receiveResponse(response) {
        case let .failed(failure, _): return (nil, nil, failure)
        case .send: return (nil, nil, nil)
        case let .established(client, finish):
            switch responder.receiveFinish(finish) {
            case let .established(server, _): return (client, server, nil)
            case let .failed(failure, _): return (client, nil, failure)
            case .send: return (client, nil, nil)
            }
        }
    }

    @Test func mutualAuthenticationDerivesMatchingKeys() throws {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: Fixtures.bob.id)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        let (client, server, failure) = run(initiator: &i, responder: &r)
        #expect(failure == nil)
        let c = try #require(client), s = try #require(server)
        #expect(c.peer.id == Fixtures.bob.id)
        #expect(s.peer.id == Fixtures.alice.id)
        #expect(c.transcriptHash == s.transcriptHash)
        #expect(c.sendKey.copyBytes() == s.receiveKey.copyBytes())
        #expect(c.receiveKey.copyBytes() == s.sendKey.copyBytes())
        #expect(c.sendKey.copyBytes() != c.receiveKey.copyBytes())
    }

    @Test func responderRefusesStrangerAfterItProvesItsIdentity() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.mallory, admitting: [Fixtures.bob]), expectedPeer: nil)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        let (_, server, failure) = run(initiator: &i, responder: &r)
        #expect(server == nil)
        #expect(failure == .notAdmitted(Fixtures.mallory.publicIdentity))
    }

    @Test func initiatorRefusesUnadmittedResponderBeforeSendingAnything() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: []), expectedPeer: nil)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.mallory, admitting: [Fixtures.alice]))
        let (client, _, failure) = run(initiator: &i, responder: &r)
        #expect(client == nil)
        #expect(failure == .notAdmitted(Fixtures.mallory.publicIdentity))
    }

    @Test func initiatorRefusesAnIdentityOtherThanTheOneItDialled() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob, Fixtures.mallory]),
                                   expectedPeer: Fixtures.bob.id)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.mallory, admitting: [Fixtures.alice]))
        let (_, _, failure) = run(initiator: &i, responder: &r)
        #expect(failure == .unexpectedPeer(expected: Fixtures.bob.id, actual: Fixtures.mallory.id))
    }

    @Test func wrongNetworkKeyGetsSilence() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob], networkKey: .generate()),
                                   expectedPeer: nil)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        guard case let .failed(failure, send) = r.receiveHello(i.start()) else { Issue.record("hello accepted"); return }
        #expect(failure == .networkKeyMismatch)
        #expect(send.isEmpty)
    }

    @Test func versionMismatchIsReportedOnBothSides() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: nil,
                                   ephemeral: KeyExchangeKeyPair(), version: 2)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        guard case let .failed(failure, notice) = r.receiveHello(i.start()) else { Issue.record("hello accepted"); return }
        #expect(failure == .versionMismatch(ours: 1, theirs: 2))
        #expect(notice == Array("LEUK".utf8) + [1, 0])
        guard case let .failed(clientFailure, _) = i.receiveResponse(notice) else { Issue.record("notice accepted"); return }
        #expect(clientFailure == .versionMismatch(ours: 2, theirs: 1))
        #expect(clientFailure.description.contains("version 2"))
    }

    @Test func manInTheMiddleSwappingEphemeralsGetsNoSession() {
        // Mallory knows the (public default) network key, so she can rewrite the hello with her own
        // ephemeral and relay Bob's sealed proof; neither side may end up with a session.
        var alice = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: Fixtures.bob.id)
        var bob = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        var malloryToBob = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.mallory, admitting: [Fixtures.bob]), expectedPeer: nil)
        var malloryToAlice = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.mallory, admitting: [Fixtures.alice]))

        let aliceHello = alice.start()
        let swappedHello = malloryToBob.start()
        guard case let .send(bobResponse) = bob.receiveHello(swappedHello) else { Issue.record("bob refused"); return }
        guard case let .send(malloryResponse) = malloryToAlice.receiveHello(aliceHello) else { Issue.record("mallory refused"); return }
        // Bob's response with Mallory's ephemeral spliced in: the sealed proof no longer opens.
        var spliced = bobResponse
        spliced.replaceSubrange(6..<38, with: malloryResponse[6..<38])
        guard case let .failed(failure, _) = alice.receiveResponse(spliced) else { Issue.record("alice accepted a swapped ephemeral"); return }
        #expect(failure == .decryptionFailed(message: "handshake response"))
        // And Bob's response unchanged, to a hello he never saw: also refused.
        var alice2 = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: Fixtures.bob.id)
        _ = alice2.start()
        guard case .failed = alice2.receiveResponse(bobResponse) else { Issue.record("alice accepted a relayed response"); return }
        // Mallory finishing towards Bob with her own identity is simply not admitted...
        guard case let .established(_, finish) = malloryToBob.receiveResponse(bobResponse) else { Issue.record("mallory could not finish"); return }
        guard case let .failed(bobFailure, _) = bob.receiveFinish(finish) else { Issue.record("bob admitted mallory"); return }
        #expect(bobFailure == .notAdmitted(Fixtures.mallory.publicIdentity))
    }

    @Test func replayedHandshakeMessagesMakeNoSession() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: Fixtures.bob.id)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        let hello = i.start()
        guard case let .send(response) = r.receiveHello(hello),
              case let .established(_, finish) = i.receiveResponse(response),
              case .established = r.receiveFinish(finish) else { Issue.record("honest handshake failed"); return }

        // An eavesdropper replays the recorded hello and finish to a fresh responder.
        var replayTarget = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        guard case .send = replayTarget.receiveHello(hello) else { Issue.record("hello refused"); return }
        guard case let .failed(failure, _) = replayTarget.receiveFinish(finish) else { Issue.record("replayed finish accepted"); return }
        #expect(failure == .decryptionFailed(message: "handshake finish"))

        // A recorded response replayed to a fresh initiator fails too.
        var replayInitiator = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: nil)
        _ = replayInitiator.start()
        guard case let .failed(f2, _) = replayInitiator.receiveResponse(response) else { Issue.record("replayed response accepted"); return }
        #expect(f2 == .decryptionFailed(message: "handshake response"))

        // And a state machine never accepts a second message of the same kind.
        guard case .failed = r.receiveFinish(finish) else { Issue.record("second finish accepted"); return }
    }

    @Test func lowOrderEphemeralIsRefused() {
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        let zero = [UInt8](repeating: 0, count: 32)
        let tag = NetworkKey.publicDefault.authenticate(Array("leuknode/v1/handshake-hello".utf8) + Array("LEUK".utf8) + [1, 0] + zero)
        guard case let .failed(failure, _) = r.receiveHello(Array("LEUK".utf8) + [1, 0] + zero + tag) else {
            Issue.record("all-zero ephemeral accepted"); return
        }
        #expect(failure == .keyExchangeFailed)
    }

    @Test func tamperedResponseAndGarbageAreRefused() {
        var i = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: nil)
        var r = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        guard case var .send(response) = r.receiveHello(i.start()) else { Issue.record("refused"); return }
        response[100] ^= 1
        guard case .failed(.decryptionFailed, _) = i.receiveResponse(response) else { Issue.record("tampered response accepted"); return }

        var r2 = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
        let http = Array("GET / HTTP/1.1\r\n".utf8)
        guard case .failed(.notLeuknode, _) = r2.receiveHello(http + [UInt8](repeating: 0, count: HandshakeLayout.helloByteCount - http.count)) else {
            Issue.record("HTTP accepted"); return
        }
    }
}

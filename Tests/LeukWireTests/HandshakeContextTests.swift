import LeukCore
import LeukCrypto
@testable import LeukWire
import Testing

/// Handshake signatures made under any other context must fail. The messages are built by hand from
/// the transcript pieces, and the same construction with the right context is checked to pass, so
/// the refusal can only come from the context.
@Suite struct HandshakeContextTests {
    func response(to hello: [UInt8], signingUnder context: SigningContext) throws -> [UInt8] {
        let ephemeral = KeyExchangeKeyPair()
        let keys = try ephemeral.serverSessionKeys(clientPublicKey: AgreementPublicKey(bytes: Array(hello[6..<38])))
        let prefix = WireProtocol.magic + [1, 0] + ephemeral.publicKey.bytes
        let h0 = Transcript.h0(hello: hello, responsePrefix: prefix)
        let hR = Transcript.hR(h0: h0, responder: Fixtures.bob.publicIdentity)
        let signature = Fixtures.bob.signing.sign(hR, context: context)
        let proof = HandshakeProof(identity: Fixtures.bob.publicIdentity, signature: signature).encoded()
        return prefix + keys.transmit.derive(label: WireLabel.responderSealKey, binding: h0).sealOnce(proof, associatedData: h0)
    }

    @Test func responderSignatureUnderAnotherContextIsRefused() throws {
        for context in SigningContext.allCases {
            var initiator = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]),
                                               expectedPeer: Fixtures.bob.id)
            let hello = initiator.start()
            let step = initiator.receiveResponse(try response(to: hello, signingUnder: context))
            if context == .handshakeResponder {
                guard case .established = step else { Issue.record("the right context was refused"); continue }
            } else {
                guard case let .failed(failure, _) = step else { Issue.record("\(context) accepted"); continue }
                #expect(failure == .signatureInvalid(Fixtures.bob.id))
            }
        }
    }

    @Test func initiatorSignatureUnderAnotherContextIsRefused() throws {
        for context in SigningContext.allCases {
            var responder = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]))
            let initiatorEphemeral = KeyExchangeKeyPair()
            var initiator = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]),
                                               expectedPeer: nil, ephemeral: initiatorEphemeral)
            let hello = initiator.start()
            guard case let .send(response) = responder.receiveHello(hello) else { Issue.record("hello refused"); return }
            // Alice's side, by hand: the same keys and hashes the state machine computes.
            let keys = try initiatorEphemeral.clientSessionKeys(serverPublicKey: AgreementPublicKey(bytes: Array(response[6..<38])))
            let h0 = Transcript.h0(hello: hello, responsePrefix: Array(response[0..<38]))
            let opened = try keys.receive.derive(label: WireLabel.responderSealKey, binding: h0)
                .openOnce(Array(response[38...]), associatedData: h0, what: "response")
            let proofR = try #require(HandshakeProof.decode(opened))
            let hR = Transcript.hR(h0: h0, responder: proofR.identity)
            let hI = Transcript.hI(hR: hR, responderSignature: proofR.signature, initiator: Fixtures.alice.publicIdentity)
            let proofI = HandshakeProof(identity: Fixtures.alice.publicIdentity, signature: Fixtures.alice.signing.sign(hI, context: context))
            let finish = keys.transmit.derive(label: WireLabel.initiatorSealKey, binding: hR).sealOnce(proofI.encoded(), associatedData: hR)
            let step = responder.receiveFinish(finish)
            if context == .handshakeInitiator {
                guard case .established = step else { Issue.record("the right context was refused"); continue }
            } else {
                guard case let .failed(failure, _) = step else { Issue.record("\(context) accepted"); continue }
                #expect(failure == .signatureInvalid(Fixtures.alice.id))
            }
        }
    }

    @Test func forgedBindingIsRefused() throws {
        // Bob's identity with Mallory's X25519 key: the binding no longer verifies.
        var initiator = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]), expectedPeer: nil)
        let hello = initiator.start()
        let ephemeral = KeyExchangeKeyPair()
        let keys = try ephemeral.serverSessionKeys(clientPublicKey: AgreementPublicKey(bytes: Array(hello[6..<38])))
        let prefix = WireProtocol.magic + [1, 0] + ephemeral.publicKey.bytes
        let h0 = Transcript.h0(hello: hello, responsePrefix: prefix)
        let forged = PublicIdentity(signingKey: Fixtures.bob.signing.publicKey, agreementKey: Fixtures.mallory.agreement.publicKey,
                                    binding: Fixtures.bob.binding)
        let signature = Fixtures.bob.signing.sign(Transcript.hR(h0: h0, responder: forged), context: .handshakeResponder)
        let sealed = keys.transmit.derive(label: WireLabel.responderSealKey, binding: h0)
            .sealOnce(HandshakeProof(identity: forged, signature: signature).encoded(), associatedData: h0)
        guard case let .failed(failure, _) = initiator.receiveResponse(prefix + sealed) else { Issue.record("forged binding accepted"); return }
        #expect(failure == .bindingInvalid(Fixtures.bob.id))
    }
}

public import LeukCore
public import LeukCrypto

// The three-message handshake of network/PROTOCOL.md ("Handshake byte by byte"), after SSB's secret
// handshake and SIGMA-I: ephemeral X25519 (`crypto_kx`) for the keys, Ed25519 signatures over a
// BLAKE2b transcript for authentication, identities sent only encrypted. Both sides are pure state
// machines that take bytes and return bytes, so every path is testable without a socket.

/// Byte sizes of the handshake messages; the framing layer reads exactly these many bytes.
public enum HandshakeLayout {
    /// magic(4) version(2) initiator-ephemeral(32) tag(32)
    public static let helloByteCount = 4 + 2 + 32 + NetworkKey.tagByteCount
    /// magic(4) version(2): enough to tell a version mismatch from a response.
    public static let responsePrefixByteCount = 4 + 2
    /// magic(4) version(2) responder-ephemeral(32) sealed-identity(208)
    public static let responseByteCount = responsePrefixByteCount + 32 + sealedProofByteCount
    /// sealed-identity(208)
    public static let finishByteCount = sealedProofByteCount
    /// A responder refusing an unknown version sends only magic and its own version, then closes.
    public static let versionNoticeByteCount = responsePrefixByteCount
    /// identity key(32) X25519 key(32) binding(64) signature(64), sealed (+16).
    static let proofByteCount = 32 + 32 + 64 + 64
    static let sealedProofByteCount = proofByteCount + SessionKey.sealOverhead
}

/// What both sides of a handshake need to know about themselves.
public struct HandshakeConfiguration: Sendable {
    public var identity: NodeIdentity
    public var networkKey: NetworkKey
    /// Decides whether an authenticated peer may connect. Called once per handshake, on the
    /// connection's event loop, so it must be quick and must not block.
    public var admits: @Sendable (PublicIdentity) -> Bool

    public init(identity: NodeIdentity, networkKey: NetworkKey = .publicDefault,
                admits: @escaping @Sendable (PublicIdentity) -> Bool) {
        self.identity = identity
        self.networkKey = networkKey
        self.admits = admits
    }
}

/// Why a handshake did not produce a session. Every case is safe to log; none carries key material.
public enum HandshakeFailure: LeukUserFacingError, Equatable {
    /// The first bytes were not "LEUK": not a leuknode peer at all (a scanner, an HTTP client).
    case notLeuknode
    /// The hello's tag did not verify: the peer is not in this federation (or the network keys differ).
    case networkKeyMismatch
    case versionMismatch(ours: UInt16, theirs: UInt16)
    /// `crypto_kx` refused the peer's ephemeral key (a low-order point, or all zeros).
    case keyExchangeFailed
    /// A sealed handshake message did not open: altered in transit, replayed from another session,
    /// or made with keys a man in the middle swapped.
    case decryptionFailed(message: String)
    /// The peer's X25519 key is not signed by its identity key.
    case bindingInvalid(NodeID)
    /// The peer's transcript signature does not verify: it did not see the same handshake we did.
    case signatureInvalid(NodeID)
    /// We dialled one identity and another answered.
    case unexpectedPeer(expected: NodeID, actual: NodeID)
    /// The peer proved who it is, and the allowlist does not admit it.
    case notAdmitted(PublicIdentity)
    /// A message arrived when the state machine expected none (a bug in the caller or a confused peer).
    case unexpectedMessage(String)

    public var description: String {
        switch self {
        case .notLeuknode: return "the peer does not speak the leuknode protocol (bad magic bytes)"
        case .networkKeyMismatch: return "the peer's hello is not authenticated with our federation network key"
        case let .versionMismatch(ours, theirs):
            return "protocol version mismatch: we speak version \(ours), the peer speaks version \(theirs)"
        case .keyExchangeFailed: return "the peer's ephemeral key was refused by the key exchange (low-order point?)"
        case let .decryptionFailed(message): return "the \(message) did not decrypt: altered, replayed, or keys swapped in transit"
        case let .bindingInvalid(id): return "peer \(id.short) sent an X25519 key its identity key did not sign"
        case let .signatureInvalid(id): return "peer \(id.short)'s handshake signature does not verify over the transcript"
        case let .unexpectedPeer(expected, actual):
            return "dialled peer \(expected.short) but \(actual.short) answered"
        case let .notAdmitted(identity):
            return "peer \(identity.fingerprint) is not admitted (not in the allowlist)"
        case let .unexpectedMessage(what): return "unexpected handshake message: \(what)"
        }
    }

    public var hint: String? {
        switch self {
        case .versionMismatch: return "upgrade the older node; peers must run the same protocol version"
        case .notAdmitted: return "if this institution should join, exchange contacts and run `leuknode peer add CONTACT`"
        case .networkKeyMismatch: return "check that both nodes are configured with the same federation network key"
        default: return nil
        }
    }
}

/// A handshake's result: who the peer proved to be, and one derived key per direction for the
/// secret streams that follow.
public struct EstablishedSession: Sendable {
    public let peer: PublicIdentity
    public let sendKey: SessionKey
    public let receiveKey: SessionKey
    /// BLAKE2b-256 over the whole handshake; equal on both sides of an honest session.
    public let transcriptHash: [UInt8]
}

/// What a state machine asks its shell to do after each message.
public enum HandshakeStep: Sendable {
    /// Send these bytes and wait for the peer's next message.
    case send([UInt8])
    /// Send these bytes (possibly none); the session is up.
    case established(EstablishedSession, send: [UInt8])
    /// Send these bytes (possibly none: only a version notice is ever sent), then close.
    case failed(HandshakeFailure, send: [UInt8])
}

/// The proof each side sends sealed: its identity, its X25519 binding, and its transcript signature.
struct HandshakeProof {
    var identity: PublicIdentity
    var signature: [UInt8]

    func encoded() -> [UInt8] {
        identity.signingKey.bytes + identity.agreementKey.bytes + identity.binding + signature
    }

    static func decode(_ bytes: [UInt8]) -> HandshakeProof? {
        guard bytes.count == HandshakeLayout.proofByteCount,
              let signing = try? SigningPublicKey(bytes: Array(bytes[0..<32])),
              let agreement = try? AgreementPublicKey(bytes: Array(bytes[32..<64])) else { return nil }
        return HandshakeProof(identity: PublicIdentity(signingKey: signing, agreementKey: agreement, binding: Array(bytes[64..<128])),
                              signature: Array(bytes[128..<192]))
    }
}

/// The transcript hashes, named as in network/PROTOCOL.md.
enum Transcript {
    static func hash(_ parts: [UInt8]...) -> [UInt8] { Blake2b.hash(parts.flatMap { $0 }) }

    /// h0: the label, the whole hello and the response's clear prefix (both ephemerals).
    static func h0(hello: [UInt8], responsePrefix: [UInt8]) -> [UInt8] {
        hash(Array(WireLabel.transcript.utf8), hello, responsePrefix)
    }

    static func identityBytes(_ identity: PublicIdentity) -> [UInt8] {
        identity.signingKey.bytes + identity.agreementKey.bytes + identity.binding
    }

    /// hR: what the responder signs; h0 and the responder's identity (the initiator's intended peer).
    static func hR(h0: [UInt8], responder: PublicIdentity) -> [UInt8] { hash(h0, identityBytes(responder)) }

    /// hI: what the initiator signs; hR, the responder's signature and the initiator's identity.
    static func hI(hR: [UInt8], responderSignature: [UInt8], initiator: PublicIdentity) -> [UInt8] {
        hash(hR, responderSignature, identityBytes(initiator))
    }

    /// The final hash, to which the stream keys are bound.
    static func final(hI: [UInt8], initiatorSignature: [UInt8]) -> [UInt8] { hash(hI, initiatorSignature) }

    static func helloAuthenticatedBytes(version: UInt16, ephemeral: [UInt8]) -> [UInt8] {
        Array(WireLabel.hello.utf8) + WireProtocol.magic + [UInt8(version & 0xFF), UInt8(version >> 8)] + ephemeral
    }

    static func versionBytes(_ version: UInt16) -> [UInt8] { [UInt8(version & 0xFF), UInt8(version >> 8)] }
}

func checkedIdentity(_ proof: HandshakeProof) -> PublicIdentity? {
    try? proof.identity.verifiedBinding()
}

/// The side that dials. Send `start()`, feed the response to `receiveResponse`, send what it returns.
public struct HandshakeInitiator: Sendable {
    enum State: Sendable { case idle, awaitingResponse(hello: [UInt8]), done }

    let configuration: HandshakeConfiguration
    let expectedPeer: NodeID?
    let ephemeral: KeyExchangeKeyPair
    let version: UInt16
    var state: State = .idle

    /// - Parameter expectedPeer: the identity we mean to reach (from its contact); any other
    ///   identity that answers is refused even if admitted. `nil` accepts any admitted peer.
    public init(configuration: HandshakeConfiguration, expectedPeer: NodeID?) {
        self.init(configuration: configuration, expectedPeer: expectedPeer, ephemeral: KeyExchangeKeyPair())
    }

    /// Fixed ephemeral key and version, for golden frames and version-mismatch tests only.
    public init(configuration: HandshakeConfiguration, expectedPeer: NodeID?, ephemeral: KeyExchangeKeyPair,
                version: UInt16 = WireProtocol.version) {
        self.configuration = configuration
        self.expectedPeer = expectedPeer
        self.ephemeral = ephemeral
        self.version = version
    }

    /// Message 1, the hello.
    public mutating func start() -> [UInt8] {
        let eph = ephemeral.publicKey.bytes
        let tag = configuration.networkKey.authenticate(Transcript.helloAuthenticatedBytes(version: version, ephemeral: eph))
        let hello = WireProtocol.magic + Transcript.versionBytes(version) + eph + tag
        state = .awaitingResponse(hello: hello)
        return hello
    }

    /// Message 2 in, message 3 out. `bytes` is either a full response or, when its version differs
    /// from ours, just its prefix (the responder's version notice).
    public mutating func receiveResponse(_ bytes: [UInt8]) -> HandshakeStep {
        guard case let .awaitingResponse(hello) = state else {
            return .failed(.unexpectedMessage("a response when no hello was sent"), send: [])
        }
        state = .done
        guard bytes.count >= HandshakeLayout.responsePrefixByteCount else {
            return .failed(.unexpectedMessage("a response of \(bytes.count) bytes"), send: [])
        }
        guard Array(bytes[0..<4]) == WireProtocol.magic else { return .failed(.notLeuknode, send: []) }
        let theirs = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        guard theirs == version else { return .failed(.versionMismatch(ours: version, theirs: theirs), send: []) }
        guard bytes.count == HandshakeLayout.responseByteCount else {
            return .failed(.unexpectedMessage("a response of \(bytes.count) bytes, expected \(HandshakeLayout.responseByteCount)"), send: [])
        }
        let prefixEnd = HandshakeLayout.responsePrefixByteCount + 32
        let responderEphemeral = try! AgreementPublicKey(bytes: Array(bytes[HandshakeLayout.responsePrefixByteCount..<prefixEnd]))
        let keys: SessionKeys
        do { keys = try ephemeral.clientSessionKeys(serverPublicKey: responderEphemeral) } catch {
            return .failed(.keyExchangeFailed, send: [])
        }
        let h0 = Transcript.h0(hello: hello, responsePrefix: Array(bytes[0..<prefixEnd]))
        let sealKey = keys.receive.derive(label: WireLabel.responderSealKey, binding: h0)
        guard let opened = try? sealKey.openOnce(Array(bytes[prefixEnd...]), associatedData: h0, what: "handshake response"),
              let proof = HandshakeProof.decode(opened) else {
            return .failed(.decryptionFailed(message: "handshake response"), send: [])
        }
        let responderID = proof.identity.id
        guard let responder = checkedIdentity(proof) else { return .failed(.bindingInvalid(responderID), send: []) }
        let hR = Transcript.hR(h0: h0, responder: responder)
        guard responder.signingKey.isValidSignature(proof.signature, for: hR, context: .handshakeResponder) else {
            return .failed(.signatureInvalid(responderID), send: [])
        }
        if let expectedPeer, expectedPeer != responderID {
            return .failed(.unexpectedPeer(expected: expectedPeer, actual: responderID), send: [])
        }
        guard configuration.admits(responder) else { return .failed(.notAdmitted(responder), send: []) }

        let me = configuration.identity.publicIdentity
        let hI = Transcript.hI(hR: hR, responderSignature: proof.signature, initiator: me)
        let signature = configuration.identity.signing.sign(hI, context: .handshakeInitiator)
        let finishKey = keys.transmit.derive(label: WireLabel.initiatorSealKey, binding: hR)
        let finish = finishKey.sealOnce(HandshakeProof(identity: me, signature: signature).encoded(), associatedData: hR)
        let final = Transcript.final(hI: hI, initiatorSignature: signature)
        let session = EstablishedSession(peer: responder,
                                         sendKey: keys.transmit.derive(label: WireLabel.streamKey, binding: final),
                                         receiveKey: keys.receive.derive(label: WireLabel.streamKey, binding: final),
                                         transcriptHash: final)
        return .established(session, send: finish)
    }
}

/// The side that listens. Feed the hello to `receiveHello`, then the finish to `receiveFinish`.
public struct HandshakeResponder: Sendable {
    enum State: Sendable {
        case awaitingHello
        case awaitingFinish(keys: SessionKeys, hR: [UInt8], responderSignature: [UInt8])
        case done
    }

    let configuration: HandshakeConfiguration
    let ephemeral: KeyExchangeKeyPair
    let version: UInt16
    var state: State = .awaitingHello

    public init(configuration: HandshakeConfiguration) {
        self.init(configuration: configuration, ephemeral: KeyExchangeKeyPair())
    }

    /// Fixed ephemeral key and version, for golden frames and version-mismatch tests only.
    public init(configuration: HandshakeConfiguration, ephemeral: KeyExchangeKeyPair, version: UInt16 = WireProtocol.version) {
        self.configuration = configuration
        self.ephemeral = ephemeral
        self.version = version
    }

    /// Message 1 in, message 2 out. The tag is checked before the version, so a node outside the
    /// federation is answered with silence, and only a federation member learns our version.
    public mutating func receiveHello(_ bytes: [UInt8]) -> HandshakeStep {
        guard case .awaitingHello = state else { return .failed(.unexpectedMessage("a second hello"), send: []) }
        state = .done
        guard bytes.count == HandshakeLayout.helloByteCount else {
            return .failed(.unexpectedMessage("a hello of \(bytes.count) bytes"), send: [])
        }
        guard Array(bytes[0..<4]) == WireProtocol.magic else { return .failed(.notLeuknode, send: []) }
        let theirs = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        let initiatorEphemeral = Array(bytes[6..<38])
        let tag = Array(bytes[38..<70])
        guard configuration.networkKey.isValidTag(tag, for: Transcript.helloAuthenticatedBytes(version: theirs, ephemeral: initiatorEphemeral)) else {
            return .failed(.networkKeyMismatch, send: [])
        }
        guard theirs == version else {
            return .failed(.versionMismatch(ours: version, theirs: theirs), send: WireProtocol.magic + Transcript.versionBytes(version))
        }
        let keys: SessionKeys
        do { keys = try ephemeral.serverSessionKeys(clientPublicKey: try AgreementPublicKey(bytes: initiatorEphemeral)) } catch {
            return .failed(.keyExchangeFailed, send: [])
        }
        let prefix = WireProtocol.magic + Transcript.versionBytes(version) + ephemeral.publicKey.bytes
        let h0 = Transcript.h0(hello: bytes, responsePrefix: prefix)
        let me = configuration.identity.publicIdentity
        let hR = Transcript.hR(h0: h0, responder: me)
        let signature = configuration.identity.signing.sign(hR, context: .handshakeResponder)
        let sealKey = keys.transmit.derive(label: WireLabel.responderSealKey, binding: h0)
        let sealed = sealKey.sealOnce(HandshakeProof(identity: me, signature: signature).encoded(), associatedData: h0)
        state = .awaitingFinish(keys: keys, hR: hR, responderSignature: signature)
        return .send(prefix + sealed)
    }

    /// Message 3 in; the session, or the reason there is none (a stranger is refused here, before
    /// any frame is read or sent).
    public mutating func receiveFinish(_ bytes: [UInt8]) -> HandshakeStep {
        guard case let .awaitingFinish(keys, hR, responderSignature) = state else {
            return .failed(.unexpectedMessage("a finish before the hello"), send: [])
        }
        state = .done
        guard bytes.count == HandshakeLayout.finishByteCount else {
            return .failed(.unexpectedMessage("a finish of \(bytes.count) bytes"), send: [])
        }
        let openKey = keys.receive.derive(label: WireLabel.initiatorSealKey, binding: hR)
        guard let opened = try? openKey.openOnce(bytes, associatedData: hR, what: "handshake finish"),
              let proof = HandshakeProof.decode(opened) else {
            return .failed(.decryptionFailed(message: "handshake finish"), send: [])
        }
        let initiatorID = proof.identity.id
        guard let initiator = checkedIdentity(proof) else { return .failed(.bindingInvalid(initiatorID), send: []) }
        let hI = Transcript.hI(hR: hR, responderSignature: responderSignature, initiator: initiator)
        guard initiator.signingKey.isValidSignature(proof.signature, for: hI, context: .handshakeInitiator) else {
            return .failed(.signatureInvalid(initiatorID), send: [])
        }
        guard configuration.admits(initiator) else { return .failed(.notAdmitted(initiator), send: []) }
        let final = Transcript.final(hI: hI, initiatorSignature: proof.signature)
        let session = EstablishedSession(peer: initiator,
                                         sendKey: keys.transmit.derive(label: WireLabel.streamKey, binding: final),
                                         receiveKey: keys.receive.derive(label: WireLabel.streamKey, binding: final),
                                         transcriptHash: final)
        return .established(session, send: [])
    }
}

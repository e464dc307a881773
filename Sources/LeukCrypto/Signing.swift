internal import CSodium
public import LeukCore

/// Every signature is made under one of these contexts. The context is bound into the signed bytes,
/// so a signature made for one purpose fails under every other (a handshake signature can never pass
/// as a model update). Versioned: a new meaning gets a new string, never a reused one.
public enum SigningContext: String, CaseIterable, Sendable {
    case x25519Binding = "leuknode/v1/x25519-binding"
    case handshakeResponder = "leuknode/v1/handshake-resp"
    case handshakeInitiator = "leuknode/v1/handshake-init"
    case modelUpdate = "leuknode/v1/model-update"
    case auditEntry = "leuknode/v1/audit-entry"
    case contact = "leuknode/v1/contact"

    /// The bytes actually signed: a length-prefixed context, then the message. The prefix makes the
    /// boundary unambiguous, so no (context, message) pair can collide with another.
    func frame(_ message: [UInt8]) -> [UInt8] {
        let tag = Array(rawValue.utf8)
        var out = [UInt8]()
        out.reserveCapacity(1 + tag.count + message.count)
        out.append(UInt8(tag.count))
        out.append(contentsOf: tag)
        out.append(contentsOf: message)
        return out
    }
}

/// An Ed25519 public key: what a node *is*.
public struct SigningPublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyLength(what: "Ed25519 public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }

    public var nodeID: NodeID { NodeID(bytes: bytes)! }

    /// Verifies a signature made under `context`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8], context: SigningContext) -> Bool {
        Sodium.ensureReady()
        guard signature.count == Signature.byteCount else { return false }
        let framed = context.frame(message)
        return framed.withUnsafeBufferPointer { m in
            crypto_sign_verify_detached(signature, m.baseAddress, UInt64(m.count), bytes) == 0
        }
    }

    /// Throws unless the signature verifies under `context`.
    public func verify(_ signature: [UInt8], for message: [UInt8], context: SigningContext) throws(CryptoError) {
        guard isValidSignature(signature, for: message, context: context) else {
            throw .signatureInvalid(context: context.rawValue)
        }
    }
}

public enum Signature {
    public static let byteCount = 64
}

/// An Ed25519 key pair. The secret half lives in wiped memory.
public struct SigningKeyPair: Sendable {
    public let publicKey: SigningPublicKey
    let secretKey: SecretBytes  // libsodium's 64-byte form: seed || public key

    /// A fresh random key pair.
    public init() {
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: 32)
        let sk = SecretBytes(count: 64)
        _ = sk.withUnsafeMutableBytes { crypto_sign_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        publicKey = try! SigningPublicKey(bytes: pk)
        secretKey = sk
    }

    /// The key pair a 32-byte seed determines (RFC 8032 secret key).
    public init(seed: [UInt8]) throws(CryptoError) {
        Sodium.ensureReady()
        guard seed.count == 32 else { throw .invalidKeyLength(what: "Ed25519 seed", expected: 32, actual: seed.count) }
        var pk = [UInt8](repeating: 0, count: 32)
        let sk = SecretBytes(count: 64)
        _ = sk.withUnsafeMutableBytes { crypto_sign_seed_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), seed) }
        publicKey = try SigningPublicKey(bytes: pk)
        secretKey = sk
    }

    /// The 32-byte seed, for the key file. The caller wipes the copy.
    public func seed() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        _ = secretKey.withUnsafeBytes { crypto_sign_ed25519_sk_to_seed(&out, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        return out
    }

    /// Signs `message` under `context`.
    public func sign(_ message: [UInt8], context: SigningContext) -> [UInt8] {
        signRaw(context.frame(message))
    }

    /// Signs raw bytes with no context. Only for reproducing published test vectors (RFC 8032);
    /// every protocol signature goes through `sign(_:context:)`.
    public func signRaw(_ bytes: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Signature.byteCount)
        secretKey.withUnsafeBytes { sk in
            bytes.withUnsafeBufferPointer { m in
                _ = crypto_sign_detached(&signature, nil, m.baseAddress, UInt64(m.count),
                                         sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        return signature
    }
}

extension SigningPublicKey {
    /// Verifies a raw signature with no context; only for published test vectors.
    public func isValidRawSignature(_ signature: [UInt8], for bytes: [UInt8]) -> Bool {
        Sodium.ensureReady()
        guard signature.count == Signature.byteCount else { return false }
        return bytes.withUnsafeBufferPointer { m in
            crypto_sign_verify_detached(signature, m.baseAddress, UInt64(m.count), self.bytes) == 0
        }
    }
}

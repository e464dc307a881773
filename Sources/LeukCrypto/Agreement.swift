internal import CSodium
import LeukCore

/// An X25519 public key, for sealed boxes to a node and the handshake's ephemerals.
public struct AgreementPublicKey: Hashable, Sendable {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyLength(what: "X25519 public key", expected: Self.byteCount, actual: bytes.count)
        }
        self.bytes = bytes
    }
}

/// An X25519 key pair, generated on its own: the signing key is never converted into it
/// (libsodium's advice: separate keys for separate purposes).
public struct AgreementKeyPair: Sendable {
    public let publicKey: AgreementPublicKey
    let secretKey: SecretBytes

    public init() {
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: 32)
        let sk = SecretBytes(count: 32)
        _ = sk.withUnsafeMutableBytes { crypto_box_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        publicKey = try! AgreementPublicKey(bytes: pk)
        secretKey = sk
    }

    /// Restores a key pair from its 32-byte secret (the key file's form).
    public init(secret: [UInt8]) throws(CryptoError) {
        Sodium.ensureReady()
        guard secret.count == 32 else { throw .invalidKeyLength(what: "X25519 secret key", expected: 32, actual: secret.count) }
        var pk = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult_base(&pk, secret) == 0 else { throw .libraryFailure("crypto_scalarmult_base") }
        publicKey = try AgreementPublicKey(bytes: pk)
        secretKey = SecretBytes(copying: secret)
    }

    public func secretCopy() -> [UInt8] { secretKey.copyBytes() }
}

/// Anonymous public-key encryption to a node's X25519 key (`crypto_box_seal`): only the holder of
/// the secret key can open it. Protects the database's data key.
public enum SealedBox {
    public static func seal(_ message: [UInt8], to recipient: AgreementPublicKey) -> [UInt8] {
        Sodium.ensureReady()
        var out = [UInt8](repeating: 0, count: message.count + Int(crypto_box_sealbytes()))
        let input = message.isEmpty ? [0] : message  // libsodium wants a non-null pointer even for 0 bytes
        let status = crypto_box_seal(&out, input, UInt64(message.count), recipient.bytes)
        precondition(status == 0, "crypto_box_seal failed")
        return out
    }

    public static func open(_ sealed: [UInt8], with keyPair: AgreementKeyPair, what: String = "sealed box") throws(CryptoError) -> [UInt8] {
        Sodium.ensureReady()
        let overhead = Int(crypto_box_sealbytes())
        guard sealed.count >= overhead else { throw .decryptionFailed(what: what) }
        var out = [UInt8](repeating: 0, count: max(1, sealed.count - overhead))
        let status = keyPair.secretKey.withUnsafeBytes { sk in
            crypto_box_seal_open(&out, sealed, UInt64(sealed.count),
                                 keyPair.publicKey.bytes, sk.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard status == 0 else { throw .decryptionFailed(what: what) }
        return Array(out.prefix(sealed.count - overhead))
    }
}

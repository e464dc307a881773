internal import CSodium
import LeukCore

/// The federation's shared secret (as in Secure Scuttlebutt's network key): the first handshake
/// message carries a `crypto_auth` tag under it, so a node that does not know the key learns nothing
/// from a listener, not even that it speaks this protocol. A federation that sets no key uses
/// `publicDefault`, which keeps the byte format identical but gives no such hiding.
public struct NetworkKey: Sendable {
    public static let byteCount = 32
    public static let tagByteCount = 32
    let secret: SecretBytes

    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyLength(what: "federation network key", expected: Self.byteCount, actual: bytes.count)
        }
        secret = SecretBytes(copying: bytes)
    }

    /// BLAKE2b-256 of "leuknode/v1/default-network-key": public, so it authenticates nothing, but the
    /// handshake has one format whether or not a federation configured its own key.
    public static let publicDefault: NetworkKey = {
        try! NetworkKey(bytes: Blake2b.hash(Array("leuknode/v1/default-network-key".utf8)))
    }()

    /// A fresh random key, for a federation to share out of band.
    public static func generate() -> NetworkKey { NetworkKey(secret: SecretBytes(random: byteCount)) }

    init(secret: SecretBytes) { self.secret = secret }

    public func copyBytes() -> [UInt8] { secret.copyBytes() }

    /// HMAC-SHA-512-256 (`crypto_auth`) of `message`.
    public func authenticate(_ message: [UInt8]) -> [UInt8] {
        Sodium.ensureReady()
        var tag = [UInt8](repeating: 0, count: Self.tagByteCount)
        let input = message.isEmpty ? [0] : message
        _ = secret.withUnsafeBytes { key in
            crypto_auth(&tag, input, UInt64(message.count), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        return tag
    }

    /// Constant-time check of a tag made by `authenticate`.
    public func isValidTag(_ tag: [UInt8], for message: [UInt8]) -> Bool {
        Sodium.ensureReady()
        guard tag.count == Self.tagByteCount else { return false }
        let input = message.isEmpty ? [0] : message
        return secret.withUnsafeBytes { key in
            crypto_auth_verify(tag, input, UInt64(message.count), key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }
}

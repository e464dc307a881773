internal import CSodium
import LeukCore

/// A 256-bit key for XChaCha20-Poly1305 (IETF AEAD): data at rest, key files.
///
/// XChaCha's 192-bit nonce is drawn at random for every message, so nonces never repeat under one
/// key without any counter to persist.
public struct SymmetricKey: Sendable {
    public static let byteCount = 32
    public static let nonceByteCount = 24
    public static let tagByteCount = 16
    /// Bytes a sealed message carries beyond its plaintext (nonce and tag).
    public static let overhead = nonceByteCount + tagByteCount

    let secret: SecretBytes

    public init() { secret = SecretBytes(random: Self.byteCount) }

    public init(bytes: [UInt8]) throws(CryptoError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyLength(what: "XChaCha20-Poly1305 key", expected: Self.byteCount, actual: bytes.count)
        }
        secret = SecretBytes(copying: bytes)
    }

    init(secret: SecretBytes) { self.secret = secret }

    public func copyBytes() -> [UInt8] { secret.copyBytes() }

    /// nonce || ciphertext || tag. `associatedData` is authenticated, not encrypted: callers bind a
    /// value to where it is stored (its database key), so a ciphertext moved elsewhere fails to open.
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8] = []) -> [UInt8] {
        Sodium.ensureReady()
        let nonce = randomBytes(Self.nonceByteCount)
        var out = [UInt8](repeating: 0, count: Self.nonceByteCount + plaintext.count + Self.tagByteCount)
        out.replaceSubrange(0..<Self.nonceByteCount, with: nonce)
        var written: UInt64 = 0
        let input = plaintext.isEmpty ? [0] : plaintext
        let ad = associatedData.isEmpty ? [0] : associatedData
        let status = secret.withUnsafeBytes { key in
            out.withUnsafeMutableBufferPointer { o in
                crypto_aead_xchacha20poly1305_ietf_encrypt(
                    o.baseAddress! + Self.nonceByteCount, &written, input, UInt64(plaintext.count),
                    ad, UInt64(associatedData.count), nil, nonce, key.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        precondition(status == 0, "crypto_aead_xchacha20poly1305_ietf_encrypt failed")
        return out
    }

    public func open(_ sealed: [UInt8], associatedData: [UInt8] = [], what: String = "record") throws(CryptoError) -> [UInt8] {
        Sodium.ensureReady()
        guard sealed.count >= Self.overhead else { throw .decryptionFailed(what: what) }
        let nonce = Array(sealed[0..<Self.nonceByteCount])
        let body = Array(sealed[Self.nonceByteCount...])
        var out = [UInt8](repeating: 0, count: max(1, body.count - Self.tagByteCount))
        var written: UInt64 = 0
        let ad = associatedData.isEmpty ? [0] : associatedData
        let status = secret.withUnsafeBytes { key in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                &out, &written, nil, body, UInt64(body.count), ad, UInt64(associatedData.count), nonce,
                key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard status == 0 else { throw .decryptionFailed(what: what) }
        return Array(out.prefix(Int(written)))
    }
}

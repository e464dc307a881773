internal import CSodium
import LeukCore

/// An ephemeral X25519 key pair for one handshake (`crypto_kx`). A fresh one is made for every
/// connection and dropped with it, so a session's keys cannot be recomputed later from any long-term
/// secret: that is the handshake's forward secrecy.
public struct KeyExchangeKeyPair: Sendable {
    public static let byteCount = 32
    public let publicKey: AgreementPublicKey
    let secretKey: SecretBytes

    /// A fresh random key pair: the only constructor production code uses.
    public init() {
        Sodium.ensureReady()
        var pk = [UInt8](repeating: 0, count: Self.byteCount)
        let sk = SecretBytes(count: Self.byteCount)
        _ = sk.withUnsafeMutableBytes { crypto_kx_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        publicKey = try! AgreementPublicKey(bytes: pk)
        secretKey = sk
    }

    /// The key pair a 32-byte seed determines. Only for golden test frames: an ephemeral key made
    /// from a known seed gives no forward secrecy at all.
    public init(deterministicSeedForTesting seed: [UInt8]) throws(CryptoError) {
        Sodium.ensureReady()
        guard seed.count == Int(crypto_kx_SEEDBYTES) else {
            throw .invalidKeyLength(what: "key-exchange seed", expected: Int(crypto_kx_SEEDBYTES), actual: seed.count)
        }
        var pk = [UInt8](repeating: 0, count: Self.byteCount)
        let sk = SecretBytes(count: Self.byteCount)
        _ = sk.withUnsafeMutableBytes { crypto_kx_seed_keypair(&pk, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), seed) }
        publicKey = try AgreementPublicKey(bytes: pk)
        secretKey = sk
    }

    /// The session keys of the side that opened the connection. Fails on a low-order or otherwise
    /// invalid peer key, which is how libsodium refuses a key that would force a known secret.
    public func clientSessionKeys(serverPublicKey: AgreementPublicKey) throws(CryptoError) -> SessionKeys {
        let rx = SecretBytes(count: SessionKey.byteCount)
        let tx = SecretBytes(count: SessionKey.byteCount)
        let status = secretKey.withUnsafeBytes { sk in
            rx.withUnsafeMutableBytes { r in
                tx.withUnsafeMutableBytes { t in
                    crypto_kx_client_session_keys(
                        r.baseAddress!.assumingMemoryBound(to: UInt8.self), t.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        publicKey.bytes, sk.baseAddress!.assumingMemoryBound(to: UInt8.self), serverPublicKey.bytes)
                }
            }
        }
        guard status == 0 else { throw .keyExchangeFailed }
        return SessionKeys(receive: SessionKey(secret: rx), transmit: SessionKey(secret: tx))
    }

    /// The session keys of the side that accepted the connection; its `transmit` is the client's `receive`.
    public func serverSessionKeys(clientPublicKey: AgreementPublicKey) throws(CryptoError) -> SessionKeys {
        let rx = SecretBytes(count: SessionKey.byteCount)
        let tx = SecretBytes(count: SessionKey.byteCount)
        let status = secretKey.withUnsafeBytes { sk in
            rx.withUnsafeMutableBytes { r in
                tx.withUnsafeMutableBytes { t in
                    crypto_kx_server_session_keys(
                        r.baseAddress!.assumingMemoryBound(to: UInt8.self), t.baseAddress!.assumingMemoryBound(to: UInt8.self),
                        publicKey.bytes, sk.baseAddress!.assumingMemoryBound(to: UInt8.self), clientPublicKey.bytes)
                }
            }
        }
        guard status == 0 else { throw .keyExchangeFailed }
        return SessionKeys(receive: SessionKey(secret: rx), transmit: SessionKey(secret: tx))
    }
}

/// One key per direction, as `crypto_kx` derives them.
public struct SessionKeys: Sendable {
    public let receive: SessionKey
    public let transmit: SessionKey
}

/// A 256-bit secret that belongs to one direction of one session. It is never used directly: the
/// handshake derives purpose-bound keys from it with `derive(label:binding:)`, so the key that seals a
/// handshake message is never the key of the stream that follows.
public struct SessionKey: Sendable {
    public static let byteCount = 32
    let secret: SecretBytes

    init(secret: SecretBytes) { self.secret = secret }

    /// A copy of the raw key bytes, for tests that compare keys across the two sides; wipe it after use.
    public func copyBytes() -> [UInt8] { secret.copyBytes() }

    /// BLAKE2b-256 keyed with this key over `label || binding`: a new key for one purpose, bound to
    /// whatever the caller puts in `binding` (a transcript hash).
    public func derive(label: String, binding: [UInt8] = []) -> SessionKey {
        Sodium.ensureReady()
        let message = Array(label.utf8) + binding
        let out = SecretBytes(count: Self.byteCount)
        let status = secret.withUnsafeBytes { key in
            out.withUnsafeMutableBytes { o in
                message.withUnsafeBufferPointer { m in
                    crypto_generichash(o.baseAddress!.assumingMemoryBound(to: UInt8.self), Self.byteCount,
                                       m.baseAddress, UInt64(m.count),
                                       key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
                }
            }
        }
        precondition(status == 0, "crypto_generichash rejected its parameters")
        return SessionKey(secret: out)
    }

    public static let sealOverhead = 16

    /// XChaCha20-Poly1305 with an all-zero nonce. Safe only because each derived handshake key seals
    /// exactly one message: callers derive a fresh key per message and never reuse it. Deterministic,
    /// so golden frames can pin the encoding.
    public func sealOnce(_ plaintext: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        Sodium.ensureReady()
        let nonce = [UInt8](repeating: 0, count: 24)
        var out = [UInt8](repeating: 0, count: plaintext.count + Self.sealOverhead)
        var written: UInt64 = 0
        let input = plaintext.isEmpty ? [0] : plaintext
        let ad = associatedData.isEmpty ? [0] : associatedData
        let status = secret.withUnsafeBytes { key in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                &out, &written, input, UInt64(plaintext.count), ad, UInt64(associatedData.count), nil, nonce,
                key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(status == 0, "crypto_aead_xchacha20poly1305_ietf_encrypt failed")
        return out
    }

    /// Opens what `sealOnce` sealed; fails when the key, the associated data or any byte differs.
    public func openOnce(_ sealed: [UInt8], associatedData: [UInt8], what: String) throws(CryptoError) -> [UInt8] {
        Sodium.ensureReady()
        guard sealed.count >= Self.sealOverhead else { throw .decryptionFailed(what: what) }
        let nonce = [UInt8](repeating: 0, count: 24)
        var out = [UInt8](repeating: 0, count: max(1, sealed.count - Self.sealOverhead))
        var written: UInt64 = 0
        let ad = associatedData.isEmpty ? [0] : associatedData
        let status = secret.withUnsafeBytes { key in
            crypto_aead_xchacha20poly1305_ietf_decrypt(
                &out, &written, nil, sealed, UInt64(sealed.count), ad, UInt64(associatedData.count), nonce,
                key.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard status == 0 else { throw .decryptionFailed(what: what) }
        return Array(out.prefix(Int(written)))
    }
}

internal import CSodium
import LeukCore

/// How a secret-stream message ends the stream, or not.
public enum SecretStreamTag: Sendable, Equatable {
    /// An ordinary message; more follow.
    case message
    /// The last message: anything after it is refused, and a stream cut before it is detectably truncated.
    case final
}

/// Sizes of `crypto_secretstream_xchacha20poly1305`, as constants the framing code can plan with.
public enum SecretStream {
    /// The header that starts each stream (its random nonce); sent in the clear.
    public static let headerByteCount = 24
    /// Bytes each message grows by: a one-byte encrypted tag and a 16-byte MAC.
    public static let overhead = 17
    static let checked: Bool = {
        precondition(crypto_secretstream_xchacha20poly1305_headerbytes() == headerByteCount
                     && crypto_secretstream_xchacha20poly1305_abytes() == overhead
                     && crypto_secretstream_xchacha20poly1305_keybytes() == SessionKey.byteCount,
                     "libsodium's secretstream sizes differ from the ones this protocol fixes")
        return true
    }()
}

/// The sending half of one direction of a session. Each message is encrypted and authenticated
/// with a nonce derived from the stream's state, so messages cannot be reordered, dropped, replayed or
/// cut short without the receiver noticing.
///
/// Not `Sendable`: it holds mutable cipher state and belongs to the one event loop of its connection.
public final class SecretStreamSender {
    private let state: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>
    /// The header the receiver needs first; `SecretStream.headerByteCount` bytes.
    public let header: [UInt8]

    public init(key: SessionKey) {
        Sodium.ensureReady()
        _ = SecretStream.checked
        let fresh = UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>.allocate(capacity: 1)
        var header = [UInt8](repeating: 0, count: SecretStream.headerByteCount)
        let status = key.secret.withUnsafeBytes { k in
            crypto_secretstream_xchacha20poly1305_init_push(fresh, &header, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        precondition(status == 0, "crypto_secretstream_xchacha20poly1305_init_push failed")
        state = fresh
        self.header = header
    }

    /// Encrypts `plaintext` into `destination`, which must hold `plaintext.count + SecretStream.overhead`
    /// bytes. Works on raw buffers so a large frame is encrypted straight into the socket's buffer.
    public func seal(_ plaintext: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, tag: SecretStreamTag = .message) {
        precondition(destination.count >= plaintext.count + SecretStream.overhead, "secretstream destination too small")
        let tagByte: UInt8 = tag == .final ? UInt8(crypto_secretstream_xchacha20poly1305_tag_final())
                                           : UInt8(crypto_secretstream_xchacha20poly1305_tag_message())
        var dummy: UInt8 = 0
        let status = withUnsafeMutablePointer(to: &dummy) { fallback in
            crypto_secretstream_xchacha20poly1305_push(
                state, destination.baseAddress!.assumingMemoryBound(to: UInt8.self), nil,
                plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(fallback),
                UInt64(plaintext.count), nil, 0, tagByte)
        }
        precondition(status == 0, "crypto_secretstream_xchacha20poly1305_push failed")
    }

    public func seal(_ plaintext: [UInt8], tag: SecretStreamTag = .message) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + SecretStream.overhead)
        plaintext.withUnsafeBytes { p in out.withUnsafeMutableBytes { o in seal(p, into: o, tag: tag) } }
        return out
    }

    deinit {
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        state.deallocate()
    }
}

/// The receiving half of one direction of a session. Not `Sendable`, for the same reason as the sender.
public final class SecretStreamReceiver {
    private let state: UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>
    public private(set) var isFinished = false

    /// Fails when the header has the wrong size.
    public init(key: SessionKey, header: [UInt8]) throws(CryptoError) {
        Sodium.ensureReady()
        _ = SecretStream.checked
        guard header.count == SecretStream.headerByteCount else {
            throw .invalidKeyLength(what: "secretstream header", expected: SecretStream.headerByteCount, actual: header.count)
        }
        let fresh = UnsafeMutablePointer<crypto_secretstream_xchacha20poly1305_state>.allocate(capacity: 1)
        let status = key.secret.withUnsafeBytes { k in
            crypto_secretstream_xchacha20poly1305_init_pull(fresh, header, k.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        guard status == 0 else {
            fresh.deallocate()
            throw .libraryFailure("crypto_secretstream_xchacha20poly1305_init_pull refused the header")
        }
        state = fresh
    }

    /// Decrypts `ciphertext` into `destination` (at least `ciphertext.count - SecretStream.overhead`
    /// bytes). Throws on any altered, reordered, replayed or foreign message, and on anything after
    /// the final one.
    public func open(_ ciphertext: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws(CryptoError) -> SecretStreamTag {
        guard !isFinished else { throw .decryptionFailed(what: "secretstream message after the final one") }
        guard ciphertext.count >= SecretStream.overhead,
              destination.count >= ciphertext.count - SecretStream.overhead else {
            throw .decryptionFailed(what: "secretstream message shorter than its authentication tag")
        }
        var tag: UInt8 = 0
        var scratch: UInt8 = 0
        let status = withUnsafeMutablePointer(to: &scratch) { fallback in
            crypto_secretstream_xchacha20poly1305_pull(
                state, destination.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? fallback, nil, &tag,
                ciphertext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(ciphertext.count), nil, 0)
        }
        guard status == 0 else { throw .decryptionFailed(what: "secretstream message") }
        if tag == UInt8(crypto_secretstream_xchacha20poly1305_tag_final()) {
            isFinished = true
            return .final
        }
        guard tag == UInt8(crypto_secretstream_xchacha20poly1305_tag_message()) else {
            throw .decryptionFailed(what: "secretstream message with an unexpected tag \(tag)")
        }
        return .message
    }

    public func open(_ ciphertext: [UInt8]) throws(CryptoError) -> (plaintext: [UInt8], tag: SecretStreamTag) {
        guard ciphertext.count >= SecretStream.overhead else {
            throw .decryptionFailed(what: "secretstream message shorter than its authentication tag")
        }
        var out = [UInt8](repeating: 0, count: max(1, ciphertext.count - SecretStream.overhead))
        var result: Result<SecretStreamTag, CryptoError> = .failure(.decryptionFailed(what: "secretstream message"))
        ciphertext.withUnsafeBytes { c in
            out.withUnsafeMutableBytes { o in
                result = Result { () throws(CryptoError) -> SecretStreamTag in try open(c, into: o) }
            }
        }
        let tag = try result.get()
        return (Array(out.prefix(ciphertext.count - SecretStream.overhead)), tag)
    }

    deinit {
        sodium_memzero(state, MemoryLayout<crypto_secretstream_xchacha20poly1305_state>.size)
        state.deallocate()
    }
}

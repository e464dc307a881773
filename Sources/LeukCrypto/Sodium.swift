internal import CSodium
public import LeukCore

/// libsodium must be initialised once before use; `sodium_init` is idempotent and thread-safe,
/// so every entry point calls this cheap guard instead of relying on the caller to remember.
enum Sodium {
    static let ready: Bool = { sodium_init() >= 0 }()

    static func ensureReady() {
        precondition(ready, "libsodium failed to initialise (sodium_init < 0)")
    }
}

/// Errors raised by the crypto module. Each says what failed and, where it helps, what to do.
public enum CryptoError: LeukUserFacingError, Equatable {
    case invalidKeyLength(what: String, expected: Int, actual: Int)
    case signatureInvalid(context: String)
    case decryptionFailed(what: String)
    case keyExchangeFailed
    case passwordHashingFailed(String)
    case libraryFailure(String)

    public var description: String {
        switch self {
        case let .invalidKeyLength(what, expected, actual):
            return "\(what) must be \(expected) bytes, got \(actual)"
        case let .signatureInvalid(context):
            return "signature does not verify under context '\(context)'"
        case let .decryptionFailed(what):
            return "could not decrypt \(what): wrong key, or the data was altered"
        case .keyExchangeFailed:
            return "key exchange failed: the peer's ephemeral key is invalid (a low-order point?)"
        case let .passwordHashingFailed(why):
            return "password hashing failed: \(why)"
        case let .libraryFailure(why):
            return "libsodium failure: \(why)"
        }
    }
}

/// Bytes that must not outlive their use: zeroed with `sodium_memzero` when released.
///
/// A final class, so the memory has one owner and is wiped exactly once; `@unchecked Sendable` is
/// safe because the storage is never mutated after initialisation except by `deinit`.
public final class SecretBytes: @unchecked Sendable {
    private let storage: UnsafeMutableRawBufferPointer

    public init(count: Int) {
        storage = .allocate(byteCount: max(count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
    }

    public convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count)
        if !bytes.isEmpty { storage.copyBytes(from: bytes) }
    }

    public convenience init(random count: Int) {
        Sodium.ensureReady()
        self.init(count: count)
        randombytes_buf(storage.baseAddress!, count)
    }

    public let count: Int

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.baseAddress, count: count))
    }

    func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: count))
    }

    /// A copy as an ordinary array, for writing to an encrypted file; the caller should wipe it.
    public func copyBytes() -> [UInt8] { withUnsafeBytes { Array($0) } }

    deinit {
        sodium_memzero(storage.baseAddress!, storage.count)
        storage.deallocate()
    }
}

/// Overwrites an array's bytes in place, for short-lived copies of secrets.
public func wipe(_ bytes: inout [UInt8]) {
    guard !bytes.isEmpty else { return }
    bytes.withUnsafeMutableBytes { sodium_memzero($0.baseAddress!, $0.count) }
    bytes.removeAll()
}

/// Cryptographically secure random bytes.
public func randomBytes(_ count: Int) -> [UInt8] {
    Sodium.ensureReady()
    var out = [UInt8](repeating: 0, count: count)
    if count > 0 { randombytes_buf(&out, count) }
    return out
}

/// Constant-time comparison, for MACs and digests.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return sodium_memcmp(a, b, a.count) == 0
}

internal import CSodium
import LeukCore

/// SHA-256, the digest named in model files, diagnoses and the audit chain: it is what other tools
/// (`sha256sum`, Python's hashlib) compute too, so operators can check a digest by hand.
public struct SHA256Hasher: ~Copyable {
    private var state = crypto_hash_sha256_state()

    public init() {
        Sodium.ensureReady()
        crypto_hash_sha256_init(&state)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        crypto_hash_sha256_final(&state, &out)
        return out
    }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var hasher = SHA256Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// BLAKE2b (libsodium's generic hash), keyed or not; used for transcript hashes and fingerprints.
public enum Blake2b {
    public static func hash(_ message: [UInt8], outputLength: Int = 32, key: [UInt8] = []) -> [UInt8] {
        Sodium.ensureReady()
        var out = [UInt8](repeating: 0, count: outputLength)
        let status = message.withUnsafeBufferPointer { m in
            key.withUnsafeBufferPointer { k in
                crypto_generichash(&out, outputLength, m.baseAddress, UInt64(m.count), k.baseAddress, k.count)
            }
        }
        precondition(status == 0, "crypto_generichash rejected its parameters")
        return out
    }
}

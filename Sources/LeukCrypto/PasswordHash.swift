internal import CSodium
import LeukCore

/// Argon2id password hashing in libsodium's self-describing string form (`$argon2id$v=19$m=...`).
///
/// The cost is at or above libsodium's interactive preset (64 MiB, t=2), which is above OWASP's floor
/// (19 MiB, t=2). Hashes made with lower parameters are flagged by `needsRehash` and upgraded at login.
public struct PasswordHasher: Sendable {
    public var opsLimit: Int
    public var memLimit: Int

    /// libsodium's interactive preset: the floor this project accepts.
    public static let interactive = PasswordHasher(opsLimit: Int(crypto_pwhash_opslimit_interactive()),
                                                   memLimit: Int(crypto_pwhash_memlimit_interactive()))

    public init(opsLimit: Int, memLimit: Int) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    public func hash(_ password: String) throws(CryptoError) -> String {
        Sodium.ensureReady()
        var out = [CChar](repeating: 0, count: Int(crypto_pwhash_strbytes()))
        var pw = Array(password.utf8)
        defer { wipe(&pw) }
        let input = pw.isEmpty ? [0] : pw
        let status = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                crypto_pwhash_str(&out, c.baseAddress!, UInt64(pw.count), UInt64(opsLimit), memLimit)
            }
        }
        guard status == 0 else { throw .passwordHashingFailed("out of memory for Argon2id (needs \(memLimit >> 20) MiB)") }
        let length = out.firstIndex(of: 0) ?? out.count
        return String(decoding: out[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Constant-time check of a password against a stored hash string.
    public static func verify(_ password: String, against stored: String) -> Bool {
        Sodium.ensureReady()
        var pw = Array(password.utf8)
        defer { wipe(&pw) }
        let input = pw.isEmpty ? [0] : pw
        var hashString = Array(stored.utf8CString)
        guard hashString.count <= Int(crypto_pwhash_strbytes()) else { return false }
        return input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                crypto_pwhash_str_verify(&hashString, c.baseAddress!, UInt64(pw.count)) == 0
            }
        }
    }

    /// True when `stored` was made with other parameters than this hasher's, so it should be replaced.
    public func needsRehash(_ stored: String) -> Bool {
        Sodium.ensureReady()
        return stored.withCString { crypto_pwhash_str_needs_rehash($0, UInt64(opsLimit), memLimit) != 0 }
    }
}

/// Derives a symmetric key from a passphrase with Argon2id (raw form), for encrypted key files.
enum PassphraseKDF {
    static let saltByteCount = Int(crypto_pwhash_saltbytes())

    static func deriveKey(passphrase: String, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64) throws(CryptoError) -> SymmetricKey {
        Sodium.ensureReady()
        let key = SecretBytes(count: SymmetricKey.byteCount)
        var pw = Array(passphrase.utf8)
        defer { wipe(&pw) }
        let input = pw.isEmpty ? [0] : pw
        let status = key.withUnsafeMutableBytes { k in
            input.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { c in
                    crypto_pwhash(k.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(k.count), c.baseAddress!,
                                  UInt64(pw.count), salt, opsLimit, Int(memLimit), crypto_pwhash_alg_argon2id13())
                }
            }
        }
        guard status == 0 else { throw .passwordHashingFailed("Argon2id key derivation ran out of memory") }
        return SymmetricKey(secret: key)
    }

    static var defaultOpsLimit: UInt64 { UInt64(crypto_pwhash_opslimit_interactive()) }
    static var defaultMemLimit: UInt64 { UInt64(crypto_pwhash_memlimit_interactive()) }
}

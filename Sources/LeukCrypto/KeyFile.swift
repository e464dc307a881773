public import LeukCore
public import Foundation

/// The node's secret keys on disk.
///
/// Layout (version 1), all integers little-endian:
/// ```
/// "LEUKKEY\0"  magic, 8 bytes
/// u8 version = 1
/// u8 protection: 0 = plain, 1 = passphrase
/// plain:       payload (Ed25519 seed 32 || X25519 secret 32) || BLAKE2b-16 checksum of everything before it
/// passphrase:  salt 16 || u64 opslimit || u64 memlimit || XChaCha20-Poly1305(payload), header as AD
/// ```
/// Written to a temporary file with mode 0600, fsynced, then renamed, so a crash leaves the old file or
/// the new one, never half of one.
public enum KeyFile {
    static let magic = Array("LEUKKEY\0".utf8)
    static let version: UInt8 = 1
    static let payloadLength = 64
    static let checksumLength = 16

    public static func encode(_ identity: NodeIdentity, passphrase: String?) throws(KeyFileError) -> [UInt8] {
        var payload = identity.signing.seed() + identity.agreement.secretCopy()
        defer { wipe(&payload) }
        var writer = BinaryWriter(capacity: 160)
        writer.writeFixed(magic)
        writer.write(version)
        if let passphrase {
            writer.write(UInt8(1))
            let salt = randomBytes(PassphraseKDF.saltByteCount)
            let ops = PassphraseKDF.defaultOpsLimit, mem = PassphraseKDF.defaultMemLimit
            writer.writeFixed(salt)
            writer.write(ops)
            writer.write(mem)
            let key: SymmetricKey
            do { key = try PassphraseKDF.deriveKey(passphrase: passphrase, salt: salt, opsLimit: ops, memLimit: mem) } catch {
                throw .cannotWrite(path: "(key file)", reason: error.description)
            }
            writer.writeFixed(key.seal(payload, associatedData: writer.bytes))
        } else {
            writer.write(UInt8(0))
            writer.writeFixed(payload)
            writer.writeFixed(Blake2b.hash(writer.bytes, outputLength: checksumLength))
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8], passphrase: String?, path: String) throws(KeyFileError) -> NodeIdentity {
        var reader = BinaryReader(bytes)
        do {
            guard bytes.count >= magic.count + 2 else { throw KeyFileError.truncated(path: path) }
            guard try reader.readFixed(magic.count, "magic") == magic else { throw KeyFileError.notAKeyFile(path: path) }
            let v = try reader.readUInt8("version")
            guard v == version else { throw KeyFileError.unsupportedVersion(path: path, version: Int(v)) }
            let protection = try reader.readUInt8("protection")
            var payload: [UInt8]
            switch protection {
            case 0:
                guard reader.remaining >= payloadLength + checksumLength else { throw KeyFileError.truncated(path: path) }
                payload = try reader.readFixed(payloadLength, "payload")
                let headerAndPayload = Array(bytes[0..<reader.offset])
                let sum = try reader.readFixed(checksumLength, "checksum")
                guard reader.remaining == 0 else { throw KeyFileError.corrupt(path: path, reason: "\(reader.remaining) trailing bytes") }
                guard constantTimeEquals(sum, Blake2b.hash(headerAndPayload, outputLength: checksumLength)) else {
                    throw KeyFileError.corrupt(path: path, reason: "checksum mismatch")
                }
            case 1:
                guard let passphrase else { throw KeyFileError.passphraseRequired(path: path) }
                let salt = try reader.readFixed(PassphraseKDF.saltByteCount, "salt")
                let ops = try reader.readUInt64("opslimit")
                let mem = try reader.readUInt64("memlimit")
                // Bound the cost a corrupted header could ask for before spending it.
                guard ops >= 1, ops <= 64, mem >= 8192, mem <= 4 << 30 else {
                    throw KeyFileError.corrupt(path: path, reason: "implausible Argon2id parameters")
                }
                let header = Array(bytes[0..<reader.offset])
                let sealed = try reader.readFixed(reader.remaining, "sealed payload")
                guard sealed.count == payloadLength + SymmetricKey.overhead else { throw KeyFileError.truncated(path: path) }
                let key = try PassphraseKDF.deriveKey(passphrase: passphrase, salt: salt, opsLimit: ops, memLimit: mem)
                do { payload = try key.open(sealed, associatedData: header, what: "key file") } catch {
                    throw KeyFileError.wrongPassphrase(path: path)
                }
            default:
                throw KeyFileError.corrupt(path: path, reason: "unknown protection byte \(protection)")
            }
            defer { wipe(&payload) }
            let signing = try SigningKeyPair(seed: Array(payload[0..<32]))
            let agreement = try AgreementKeyPair(secret: Array(payload[32..<64]))
            return NodeIdentity(signing: signing, agreement: agreement)
        } catch let error as KeyFileError {
            throw error
        } catch is BinaryDecodingError {
            throw .truncated(path: path)
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }

    /// Writes atomically with mode 0600. Refuses to replace an existing file unless `overwrite`.
    public static func write(_ identity: NodeIdentity, to path: String, passphrase: String?, overwrite: Bool = false) throws(KeyFileError) {
        if !overwrite && FileManager.default.fileExists(atPath: path) { throw .alreadyExists(path: path) }
        var bytes = try encode(identity, passphrase: passphrase)
        defer { wipe(&bytes) }
        do { try AtomicFile.write(bytes, to: path, mode: 0o600) } catch {
            throw .cannotWrite(path: path, reason: "\(error)")
        }
    }

    /// Reads and checks a key file: permissions first (a readable secret is refused), then format.
    public static func read(from path: String, passphrase: String?) throws(KeyFileError) -> NodeIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .notFound(path: path) }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else { throw .wrongPermissions(path: path, mode: Int(mode)) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .notFound(path: path) }
        var bytes = [UInt8](data)
        defer { wipe(&bytes) }
        return try decode(bytes, passphrase: passphrase, path: path)
    }

    /// True when the file is passphrase-protected (so the CLI knows to ask for one).
    public static func isPassphraseProtected(path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path), data.count > magic.count + 1 else { return false }
        return data[data.startIndex + magic.count + 1] == 1
    }
}

public enum KeyFileError: LeukUserFacingError, Equatable {
    case notFound(path: String)
    case alreadyExists(path: String)
    case wrongPermissions(path: String, mode: Int)
    case passphraseRequired(path: String)
    case wrongPassphrase(path: String)
    case truncated(path: String)
    case notAKeyFile(path: String)
    case unsupportedVersion(path: String, version: Int)
    case corrupt(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notFound(p): return "no key file at \(p)"
        case let .alreadyExists(p): return "a key file already exists at \(p); refusing to overwrite a node's identity"
        case let .wrongPermissions(p, m): return "key file \(p) has mode \(String(m, radix: 8)); other users could read the node's secret key"
        case let .passphraseRequired(p): return "key file \(p) is protected by a passphrase"
        case let .wrongPassphrase(p): return "wrong passphrase for key file \(p)"
        case let .truncated(p): return "key file \(p) is truncated"
        case let .notAKeyFile(p): return "\(p) is not a leuknode key file"
        case let .unsupportedVersion(p, v): return "key file \(p) has format version \(v), which this leuknode does not read"
        case let .corrupt(p, r): return "key file \(p) is corrupt (\(r))"
        case let .cannotWrite(p, r): return "cannot write key file \(p): \(r)"
        }
    }

    public var hint: String? {
        switch self {
        case .notFound: return "run `leuknode init` first, or pass the right --data-dir"
        case .alreadyExists: return "use another --data-dir for a new node"
        case let .wrongPermissions(p, _): return "run `chmod 600 \(p)` and consider rotating the key if others had access"
        case .passphraseRequired: return "pass --passphrase-stdin and type the passphrase on standard input"
        case .wrongPassphrase: return "check the passphrase; it cannot be recovered if lost"
        case .truncated, .corrupt, .notAKeyFile: return "restore the key file from your backup (see docs/operations.md)"
        case .unsupportedVersion: return "upgrade leuknode"
        case .cannotWrite: return "check that the directory exists, is writable, and the disk is not full"
        }
    }
}

/// Write-to-temp, fsync, rename: the whole-file replacement every config and key write uses.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        fchmod(fd, mode)
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                let reason = String(cString: strerror(errno))
                close(fd); unlink(temp)
                throw Failure(description: reason)
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd); unlink(temp)
            throw Failure(description: reason)
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw Failure(description: reason)
        }
        // Make the rename itself durable.
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

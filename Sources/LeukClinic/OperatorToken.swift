public import LeukCore
import LeukCrypto
import Foundation

/// The operator's admin token: a random secret in `DATA_DIR/admin.token` (mode 0600), made at the
/// node's first start. Whoever can read the data directory already controls the node (its key file is
/// there too), so that person is the operator: this is how `leuknode user add` creates the first users
/// of a fresh node, with no password to bootstrap.
public struct OperatorToken: Sendable {
    public static let fileName = "admin.token"
    /// The token itself, as sent in `Authorization: Bearer <token>`.
    public let value: String

    public init(value: String) { self.value = value }

    /// SHA-256 of the token (the clinic compares hashes, in constant time).
    public var digest: [UInt8] { SHA256Hasher.hash(Array(value.utf8)) }

    public static func path(inDataDirectory directory: String) -> String { directory + "/" + fileName }

    /// Reads the token file of `directory`, creating it (mode 0600) when it does not exist yet.
    public static func loadOrCreate(inDataDirectory directory: String) throws(OperatorTokenError) -> OperatorToken {
        let path = path(inDataDirectory: directory)
        if FileManager.default.fileExists(atPath: path) { return try read(path: path) }
        let token = OperatorToken(value: "lkadm_" + Hex.encode(randomBytes(32)))
        do {
            try AtomicFile.write(Array((token.value + "\n").utf8), to: path, mode: 0o600)
        } catch {
            throw .cannotWrite(path, "\(error)")
        }
        return token
    }

    /// Reads an existing token file (the CLI does this; it never creates one).
    public static func read(path: String) throws(OperatorTokenError) -> OperatorToken {
        guard FileManager.default.fileExists(atPath: path) else { throw .missing(path) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("lkadm_"), text.count == 6 + 64 else { throw .malformed(path) }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
           let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
            throw .tooOpen(path, mode)
        }
        return OperatorToken(value: text)
    }
}

public enum OperatorTokenError: LeukUserFacingError, Equatable {
    case missing(String)
    case unreadable(String)
    case malformed(String)
    case tooOpen(String, Int)
    case cannotWrite(String, String)

    public var description: String {
        switch self {
        case let .missing(p): return "no operator token at \(p)"
        case let .unreadable(p): return "cannot read the operator token \(p)"
        case let .malformed(p): return "\(p) does not hold an operator token"
        case let .tooOpen(p, mode): return "\(p) has mode \(String(mode, radix: 8)); an operator token must be readable by its owner only"
        case let .cannotWrite(p, why): return "cannot write the operator token \(p): \(why)"
        }
    }

    public var hint: String? {
        switch self {
        case .missing: return "start the node once (`leuknode start`): it creates the token; or pass the right --data-dir"
        case .unreadable: return "run the command as the user who runs the node"
        case .malformed: return "delete the file and restart the node to create a new one"
        case let .tooOpen(p, _): return "run `chmod 600 \(p)`"
        case .cannotWrite: return "check the data directory's permissions"
        }
    }
}

import LeukCore
import LeukCrypto

/// The three kinds of people the clinic knows. Stored as their raw value.
public enum Role: String, Sendable, Codable, CaseIterable, Hashable {
    case admin
    case doctor
    case patient
}

/// Who is making a request, once a bearer token has been checked.
///
/// The operator (whoever can read `DATA_DIR/admin.token`) acts as an admin without a user record;
/// `userID` is then `"operator"`.
public struct Caller: Sendable, Hashable {
    public let userID: String
    public let name: String
    public let role: Role
    public let isOperator: Bool
    /// SHA-256 (hex) of the session token, for logout; `nil` for the operator token.
    public let sessionKey: String?

    public static let operatorID = "operator"

    public init(userID: String, name: String, role: Role, isOperator: Bool, sessionKey: String?) {
        self.userID = userID
        self.name = name
        self.role = role
        self.isOperator = isOperator
        self.sessionKey = sessionKey
    }

    /// Admin users and the operator manage users and read the audit log.
    public var isAdministrator: Bool { role == .admin }
}

/// Random record identifiers: a short type prefix (so a mistyped id says what it should have been)
/// and 128 random bits, so ids reveal nothing about order or count and never collide in practice.
enum RecordID {
    static func make(_ prefix: String) -> String { prefix + "_" + Hex.encode(randomBytes(16)) }

    /// True for ids this module could have made with `prefix`; lets a wrong id fail fast with a clear message.
    static func isWellFormed(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix + "_") else { return false }
        let hex = id.dropFirst(prefix.count + 1)
        return hex.count == 32 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}

extension Timestamp {
    /// Whole seconds, for `Retry-After` and messages.
    func secondsUntil(_ later: Timestamp) -> Int {
        let nanos = later.nanosecondsSinceEpoch > nanosecondsSinceEpoch ? later.nanosecondsSinceEpoch - nanosecondsSinceEpoch : 0
        return Int((nanos + 999_999_999) / 1_000_000_000)
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds / 1_000_000_000))
    }
}

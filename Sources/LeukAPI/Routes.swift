public import Foundation
import Hummingbird
import OpenAPIRuntime

/// HTTP methods the API uses.
public enum APIMethod: String, Sendable, CaseIterable, Comparable {
    case get = "GET"
    case post = "POST"
    case put = "PUT"
    case patch = "PATCH"
    case delete = "DELETE"

    public static func < (a: APIMethod, b: APIMethod) -> Bool { a.rawValue < b.rawValue }
    var hasBody: Bool { self == .post || self == .put || self == .patch }
}

/// Who may call a route at all. Finer rules (whose records) are the clinic's; this is the door.
public enum APIAccess: Sendable, Equatable {
    /// No token needed (login, the API document, metrics, health).
    case open
    /// Any valid session, or the operator token.
    case signedIn
    /// The operator token (`DATA_DIR/admin.token`) or an admin's session: node control such as
    /// `/v1/status` and `/v1/peers`.
    case administrator
}

/// What an operation accepts as a request body, checked by `OperationGate` before the generated code reads it.
public enum BodyRule: Sendable, Equatable {
    /// No body, or `{}` (actions such as `/logout` and `/confirm`).
    case none
    /// Either no body or a JSON object with only these fields.
    case optional(Set<String>)
    /// A JSON object with only these fields.
    case required(Set<String>)

    var fields: Set<String> {
        switch self {
        case .none: []
        case let .optional(fields), let .required(fields): fields
        }
    }
}

/// One row of the route table: what docs/api/openapi.yaml does not say about an operation. The document
/// decides how paths, query values and bodies are read and what each answer looks like (the server
/// swift-openapi-generator makes from it, `APIHandler`); this row adds who may call the operation, the
/// query parameters it takes (any other is refused with 400), the body limit and the body's field names.
/// `OperationGate` applies it before the generated code reads the request.
public struct APIRoute: Sendable {
    public var method: APIMethod
    public var path: String
    public var access: APIAccess
    /// Query parameters the route understands; any other is refused with 400.
    public var query: [String]
    /// Larger bodies are refused with 413 before they are read in full.
    public var maxBodyBytes: Int
    /// The request body the operation takes (its field names: others are refused with 400).
    public var body: BodyRule
    public var summary: String
    /// The document's `operationId`.
    public var operationID: String

    public static let defaultMaxBodyBytes = 64 * 1024

    public init(_ method: APIMethod, _ path: String, access: APIAccess, query: [String] = [],
                maxBodyBytes: Int = APIRoute.defaultMaxBodyBytes, body: BodyRule = .none, summary: String, operationID: String) {
        precondition(path.hasPrefix("/"), "route paths start with /")
        self.method = method
        self.path = path
        self.access = access
        self.query = query
        self.maxBodyBytes = maxBodyBytes
        self.body = body
        self.summary = summary
        self.operationID = operationID
    }

    /// The path in Hummingbird's syntax (`{id}` becomes `:id`).
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
    }

    /// True when `concrete` (a request path) fits this route's template.
    func matches(path concrete: String) -> Bool {
        let template = path.split(separator: "/")
        let parts = concrete.split(separator: "/")
        guard template.count == parts.count else { return false }
        return zip(template, parts).allSatisfy { t, p in (t.hasPrefix("{") && t.hasSuffix("}")) || t == p }
    }
}

/// One server-sent event (or a comment line, used as a keep-alive).
public struct ServerSentEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?
    public var isComment: Bool

    public init(event: String?, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
        isComment = false
    }

    public static func comment(_ text: String) -> ServerSentEvent {
        var event = ServerSentEvent(event: nil, data: text)
        event.isComment = true
        return event
    }

    /// The event in the `text/event-stream` wire format.
    public var encoded: String {
        if isComment { return ": " + data.replacingOccurrences(of: "\n", with: " ") + "\n\n" }
        var out = ""
        if let event { out += "event: \(event)\n" }
        if let id { out += "id: \(id)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { out += "data: \(line)\n" }
        return out + "\n"
    }
}

/// The string rules of the OpenAPI document. Lengths count Unicode scalars, as JSON Schema's
/// `minLength`/`maxLength` do (Swift's `count` counts grapheme clusters, which can be fewer).
public enum FieldRule {
    public static func length(_ value: String, of field: String, _ range: ClosedRange<Int>) throws(APIError) {
        let length = value.unicodeScalars.count
        guard range.contains(length) else {
            let bounds = range.lowerBound == 0 ? "at most \(range.upperBound)" : "\(range.lowerBound) to \(range.upperBound)"
            throw APIError(status: 422, "field '\(field)' must have \(bounds) characters, not \(length)")
        }
    }

    public static func length(_ value: String?, of field: String, _ range: ClosedRange<Int>) throws(APIError) {
        if let value { try length(value, of: field, range) }
    }

    /// A user name: `^[A-Za-z0-9._@-]+$`, 1 to 64 characters (ASCII only, so a name reads and sorts the
    /// same everywhere and cannot hide a look-alike letter).
    public static func userName(_ value: String, of field: String) throws(APIError) {
        try length(value, of: field, 1...64)
        guard value.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._@-".unicodeScalars.contains($0)) }) else {
            throw APIError(status: 422, "user name '\(value)' is not allowed", hint: "use 1 to 64 letters, digits, '.', '_', '-' or '@' (ASCII)")
        }
    }
}

/// ISO 8601 date-times, with or without fractional seconds.
public enum ISO8601 {
    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    public static func format(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

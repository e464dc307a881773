public import LeukClinic
public import Logging
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

/// One route of the API, independent of the HTTP framework: a method, an OpenAPI-style path
/// (`/v1/diagnoses/{id}`), who may call it, the query parameters it accepts, its body limit and
/// the handler. The node adds its own routes (status, peers, model history) the same way, as a
/// `RouteGroup`; the server authenticates, limits and decodes for them, and maps their errors.
/// A route with an `operationID` has no handler here: the server generated from docs/api/openapi.yaml
/// answers it, after `OperationGate` has applied this route's access, query and body rules.
public struct APIRoute: Sendable {
    public var method: APIMethod
    public var path: String
    public var access: APIAccess
    /// Query parameters the route understands; any other is refused with 400.
    public var query: [String]
    /// Larger bodies are refused with 413 before they are read in full.
    public var maxBodyBytes: Int
    public var summary: String
    /// `nil` when the generated server answers the route (`operationID`).
    public var handler: (@Sendable (APIRequest) async throws -> APIResponse)?
    /// The document's `operationId`, for routes the generated server answers.
    var operationID: String?
    /// The fields a generated route's JSON body may have: `OperationGate` refuses others with the same 400
    /// as `APIRequest.decode` before the generated code reads the body.
    var bodyFields: Set<String> = []

    public static let defaultMaxBodyBytes = 64 * 1024

    public init(_ method: APIMethod, _ path: String, access: APIAccess, query: [String] = [],
                maxBodyBytes: Int = APIRoute.defaultMaxBodyBytes, summary: String,
                handler: @escaping @Sendable (APIRequest) async throws -> APIResponse) {
        self.init(method, path, access: access, query: query, maxBodyBytes: maxBodyBytes, summary: summary, operationID: nil)
        self.handler = handler
    }

    /// A route the server generated from docs/api/openapi.yaml answers (operation `operationID`), or, with
    /// `nil`, the table part of a hand-written route.
    init(_ method: APIMethod, _ path: String, access: APIAccess, query: [String] = [], maxBodyBytes: Int = APIRoute.defaultMaxBodyBytes,
         bodyFields: Set<String> = [], summary: String, operationID: String?) {
        precondition(path.hasPrefix("/"), "route paths start with /")
        self.method = method
        self.path = path
        self.access = access
        self.query = query
        self.maxBodyBytes = maxBodyBytes
        self.summary = summary
        self.operationID = operationID
        self.bodyFields = bodyFields
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

/// Routes registered together, by the clinic or by the node.
public struct RouteGroup: Sendable {
    public var name: String
    public var routes: [APIRoute]
    /// Registers the group's generated operations (`registerHandlers(on:)` of its `APIProtocol`) with the
    /// server's middlewares; `nil` when every route has a handler.
    var registerGenerated: (@Sendable (Router<BasicRequestContext>, [any ServerMiddleware]) throws -> Void)?

    public init(name: String, routes: [APIRoute]) {
        self.name = name
        self.routes = routes
    }

    init(name: String, routes: [APIRoute],
         registerGenerated: @escaping @Sendable (Router<BasicRequestContext>, [any ServerMiddleware]) throws -> Void) {
        self.name = name
        self.routes = routes
        self.registerGenerated = registerGenerated
    }
}

/// What a handler receives: the authenticated caller, path and query parameters, and the raw body.
public struct APIRequest: Sendable {
    /// `nil` only on `.open` routes called without a token.
    public let caller: Caller?
    public let method: APIMethod
    public let path: String
    public let parameters: [String: String]
    public let query: [String: String]
    public let body: [UInt8]
    public let logger: Logger

    public init(caller: Caller?, method: APIMethod, path: String, parameters: [String: String], query: [String: String],
                body: [UInt8], logger: Logger) {
        self.caller = caller
        self.method = method
        self.path = path
        self.parameters = parameters
        self.query = query
        self.body = body
        self.logger = logger
    }

    /// The caller, or 401 (for handlers of `.open` routes that need one after all).
    public func requireCaller() throws(APIError) -> Caller {
        guard let caller else { throw APIError.unauthenticated }
        return caller
    }

    /// A path parameter, percent-decoded: clients encode path segments (`p7kz%2De5gy…` for a
    /// fingerprint), and the router hands them over as they arrived.
    public func parameter(_ name: String) throws(APIError) -> String {
        guard let raw = parameters[name], !raw.isEmpty else { throw APIError(status: 400, "missing path parameter '\(name)'") }
        guard let value = raw.removingPercentEncoding, !value.isEmpty else {
            throw APIError(status: 400, "path parameter '\(name)' is not validly percent-encoded")
        }
        return value
    }

    /// The body as `T`, refusing malformed JSON, unknown fields, wrong types and bad dates with 400.
    public func decode<T: APIBody>(_ type: T.Type) throws(APIError) -> T {
        try StrictJSON.decode(type, from: body)
    }

    /// An empty body, or `{}`: for actions that take no input.
    public func expectNoBody() throws(APIError) {
        guard !body.isEmpty else { return }
        _ = try StrictJSON.decode(EmptyBody.self, from: body)
    }

    public func queryString(_ name: String) -> String? {
        guard let value = query[name], !value.isEmpty else { return nil }
        return value
    }

    public func queryInt(_ name: String, range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = queryString(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(status: 400, "query parameter '\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    public func queryBool(_ name: String) throws(APIError) -> Bool? {
        guard let text = queryString(name) else { return nil }
        // Exactly the two JSON spellings the OpenAPI document allows for a boolean.
        switch text {
        case "true": return true
        case "false": return false
        default: throw APIError(status: 400, "query parameter '\(name)' must be true or false, not '\(text)'")
        }
    }

    public func queryDate(_ name: String) throws(APIError) -> Date? {
        guard let text = queryString(name) else { return nil }
        guard let date = ISO8601.parse(text) else {
            throw APIError(status: 400, "query parameter '\(name)' is not an ISO 8601 date-time: '\(text)'",
                           hint: "write it like 2026-12-01T09:30:00Z")
        }
        return date
    }
}

/// What a handler returns.
public enum APIResponse: Sendable {
    /// A JSON document (encoded with ISO 8601 dates and sorted keys).
    case json(any Encodable & Sendable, status: Int = 200)
    /// No body (204 by default).
    case empty(status: Int = 204)
    case bytes([UInt8], contentType: String)
    case text(String, contentType: String)
    /// A server-sent-events stream; it ends when the sequence finishes or the client goes away.
    case eventStream(AsyncStream<ServerSentEvent>)
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

/// A JSON request body: `Decodable`, plus the exact set of field names it accepts, so that a typo
/// (`"patinet"`) is refused instead of silently ignored.
public protocol APIBody: Decodable, Sendable {
    static var fields: Set<String> { get }
    /// The body's `minLength`/`maxLength`/`pattern` rules from docs/api/openapi.yaml, checked after
    /// decoding, so the server refuses exactly what the document says it refuses (422, like the clinic's
    /// own checks of the same values).
    func validate() throws(APIError)
}

extension APIBody {
    public func validate() throws(APIError) {}
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

struct EmptyBody: APIBody {
    static let fields: Set<String> = []
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

public import LeukCore
public import LeukClinic
import Foundation
import HTTPTypes
import OpenAPIRuntime

/// An error as the API returns it: a 4xx/5xx status and a message a person can act on, sent as
/// `{"error": {"status": 404, "message": "...", "hint": "..."}}`.
public struct APIError: Error, LeukUserFacingError, Equatable {
    public var status: Int
    public var message: String
    public var hint: String?
    /// Seconds to wait before retrying (sent as `Retry-After`), for 429.
    public var retryAfter: Int?
    /// Methods the path does accept (sent as `Allow`), for 405.
    public var allow: [String]?

    public init(status: Int, _ message: String, hint: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.hint = hint
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    public static let unauthenticated = APIError(
        status: 401, "this request needs a token: send 'Authorization: Bearer <token>'",
        hint: "log in with `leuknode login --name NAME` (or POST /v1/login)")

    /// A body in a media type the operation does not take (the generated code reads only the document's).
    static let unsupportedBody = APIError(status: 400, "this request takes a JSON body", hint: "send it with Content-Type: application/json")

    /// 413 for a body over a route's limit, with its declared size when `Content-Length` gave one.
    static func bodyTooLarge(declared: Int?, limit: Int) -> APIError {
        if let declared { return APIError(status: 413, "the request body has \(declared) bytes; this route accepts at most \(limit)") }
        return APIError(status: 413, "the request body is larger than this route's limit of \(limit) bytes")
    }

    /// The one place where clinic errors become HTTP statuses.
    public init(_ error: ClinicError) {
        let status: Int
        switch error.kind {
        case .unauthenticated: status = 401
        case .forbidden: status = 403
        case .notFound: status = 404
        case .invalid: status = 422
        case .conflict: status = 409
        case .locked: status = 429
        case .unavailable: status = 503
        case .storage: status = 500
        case .diskFull: status = 507
        }
        self.init(status: status, error.description, hint: error.hint, retryAfter: error.retryAfterSeconds)
    }

    /// The JSON document of the error.
    var body: ErrorDocument { ErrorDocument(error: .init(status: status, message: message, hint: hint)) }

    struct ErrorDocument: Codable, Sendable {
        struct Detail: Codable, Sendable {
            var status: Int
            var message: String
            var hint: String?
        }
        var error: Detail
    }
}

/// Strict JSON decoding for request bodies: the body must be a JSON object, every field must be one
/// the type declares, and each failure names the field and what was expected.
enum StrictJSON {
    /// Reads only the keys of the top-level object, and which of them are `null`.
    private struct TopLevelKeys: Decodable {
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let keys: [String]
        let nullKeys: [String]
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            keys = container.allKeys.map(\.stringValue)
            nullKeys = try container.allKeys.filter { try container.decodeNil(forKey: $0) }.map(\.stringValue)
        }
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = ISO8601.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an ISO 8601 date-time (write it like 2026-12-01T09:30:00Z)")
            }
            return date
        }
        return decoder
    }

    /// The checks before a body is decoded as a type: it is a JSON object, with no field outside `fields` and
    /// none `null`. Shared by `decode` and by `OperationGate`, which runs them before the generated server reads
    /// a body, so both kinds of route refuse a bad body with the same words.
    static func checkObject(_ body: [UInt8], fields: Set<String>) throws(APIError) {
        let allowed = fields.sorted().joined(separator: ", ")
        guard !body.isEmpty else {
            throw APIError(status: 400, "this request needs a JSON object body", hint: "fields: \(allowed.isEmpty ? "none" : allowed)")
        }
        let data = Data(body)
        let decoder = decoder()
        let top: TopLevelKeys
        do {
            top = try decoder.decode(TopLevelKeys.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
            throw APIError(status: 400, "the body must be a JSON object ({...})", hint: "fields: \(allowed.isEmpty ? "none" : allowed)")
        } catch {
            throw APIError(status: 400, "the body is not valid JSON: \(detail(of: error))", hint: "check quotes, commas and braces")
        }
        let unknown = top.keys.filter { !fields.contains($0) }.sorted()
        guard unknown.isEmpty else {
            let list = unknown.map { "'\($0)'" }.joined(separator: ", ")
            throw APIError(status: 400, "unknown field\(unknown.count == 1 ? "" : "s") \(list)",
                           hint: allowed.isEmpty ? "this request takes no fields" : "allowed fields: \(allowed)")
        }
        // No field is nullable (docs/api/openapi.yaml): an optional field is left out, never `null`, so
        // `{"reason": null}` cannot be read two ways.
        if let null = top.nullKeys.sorted().first {
            throw APIError(status: 400, "field '\(null)' must not be null", hint: "leave an optional field out instead of sending null")
        }
    }

    /// The refusal for an error the generated code threw while reading a request (a `ServerError`'s underlying
    /// error), or nil when it is not the client's mistake. Shared by `ErrorMiddleware` and `APIRequestBodies`.
    static func refusal(reading error: any Error, subject: String?) -> APIError? {
        switch error {
        case let decoding as DecodingError:
            return APIError(status: 400, message(for: decoding, subject: subject))
        case let runtime as any HTTPResponseConvertible where (400..<500).contains(runtime.httpStatus.code):
            // The runtime's own client errors: an Accept header the answer cannot meet (406), a body in
            // another media type than the document's (415), a malformed parameter or base64 value (400).
            return APIError(status: runtime.httpStatus.code, "the request could not be answered: \(error)")
        default:
            return nil
        }
    }

    /// `error` in words. `subject` names a value read outside a JSON body (a query parameter) when the
    /// error's coding path is empty.
    static func message(for error: DecodingError, subject: String? = nil) -> String {
        func field(_ keys: [any CodingKey]) -> String { keys.isEmpty ? subject ?? "field ''" : "field '\(path(keys))'" }
        switch error {
        case let .typeMismatch(type, context):
            return "\(field(context.codingPath)) must be \(typeName(type))"
        case let .valueNotFound(type, context):
            return "\(field(context.codingPath)) must be \(typeName(type)), not null"
        case let .keyNotFound(key, context):
            return "missing required field '\(path(context.codingPath + [key]))'"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty && subject == nil {
                // The JSON parser's errors carry its own error; a value's transcoder (`ISO8601Transcoder`, a date in a
                // body) throws without one and without the field's path: the body is valid JSON, so say so.
                if context.underlyingError == nil { return "a value in the body is invalid: \(context.debugDescription)" }
                return "the body is not valid JSON: \(context.debugDescription)"
            }
            if let refusal = enumRefusal(context) { return "\(field(context.codingPath)) \(refusal)" }
            return "\(field(context.codingPath)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "the body could not be read: \(error)"
        }
    }

    /// The document's enumerations, by the name the generated code gives them, with their allowed values.
    static let enumerations: [String: [String]] = ["Role": Components.Schemas.Role.allCases.map(\.rawValue)]

    /// "must be one of admin, doctor, patient, not 'nurse'" for a value the generated code could not read as one
    /// of the document's enumerations (Swift's words for it, "Cannot initialize Role from invalid String value
    /// nurse", name neither the field's rule nor the choices).
    static func enumRefusal(_ context: DecodingError.Context) -> String? {
        let prefix = "Cannot initialize ", middle = " from invalid String value "
        let text = context.debugDescription
        guard text.hasPrefix(prefix), let range = text.range(of: middle) else { return nil }
        let type = String(text[text.index(text.startIndex, offsetBy: prefix.count)..<range.lowerBound])
        guard let values = enumerations[type] else { return nil }
        return "must be one of \(values.joined(separator: ", ")), not '\(text[range.upperBound...])'"
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is Date.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type, is UInt32.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of type \(name)"
        }
    }

    static func detail(of error: any Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            if let underlying = context.underlyingError as NSError?,
               let text = underlying.userInfo[NSDebugDescriptionErrorKey] as? String { return text }
            return context.debugDescription
        }
        return "\(error)"
    }
}

/// The encoder for every JSON response: ISO 8601 dates, sorted keys (stable output for people and diffs).
enum ResponseJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The generated server's settings for the same output: ISO 8601 dates with seconds, sorted keys, one line.
    /// Dates in requests are read with or without fractional seconds, as `ISO8601.parse` reads them.
    static var configuration: Configuration {
        Configuration(dateTranscoder: ISO8601Transcoder(), jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])
    }
}

/// The generated server's dates: written as ISO 8601 with seconds (`2026-12-01T09:30:00Z`), read with or
/// without fractional seconds, so a client that keeps milliseconds (JavaScript's `toISOString()`) is understood.
struct ISO8601Transcoder: DateTranscoder {
    func encode(_ date: Date) throws -> String { ISO8601.format(date) }

    func decode(_ text: String) throws -> Date {
        guard let date = ISO8601.parse(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "'\(text)' is not an ISO 8601 date-time (write it like 2026-12-01T09:30:00Z)"))
        }
        return date
    }
}

/// Values in the shapes docs/api/openapi.yaml gives them.
public enum DocumentedJSON {
    /// `value` encoded as the API encodes its answers and read back as the document's type `R`. The node's
    /// own types (LeukNode, below this module) become the document's types this way, without a field-by-field
    /// copy; a documented field that is missing or has another type fails here instead of reaching a client.
    public static func convert<R: Decodable>(_ value: some Encodable, as type: R.Type = R.self) throws -> R {
        try APIClient.decoder().decode(R.self, from: ResponseJSON.encoder().encode(value))
    }
}

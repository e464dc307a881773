public import LeukCore
public import LeukClinic
import Foundation

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

    static func decode<T: APIBody>(_ type: T.Type, from body: [UInt8]) throws(APIError) -> T {
        let allowed = T.fields.sorted().joined(separator: ", ")
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
        let unknown = top.keys.filter { !T.fields.contains($0) }.sorted()
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
        let value: T
        do {
            value = try decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw APIError(status: 400, message(for: error))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(status: 400, "the body could not be read: \(error)")
        }
        try value.validate()
        return value
    }

    static func message(for error: DecodingError) -> String {
        switch error {
        case let .typeMismatch(type, context):
            return "field '\(path(context.codingPath))' must be \(typeName(type))"
        case let .valueNotFound(type, context):
            return "field '\(path(context.codingPath))' must be \(typeName(type)), not null"
        case let .keyNotFound(key, context):
            return "missing required field '\(path(context.codingPath + [key]))'"
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty { return "the body is not valid JSON: \(context.debugDescription)" }
            return "field '\(path(context.codingPath))' is invalid: \(context.debugDescription)"
        @unknown default:
            return "the body could not be read: \(error)"
        }
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
}

import Hummingbird
import LeukClinic
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import OpenAPIRuntime
import Prometheus
import Foundation

/// Logs every request with its status and latency, and counts it in the Prometheus registry
/// (`leuknode_api_requests_total`, `leuknode_api_request_duration_seconds`). Labelled by the route
/// template, not the raw path, so ids do not explode the number of series.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "leuknode", subsystem: "api", metricName: "requests", unitName: "total",
                             helpText: "HTTP requests answered by the local API, by method, route template and status.")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "leuknode", subsystem: "api", metricName: "request_duration", unitName: "seconds",
                             helpText: "Time to answer a local API request, by method and route template.")
    }
    static var buckets: [Duration] {
        [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
         .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5)]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info("\(request.method.rawValue) \(request.uri.path) \(response.status.code) \(String(format: "%.1f", milliseconds)) ms")
        registry.makeCounter(descriptor: Self.requests,
                             labels: [("method", request.method.rawValue), ("route", route), ("status", String(response.status.code))])
            .increment()
        registry.makeDurationHistogram(descriptor: Self.duration,
                                       labels: [("method", request.method.rawValue), ("route", route)], buckets: Self.buckets)
            .recordNanoseconds(Int64(elapsed.components.seconds) * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }
}

/// Turns every error into the API's JSON error document, so no client ever sees an HTML page, an
/// empty 500 or a framework's own format. Unknown paths get 404, known paths with another method 405.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let routes: [APIRoute]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.response(for: refusal(for: error, request: request))
        }
    }

    /// The error document for `error`. The generated server wraps what it throws in `ServerError`: a handler's
    /// or `OperationGate`'s `APIError` is unwrapped, and a request the generated code could not read (a value
    /// of the wrong type) is a 400 that names the field or query parameter (`StrictJSON.message`).
    func refusal(for error: any Error, request: Request) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ClinicError:
            return APIError(error)
        case let error as HTTPError:
            return translate(error, request: request)
        case is NIOTooManyBytesError:
            return APIError(status: 413, "the request body is too large")
        case let error as ServerError:
            if error.underlyingError is APIError || error.underlyingError is ClinicError {
                return refusal(for: error.underlyingError, request: request)
            }
            // The generated code reads bodies with a coding path and query values without one.
            let query = request.uri.queryParameters.map { "'\($0.key)'" }
            let subject = query.isEmpty ? nil : "query parameter " + query.joined(separator: " or ")
            if let refusal = StrictJSON.refusal(reading: error.underlyingError, subject: subject) { return refusal }
            if error.operationInput == nil { return APIError(status: 400, "the request could not be read: \(error.causeDescription)") }
        default:
            break
        }
        logger.error("unexpected error in \(request.method.rawValue) \(request.uri.path): \(error)")
        return APIError(status: 500, "the node failed to handle this request; its log has the details")
    }

    func translate(_ error: HTTPError, request: Request) -> APIError {
        guard error.status == .notFound else {
            return APIError(status: error.status.code, error.body ?? error.status.reasonPhrase)
        }
        let path = request.uri.path
        let methods = routes.filter { $0.matches(path: path) }.map(\.method.rawValue)
        if !methods.isEmpty {
            var refusal = APIError(status: 405, "\(request.method.rawValue) is not allowed on \(path)",
                                   hint: "use \(methods.sorted().joined(separator: " or "))")
            refusal.allow = methods.sorted()
            return refusal
        }
        return APIError(status: 404, "no such route: \(request.method.rawValue) \(path)", hint: "the routes are listed in /v1/openapi.yaml")
    }

    static func response(for error: APIError) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let allow = error.allow { headers[.allow] = allow.joined(separator: ", ") }
        let data = (try? ResponseJSON.encoder().encode(error.body)) ?? Data("{\"error\":{\"status\":500,\"message\":\"error\"}}".utf8)
        return Response(status: HTTPResponse.Status(code: error.status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Applies the route table to every operation before the generated code reads the request: the caller's
/// access (401/403), no unknown, repeated or empty query parameter (400), the body limit (413), and the body
/// rule (`BodyRule`: a JSON object with only the documented fields, none `null`, or no body at all; 400,
/// `StrictJSON.checkObject`). It then runs the operation with the authenticated caller in
/// `RequestCaller.current`, which is how `APIHandler` knows who asks.
struct OperationGate: ServerMiddleware {
    let routes: [String: APIRoute]
    let clinic: Clinic

    init(routes: [APIRoute], clinic: Clinic) {
        self.routes = Dictionary(routes.map { ($0.operationID, $0) }, uniquingKeysWith: { first, _ in first })
        self.clinic = clinic
    }

    func intercept(_ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        guard let route = routes[operationID] else {
            throw APIError(status: 500, "operation \(operationID) is not in the route table")
        }
        let caller = try await APIServer.authenticate(request.headerFields, access: route.access, clinic: clinic)
        _ = try APIServer.checkedQuery(URI(request.path ?? "/"), route: route)
        var checkedBody: HTTPBody?
        if route.method.hasBody {
            checkedBody = try Self.checkedBody(try await Self.collect(body, request: request, limit: route.maxBodyBytes), rule: route.body)
        }
        return try await RequestCaller.$current.withValue(caller) {
            try await next(request, checkedBody, metadata)
        }
    }

    /// `bytes` under the route's body rule: the body the generated code then reads (`nil`: none), or a 400.
    /// `APIRequestBodies` runs it too.
    static func checkedBody(_ bytes: [UInt8], rule: BodyRule) throws(APIError) -> HTTPBody? {
        switch rule {
        case .none:
            if !bytes.isEmpty { try StrictJSON.checkObject(bytes, fields: []) }
            return nil
        case let .optional(fields):
            if bytes.isEmpty { return nil }
            try StrictJSON.checkObject(bytes, fields: fields)
            return HTTPBody(bytes)
        case let .required(fields):
            try StrictJSON.checkObject(bytes, fields: fields)
            return HTTPBody(bytes)
        }
    }

    /// The whole body, refused with 413 as soon as it is known to be over `limit` (by its Content-Length, or
    /// while it is read).
    static func collect(_ body: HTTPBody?, request: HTTPRequest, limit: Int) async throws -> [UInt8] {
        if let declared = request.headerFields[.contentLength].flatMap(Int.init), declared > limit {
            throw APIError.bodyTooLarge(declared: declared, limit: limit)
        }
        var bytes: [UInt8] = []
        if let body {
            for try await chunk in body {
                bytes += chunk
                if bytes.count > limit { throw APIError.bodyTooLarge(declared: nil, limit: limit) }
            }
        }
        return bytes
    }
}

import Hummingbird
import LeukClinic
import HTTPTypes
import Logging
import NIOCore
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
        } catch let error as APIError {
            return Self.response(for: error)
        } catch let error as ClinicError {
            return Self.response(for: APIError(error))
        } catch let error as HTTPError {
            return Self.response(for: translate(error, request: request))
        } catch is NIOTooManyBytesError {
            return Self.response(for: APIError(status: 413, "the request body is too large"))
        } catch {
            logger.error("unexpected error in \(request.method.rawValue) \(request.uri.path): \(error)")
            return Self.response(for: APIError(status: 500, "the node failed to handle this request; its log has the details"))
        }
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

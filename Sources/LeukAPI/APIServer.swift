public import Hummingbird
public import LeukClinic
public import LeukNode
public import Logging
public import Prometheus
import HTTPTypes
import HummingbirdCore
import LeukCore
import NIOCore
import OpenAPIRuntime
import OpenAPIHummingbird
import Foundation

/// Where the API listens. Loopback by default: the API is for the people and tools on this machine.
public struct APIConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests); `onStarted` reports the one chosen.
    public var port: Int
    /// Seconds between keep-alive comments on event streams.
    public var eventKeepAlive: Duration

    public init(host: String = "127.0.0.1", port: Int = 7480, eventKeepAlive: Duration = .seconds(15)) {
        self.host = host
        self.port = port
        self.eventKeepAlive = eventKeepAlive
    }

    /// From `NodeConfig.api` ("host:port").
    public init(address: String) throws(APIError) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw APIError(status: 500, "the API address '\(address)' is not HOST:PORT", hint: "fix `api` in config.json")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host, port: port)
    }
}

/// The node's local HTTP API: every operation of docs/api/openapi.yaml (the clinic's, the node's control
/// routes, `/metrics` and the document itself), served by the server swift-openapi-generator makes from that
/// document (`APIHandler`) behind `OperationGate`, which applies the route table (`RouteTable`).
///
/// ```swift
/// let server = APIServer(clinic: clinic, control: runtime, configuration: try APIConfiguration(address: config.api),
///                        metrics: registry, logger: logger)
/// try await server.run { port in logger.info("API on port \(port)") }   // until cancelled
/// ```
/// `makeApplication()` gives the Hummingbird application instead, to run inside the node's own
/// `ServiceGroup` (it is a `Service`) or to test in-process with HummingbirdTesting.
public struct APIServer: Sendable {
    public let clinic: Clinic
    public let configuration: APIConfiguration
    public let metrics: PrometheusCollectorRegistry
    public let logger: Logger
    /// Every route the server answers; the OpenAPI test checks them against the document.
    public let routes: [APIRoute]
    let handler: APIHandler

    /// - Parameters:
    ///   - control: the running node, for `/v1/status`, `/v1/peers` and `/v1/model…`; without one (an API over
    ///     a clinic alone) those answer 503.
    ///   - metrics: the Prometheus registry `/metrics` serves. The executable should bootstrap swift-metrics
    ///     with `PrometheusMetricsFactory(registry:)` on the same registry, so every module's metrics appear.
    public init(clinic: Clinic, control: (any NodeControl)? = nil, configuration: APIConfiguration = APIConfiguration(),
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger = Logger(label: "leuknode.api")) {
        self.clinic = clinic
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        routes = RouteTable.routes(maxImageBytes: clinic.configuration.maxImageBytes)
        handler = APIHandler(clinic: clinic, control: control, metrics: metrics, keepAlive: configuration.eventKeepAlive)
    }

    /// The router with every route and middleware; exposed for in-process tests.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger, registry: metrics))
        router.add(middleware: ErrorMiddleware(logger: logger, routes: routes))
        do {
            try handler.registerHandlers(on: router, configuration: ResponseJSON.configuration,
                                         middlewares: [OperationGate(routes: routes, clinic: clinic)])
        } catch {
            preconditionFailure("the generated operations could not be registered: \(error)")
        }
        return router
    }

    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>> {
        Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "leuknode"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Serves until the task is cancelled or the service group shuts down. `onStarted` receives the port.
    public func run(onStarted: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeApplication(onServerRunning: onStarted).run()
    }

    // MARK: - What every operation shares

    /// The query parameters `route` takes, each once and with a value; anything else is a 400 that names it.
    static func checkedQuery(_ uri: URI, route: APIRoute) throws(APIError) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in uri.queryParameters {
            let name = String(key)
            guard route.query.contains(name) else {
                throw APIError(status: 400, "unknown query parameter '\(name)'",
                               hint: route.query.isEmpty ? "this route takes none" : "allowed: \(route.query.joined(separator: ", "))")
            }
            guard query[name] == nil else { throw APIError(status: 400, "query parameter '\(name)' is given twice") }
            // `?from=` is not "no filter": an empty value is a mistake in the caller's URL, so it is named.
            guard !value.isEmpty else {
                throw APIError(status: 400, "query parameter '\(name)' is empty", hint: "give it a value or leave it out")
            }
            query[name] = String(value)
        }
        return query
    }

    static func authenticate(_ headers: HTTPFields, access: APIAccess, clinic: Clinic) async throws(APIError) -> Caller? {
        let header = headers[.authorization]
        guard let header else {
            if access == .open { return nil }
            throw APIError.unauthenticated
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].utf8.count <= 512 else {
            if access == .open { return nil }
            throw APIError(status: 401, "the Authorization header must be 'Bearer <token>'")
        }
        let caller: Caller
        do {
            caller = try await clinic.authenticate(bearer: String(parts[1]))
        } catch {
            if access == .open { return nil }
            throw APIError(error)
        }
        if access == .administrator && !caller.isAdministrator {
            throw APIError(status: 403, "this route is for the node's operator and admins",
                           hint: "use the operator token in DATA_DIR/admin.token (the CLI does this with --data-dir)")
        }
        return caller
    }
}

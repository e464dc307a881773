public import Hummingbird
public import LeukClinic
public import LeukCore
public import LeukNode
public import Logging
import HummingbirdCore
import HummingbirdTLS
import Foundation

/// The portal's TLS files (PEM), from `leuknode start --tls-cert PEM --tls-key PEM`.
public struct PortalTLS: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

/// Why the portal cannot start as asked; `leuknode start` prints it and exits.
public struct PortalSetupError: LeukUserFacingError, Equatable {
    public var description: String
    public var hint: String?

    public init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}

/// Where the portal listens and how. Without TLS it listens on loopback only: session cookies and
/// passwords must not cross a network in clear text, so another address needs `--tls-cert`/`--tls-key`
/// or a TLS reverse proxy in front (docs/operations.md).
public struct PortalConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests); `onServerRunning` reports the one chosen.
    public var port: Int
    public var tls: PortalTLS?
    /// Time between keep-alive comments on the live-update stream (and checks that the session still lives).
    public var eventKeepAlive: Duration

    public init(host: String = "127.0.0.1", port: Int = 0, tls: PortalTLS? = nil, eventKeepAlive: Duration = .seconds(15)) {
        self.host = host
        self.port = port
        self.tls = tls
        self.eventKeepAlive = eventKeepAlive
    }

    /// From `--portal HOST:PORT` (or `portal` in config.json), refusing a non-loopback host without TLS.
    public init(address: String, tls: PortalTLS?) throws(PortalSetupError) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw PortalSetupError("the portal address '\(address)' is not HOST:PORT", hint: "e.g. --portal 127.0.0.1:8443")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw PortalSetupError("the portal address '\(address)' has no host", hint: "e.g. --portal 127.0.0.1:8443") }
        if tls == nil && !Self.isLoopback(host) {
            throw PortalSetupError(
                "without TLS the portal listens on loopback only, not on \(host)",
                hint: "give --tls-cert PEM --tls-key PEM, or listen on 127.0.0.1 behind a TLS reverse proxy (docs/operations.md)")
        }
        self.init(host: host, port: port, tls: tls)
    }

    /// True for 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The address a person types, e.g. `http://127.0.0.1:8080`.
    public func url(port actualPort: Int) -> String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return (tls == nil ? "http" : "https") + "://\(shownHost):\(actualPort)"
    }
}

/// The web portal: server-rendered pages for patients, doctors and admins, on its own listener.
///
/// It serves only the person-facing clinic routes (never node control, metrics or the API document),
/// signs people in with their clinic password into an `HttpOnly`, `SameSite=Strict` session cookie, and
/// refuses bearer tokens, the operator token among them. Every page and action calls the same `Clinic`
/// method as its API twin, so the clinic's rules and audit entries are the same whichever door is used.
///
/// ```swift
/// let portal = PortalServer(clinic: clinic, control: runtime,
///                           configuration: try PortalConfiguration(address: "127.0.0.1:8080", tls: nil))
/// let app = try portal.makeApplication { port in print("portal on \(portal.configuration.url(port: port))") }
/// // `app` is a ServiceLifecycle `Service`: `leuknode start` runs it in the node's ServiceGroup, beside the API.
/// ```
public struct PortalServer: Sendable {
    public let clinic: Clinic
    public let configuration: PortalConfiguration
    let routes: PortalRoutes
    let logger: Logger

    /// - Parameter control: the running node, for the model lineage shown beside a diagnosis; without one the
    ///   page says the lineage is not available.
    public init(clinic: Clinic, control: (any NodeControl)? = nil, configuration: PortalConfiguration = PortalConfiguration(),
                logger: Logger = Logger(label: "leuknode.portal")) {
        self.clinic = clinic
        self.configuration = configuration
        self.logger = logger
        routes = PortalRoutes(clinic: clinic, control: control, secure: configuration.tls != nil,
                              keepAlive: configuration.eventKeepAlive, pages: PageRenderer.shared, logger: logger)
    }

    /// The router with every page and middleware; exposed for in-process tests.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(secure: configuration.tls != nil))
        router.add(middleware: PortalErrorMiddleware(pages: routes.pages, logger: logger))
        routes.register(on: router)
        return router
    }

    /// The Hummingbird application (a ServiceLifecycle `Service`), over TLS when configured. Throws when the
    /// certificate or key cannot be read.
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        throws(PortalSetupError) -> Application<RouterResponder<BasicRequestContext>> {
        var server: HTTPServerBuilder = .http1()
        if let tls = configuration.tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificatePath)
                guard !chain.isEmpty else { throw PortalSetupError("\(tls.certificatePath) holds no PEM certificate") }
                let key = try NIOSSLPrivateKey(file: tls.keyPath, format: .pem)
                let settings = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                        privateKey: .privateKey(key))
                server = try .tls(.http1(), tlsConfiguration: settings)
            } catch let error as PortalSetupError {
                throw error
            } catch {
                throw PortalSetupError("cannot use the TLS certificate \(tls.certificatePath) and key \(tls.keyPath): \(error)",
                                       hint: "both must be PEM files readable by the node (an unencrypted key)")
            }
        }
        return Application(
            router: makeRouter(), server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "leuknode-portal"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}

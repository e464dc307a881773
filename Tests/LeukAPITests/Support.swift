import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import LeukCore
import LeukCrypto
import LeukStore
import LeukClinic
import LeukNode
@testable import LeukAPI
import ClinicTestSupport

let testConfiguration = ClinicConfiguration(passwordHasher: cheapHasher)

/// A node directory with a database, an operator token, a clinic and its API server.
final class APIFixture: @unchecked Sendable {
    let directory: String
    let identity: NodeIdentity
    let store: RecordStore
    let clock: ManualClock
    let token: OperatorToken
    let clinic: Clinic
    let server: APIServer

    /// A new, empty node.
    convenience init(control: (any NodeControl)? = nil) throws {
        try self.init { _, _ in control }
    }

    /// A new, empty node whose node control works on its own store (the node-control routes over its peer allowlist).
    convenience init(makeControl: (RecordStore, NodeIdentity) throws -> (any NodeControl)?) throws {
        let directory = NSTemporaryDirectory() + "leukapi-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try self.init(directory: directory, identity: NodeIdentity.generate(), clock: ManualClock(), makeControl: makeControl)
    }

    /// Opens the node in `directory` (created before, e.g. a copy of a template).
    convenience init(directory: String, identity: NodeIdentity, clock: ManualClock, control: (any NodeControl)? = nil) throws {
        try self.init(directory: directory, identity: identity, clock: clock) { _, _ in control }
    }

    init(directory: String, identity: NodeIdentity, clock: ManualClock,
         makeControl: (RecordStore, NodeIdentity) throws -> (any NodeControl)?) throws {
        self.directory = directory
        self.identity = identity
        self.clock = clock
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true), identity: identity)
        token = try OperatorToken.loadOrCreate(inDataDirectory: directory)
        clinic = try Clinic(store: store, classifier: MeanRedClassifier(), clock: clock, configuration: testConfiguration,
                            operatorToken: token)
        var logger = Logger(label: "leuknode.api.test")
        logger.logLevel = .warning
        server = APIServer(clinic: clinic, control: try makeControl(store, identity), configuration: APIConfiguration(host: "127.0.0.1", port: 0,
                                                                            eventKeepAlive: .milliseconds(200)),
                           logger: logger)
    }

    /// Copies this node's directory (its database must be closed) into a new fixture.
    func copy() throws -> APIFixture {
        let target = NSTemporaryDirectory() + "leukapi-" + UUID().uuidString
        try FileManager.default.copyItem(atPath: directory, toPath: target)
        return try APIFixture(directory: target, identity: identity, clock: ManualClock(start: clock.now()))
    }

    func close() { store.database.close() }

    deinit {
        store.database.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` with Hummingbird's in-process test client (no socket).
    func withClient<T: Sendable>(_ body: @Sendable (Requests) async throws -> T) async throws -> T {
        try await server.makeApplication().test(.router) { client in try await body(Requests(client: client)) }
    }
}

/// A response as the tests look at it.
struct Reply: Sendable {
    var status: Int
    var body: [UInt8]
    var headers: [String: String]

    var text: String { String(decoding: body, as: UTF8.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try APIClient.decoder().decode(T.self, from: Data(body))
    }

    /// The `{"error": {...}}` document, checked against the HTTP status.
    var errorMessage: String? {
        struct Document: Decodable {
            struct Detail: Decodable {
                var status: Int
                var message: String
            }
            var error: Detail
        }
        guard let document = try? JSONDecoder().decode(Document.self, from: Data(body)), document.error.status == status else { return nil }
        return document.error.message
    }
}

/// Thin helpers over the test client.
struct Requests: Sendable {
    let client: any TestClientProtocol

    func send(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: [UInt8]? = nil,
              headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        if body != nil { headers[.contentType] = "application/json" }
        for field in extra { headers[field.name] = field.value }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) { response in
            var fields: [String: String] = [:]
            for field in response.headers { fields[field.name.canonicalName.lowercased()] = field.value }
            return Reply(status: Int(response.status.code), body: response.body.getBytes(at: response.body.readerIndex, length: response.body.readableBytes) ?? [], headers: fields)
        }
    }

    func send(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: any Sendable]) async throws -> Reply {
        try await send(method, path, token: token, body: [UInt8](try JSONSerialization.data(withJSONObject: json)))
    }

    /// Creates a user with the operator token, logs them in and returns the session token.
    func user(_ name: String, _ role: Role, operatorToken: String, password: String = "password-\(UUID().uuidString.prefix(6))") async throws -> (token: String, id: String) {
        let created = try await send(.post, "/v1/users", token: operatorToken, json: ["name": name, "role": role.rawValue, "password": password])
        guard created.status == 201 else { throw TestFailure("creating \(name): \(created.status) \(created.text)") }
        let login = try await send(.post, "/v1/login", json: ["name": name, "password": password])
        guard login.status == 200 else { throw TestFailure("login \(name): \(login.status) \(login.text)") }
        let result = try login.decode(LoginResult.self)
        return (result.token, result.user.id)
    }
}

/// A request that must be refused, the status it must get and a phrase its error document must contain.
struct RefusalCase {
    var name = ""
    var method: HTTPRequest.Method
    var path: String
    var token: String?
    var body: String?
    var status: Int
    var mentions: String
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The path of a file in the package, from this test file's location.
func packageFile(_ relative: String) -> String {
    let here = URL(fileURLWithPath: #filePath)
    return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(relative).path
}

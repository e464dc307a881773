import Foundation
import LeukAPI
import LeukClinic
import LeukCore
import LeukNode
import OpenAPIRuntime

/// The document's shapes of the node-control answers, under the names the commands print them by.
typealias PeerAnswer = Components.Schemas.Peer
typealias NodeStatusAnswer = Components.Schemas.NodeStatus
typealias ModelHistoryAnswer = Components.Schemas.ModelHistoryEntry
typealias ServingAnswer = Components.Schemas.ModelServing
typealias DecisionAnswer = Components.Schemas.PromotionDecision

/// Node-control calls to a running node through its local API, authenticated with the operator
/// token in DATA_DIR/admin.token (whoever can read the data directory operates the node). The calls go
/// through the `Client` generated from docs/api/openapi.yaml, so what `status --json`, `peer list --json`
/// and `model history --json` print is exactly the document's shape of the node's answer.
struct NodeAPIClient {
    let client: Client

    /// A client when the node in `directory` is running (its API answers `/v1/health`), else `nil`.
    ///
    /// Only a refused connection means "not running": a node that is up but answers oddly (a health check cut
    /// short, an error status) is an error quoting what happened, so a busy or broken node is never reported as
    /// stopped, and `peer add` never falls back to editing the data directory of a node that holds it.
    static func ifRunning(_ directory: NodeDirectory) async throws -> NodeAPIClient? {
        let config = try directory.loadConfig()
        let tokenPath = OperatorToken.path(inDataDirectory: directory.path)
        let token = FileManager.default.fileExists(atPath: tokenPath) ? try OperatorToken.read(path: tokenPath).value : nil
        let client = Client.over(try APIClient(address: config.api, token: token))
        // A busy node may drop one connection (seen once in CI with the end-to-end suites running side by side: "I/O on closed channel"); the
        // health check is a GET, so it is asked again twice before the node counts as failing it.
        var retries = 2
        while true {
            do {
                _ = try await refusalsAsThrown { try await client.health().ok }
                break
            } catch let APIClientError.unreachable(_, reason) where reason == "connection refused" {
                return nil
            } catch APIClientError.unreachable where retries > 0 {
                retries -= 1
                try await Task.sleep(for: .milliseconds(300))
            } catch {
                throw CLIFailure("the node in \(directory.path) did not pass its health check at \(config.api): \((error as? any LeukUserFacingError)?.description ?? "\(error)")",
                                 hint: "see the node's log; if no node runs on this directory, another program holds \(config.api)")
            }
        }
        return NodeAPIClient(client: client)
    }

    /// Like `ifRunning`, but a node that does not answer is an error that says how to start it.
    static func running(_ directory: NodeDirectory) async throws -> NodeAPIClient {
        guard let client = try await ifRunning(directory) else {
            throw CLIFailure("no node is running in \(directory.path)", hint: "start it with `leuknode start --data-dir \(directory.path)`")
        }
        return client
    }

    func addPeer(_ contact: String) async throws -> PeerAnswer {
        try await refusalsAsThrown { try await client.addPeer(body: .json(.init(contact: contact))).created.body.json }
    }
    func peers() async throws -> [PeerAnswer] {
        try await refusalsAsThrown { try await client.listPeers().ok.body.json }
    }
    func removePeer(_ reference: String) async throws -> PeerAnswer {
        try await refusalsAsThrown { try await client.removePeer(path: .init(id: reference)).ok.body.json }
    }
    func status() async throws -> NodeStatusAnswer {
        try await refusalsAsThrown { try await client.status().ok.body.json }
    }
    func history(limit: Int) async throws -> [ModelHistoryAnswer] {
        try await refusalsAsThrown { try await client.modelHistory(query: .init(limit: limit)).ok.body.json }
    }
    func serving(limit: Int) async throws -> ServingAnswer {
        try await refusalsAsThrown { try await client.modelServing(query: .init(limit: limit)).ok.body.json }
    }
    func promote(version: Int, force: Bool) async throws -> DecisionAnswer {
        try await refusalsAsThrown { try await client.promoteModel(body: .json(.init(version: Int64(version), force: force))).ok.body.json }
    }
    func rollback() async throws -> DecisionAnswer {
        try await refusalsAsThrown { try await client.rollbackModel().ok.body.json }
    }
    func pin(_ pinned: Bool) async throws -> DecisionAnswer {
        try await refusalsAsThrown { try await client.pinModel(body: .json(.init(pinned: pinned))).ok.body.json }
    }
    /// The safetensors file; `APIClient` has already read the whole answer, so collecting it copies no more than that.
    func modelFile() async throws -> [UInt8] {
        try await refusalsAsThrown {
            try await [UInt8](collecting: client.model().ok.body.binary, upTo: .max)
        }
    }
}

extension Client {
    /// The generated client over `APIClientTransport`, which throws a refusal as `APIClientError` (the node's
    /// message and hint), so every command reports refusals the same way.
    static func over(_ client: APIClient) -> Client {
        let transport = APIClientTransport(client: client)
        return Client(serverURL: transport.serverURL, transport: transport)
    }
}

/// Runs a call of the generated `Client` and rethrows the transport's own error (`APIClientError`) instead of
/// the generated code's `ClientError` wrapper, so `reportingErrors` prints the node's message and hint.
func refusalsAsThrown<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as ClientError {
        throw error.underlyingError
    }
}

extension Components.Schemas.NodeStatus {
    /// The names `leuknode demo` (Sources/leuknode/Demo, another change's files) reads the status by.
    var updatesReceived: Int { updates_received }
    var neighborDistance: Double? { neighbor_distance }
}

enum JSONText {
    /// Dates as ISO 8601 with seconds, the form the node sends them in.
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = APIClient.encoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Column-aligned plain-text tables for terminal output.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

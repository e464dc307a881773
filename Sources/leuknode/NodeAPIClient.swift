import Foundation
import LeukAPI
import LeukClinic
import LeukCore
import LeukNode

/// Node-control calls to a running node through its local API, authenticated with the operator
/// token in DATA_DIR/admin.token (whoever can read the data directory operates the node).
struct NodeAPIClient {
    let client: APIClient

    /// A client when the node in `directory` is running (its API answers `/v1/health`), else `nil`.
    static func ifRunning(_ directory: NodeDirectory) async throws -> NodeAPIClient? {
        let config = try directory.loadConfig()
        let tokenPath = OperatorToken.path(inDataDirectory: directory.path)
        let token = FileManager.default.fileExists(atPath: tokenPath) ? try OperatorToken.read(path: tokenPath).value : nil
        let client = try APIClient(address: config.api, token: token)
        do {
            _ = try await client.raw(.get, "/v1/health", body: nil)
        } catch {
            return nil
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

    struct AddPeer: Encodable, Sendable { let contact: String }

    func addPeer(_ contact: String) async throws -> PeerView {
        try await client.call(.post, "/v1/peers", body: AddPeer(contact: contact))
    }
    func peers() async throws -> [PeerView] { try await client.call(.get, "/v1/peers") }
    func removePeer(_ reference: String) async throws -> PeerView {
        try await client.call(.delete, "/v1/peers/\(reference.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? reference)")
    }
    func status() async throws -> NodeStatus { try await client.call(.get, "/v1/status") }
    func history(limit: Int) async throws -> [ModelHistoryEntry] { try await client.call(.get, "/v1/model/history?limit=\(limit)") }
    func modelFile() async throws -> [UInt8] { try await client.send(.get, "/v1/model", json: nil).body }
}

enum JSONText {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
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

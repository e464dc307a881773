import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LeukCore
import LeukNode

/// The CLI's client for a running node's local HTTP API. Node-control calls authenticate with the
/// operator token in DATA_DIR/admin.token: whoever can read the data directory operates the node.
struct NodeAPIClient {
    let baseURL: URL
    let token: String?

    /// A client when the node in `directory` is running (its API answers), else `nil`.
    static func ifRunning(_ directory: NodeDirectory) async throws -> NodeAPIClient? {
        let config = try directory.loadConfig()
        guard let url = URL(string: "http://\(config.api)") else { return nil }
        let token = (try? String(contentsOfFile: directory.path + "/admin.token", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let client = NodeAPIClient(baseURL: url, token: token)
        return await client.isUp() ? client : nil
    }

    func isUp() async -> Bool {
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/health"))
        request.timeoutInterval = 2
        guard let (_, response) = try? await URLSession.shared.data(for: request) else { return false }
        return (response as? HTTPURLResponse)?.statusCode == 200
    }

    func send<Response: Decodable>(_ method: String, _ path: String, body: (any Encodable)? = nil, as: Response.Type) async throws -> Response {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        request.httpMethod = method
        request.timeoutInterval = 60
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = try JSONEncoder().encode(body)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw APIClientError(status: status, body: data) }
        do {
            return try JSONDecoder().decode(Response.self, from: data)
        } catch {
            throw APIClientError(status: status, body: Data("unexpected response from the node: \(error)".utf8))
        }
    }

    func addPeer(_ contact: String) async throws -> PeerView {
        try await send("POST", "v1/peers", body: ["contact": contact], as: PeerView.self)
    }

    func peers() async throws -> [PeerView] { try await send("GET", "v1/peers", as: [PeerView].self) }

    func removePeer(_ reference: String) async throws -> PeerView {
        try await send("DELETE", "v1/peers/\(reference)", as: PeerView.self)
    }
}

/// A non-2xx answer from the node, carrying its JSON error message.
struct APIClientError: LeukUserFacingError {
    let status: Int
    let body: Data

    var description: String {
        struct Envelope: Decodable {
            struct Inner: Decodable { let message: String }
            let error: Inner
        }
        if let envelope = try? JSONDecoder().decode(Envelope.self, from: body) {
            return "the node answered \(status): \(envelope.error.message)"
        }
        return "the node answered \(status): \(String(decoding: body.prefix(500), as: UTF8.self))"
    }
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

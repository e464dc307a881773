import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Direct calls to a running node's HTTP API, for what the CLI does not expose (status codes of
/// refused requests) or does not have yet.
struct HTTPReply: CustomStringConvertible {
    var status: Int
    var body: Data
    var json: JSON? { try? JSON.parse(body) }
    var description: String { "\(status) \(String(decoding: body.prefix(400), as: UTF8.self))" }
}

enum HTTP {
    static func call(_ method: String, port: Int, _ path: String, token: String?, json: [String: String]? = nil) async throws -> HTTPReply {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { throw E2EFailure("bad path \(path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw E2EFailure("no HTTP response for \(method) \(path)") }
        return HTTPReply(status: http.statusCode, body: data)
    }
}

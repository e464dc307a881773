public import LeukCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
public import Foundation

/// Why a call to the node's API failed, in words for the person at the terminal.
public enum APIClientError: LeukUserFacingError, Equatable {
    /// The node could not be reached at all.
    case unreachable(address: String, reason: String)
    /// The node answered with an error document.
    case server(status: Int, message: String, hint: String?)
    /// The node's answer was not what this client understands.
    case unexpectedResponse(String)

    public var description: String {
        switch self {
        case let .unreachable(address, reason): return "cannot reach the node's API at \(address): \(reason)"
        case let .server(status, message, _): return "the node refused the request (\(status)): \(message)"
        case let .unexpectedResponse(why): return "the node's answer could not be read: \(why)"
        }
    }

    public var hint: String? {
        switch self {
        case .unreachable: return "is the node running? Start it with `leuknode start --data-dir DIR`"
        case let .server(_, _, hint): return hint
        case .unexpectedResponse: return "check that the CLI and the node are the same leuknode version"
        }
    }

    public var status: Int? {
        if case let .server(status, _, _) = self { return status }
        return nil
    }
}

/// A response as received.
public struct APIClientResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]
}

/// A small HTTP/1.1 client for the node's loopback API (SwiftNIO, one connection per request), used by
/// the CLI and by the live tests. It speaks just what the API needs: JSON requests and responses, raw
/// bytes, and the server-sent-events stream.
public struct APIClient: Sendable {
    public let host: String
    public let port: Int
    /// The bearer token (a session token, or the operator token).
    public var token: String?

    public init(host: String, port: Int, token: String?) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// From `NodeConfig.api` ("host:port").
    public init(address: String, token: String?) throws(APIError) {
        let configuration = try APIConfiguration(address: address)
        self.init(host: configuration.host, port: configuration.port, token: token)
    }

    var address: String { "\(host):\(port)" }

    // MARK: - Requests

    /// One request, any status.
    public func raw(_ method: APIMethod, _ path: String, body: [UInt8]?, contentType: String = "application/json") async throws(APIClientError) -> APIClientResponse {
        do {
            return try await exchange(method, path, body: body, contentType: contentType) { _ in }
        } catch let error as APIClientError {
            throw error
        } catch {
            throw .unreachable(address: address, reason: Self.describe(error))
        }
    }

    // MARK: - Events

    /// The server-sent events of `path` (e.g. `/v1/events?appointment=ID`), as they arrive. The
    /// stream ends when the server closes it; cancelling the consuming task closes the connection.
    public func events(_ path: String) -> AsyncThrowingStream<ServerSentEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ServerSentEvent.self)
        let task = Task {
            let parser = ParserBox()
            do {
                let response = try await exchange(.get, path, body: nil, contentType: "application/json") { chunk in
                    for event in parser.feed(chunk) { continuation.yield(event) }
                }
                if !(200..<300).contains(response.status) { throw Self.serverError(response) }
                continuation.finish()
            } catch let error as APIClientError {
                continuation.finish(throwing: error)
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: APIClientError.unreachable(address: address, reason: Self.describe(error)))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: - Transport

    /// Opens a connection, sends one request and reads the response. Body chunks of a 2xx
    /// `text/event-stream` response go to `onStreamChunk` as they come instead of being collected.
    private func exchange(_ method: APIMethod, _ path: String, body: [UInt8]?, contentType: String,
                          onStreamChunk: @escaping @Sendable ([UInt8]) -> Void) async throws -> APIClientResponse {
        let channel = try await connect()
        return try await withTaskCancellationHandler {
            try await channel.executeThenClose { inbound, outbound in
                try await Self.write(method, path, to: outbound, address: address, token: token, body: body, contentType: contentType,
                                     keepAlive: false)

                var response = APIClientResponse(status: 0, contentType: nil, body: [])
                var streaming = false
                for try await part in inbound {
                    switch part {
                    case let .head(responseHead):
                        response.status = Int(responseHead.status.code)
                        response.contentType = responseHead.headers.first(name: "Content-Type")
                        streaming = (200..<300).contains(response.status) && (response.contentType?.hasPrefix("text/event-stream") ?? false)
                    case var .body(buffer):
                        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                        if streaming { onStreamChunk(bytes) } else { response.body += bytes }
                    case .end:
                        return response
                    }
                }
                throw APIClientError.unexpectedResponse("the connection closed before the response ended")
            }
        } onCancel: {
            channel.channel.close(promise: nil)
        }
    }

    /// Writes one request: its head (host, token, body headers; `Connection: close` unless `keepAlive`), body and end.
    static func write(_ method: APIMethod, _ path: String, to outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>,
                      address: String, token: String?, body: [UInt8]?, contentType: String, keepAlive: Bool) async throws {
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method.rawValue), uri: path)
        head.headers.add(name: "Host", value: address)
        if !keepAlive { head.headers.add(name: "Connection", value: "close") }
        head.headers.add(name: "User-Agent", value: keepAlive ? "leuknode-load" : "leuknode-cli")
        if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            head.headers.add(name: "Content-Type", value: contentType)
            head.headers.add(name: "Content-Length", value: String(body.count))
        } else if method.hasBody {
            head.headers.add(name: "Content-Length", value: "0")
        }
        try await outbound.write(.head(head))
        if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
    }

    /// A new HTTP/1.1 connection to the node (5 s to connect).
    func connect() async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    static func serverError(_ response: APIClientResponse) -> APIClientError {
        struct Document: Decodable {
            struct Detail: Decodable {
                var message: String
                var hint: String?
            }
            var error: Detail
        }
        if let document = try? JSONDecoder().decode(Document.self, from: Data(response.body)) {
            return .server(status: response.status, message: document.error.message, hint: document.error.hint)
        }
        return .server(status: response.status, message: String(decoding: response.body.prefix(300), as: UTF8.self), hint: nil)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? any LeukUserFacingError { return error.description }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

/// The parser of one stream, fed from the channel's reads one after another.
/// A class only because the chunk handler is an escaping closure, which cannot capture a `Mutex`
/// (it is not copyable); chunks of one response arrive in order from a single reading task, and the
/// `Mutex` makes that explicit rather than assumed, so the box is `Sendable` without `@unchecked`.
private final class ParserBox: Sendable {
    private let parser = Mutex(ServerSentEventParser())

    func feed(_ bytes: [UInt8]) -> [ServerSentEvent] { parser.withLock { $0.feed(bytes) } }
}

/// Splits a `text/event-stream` byte stream into events (comments included, as keep-alives).
public struct ServerSentEventParser: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [ServerSentEvent] {
        pending += bytes.filter { $0 != UInt8(ascii: "\r") }
        var events: [ServerSentEvent] = []
        while let end = blankLine() {
            let block = String(decoding: pending[..<end], as: UTF8.self)
            pending.removeFirst(end + 2)
            var name: String?
            var id: String?
            var data: [String] = []
            var comment: String?
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") {
                    comment = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
                } else if line.hasPrefix("event:") {
                    name = Self.value(line, "event:")
                } else if line.hasPrefix("data:") {
                    data.append(Self.value(line, "data:"))
                } else if line.hasPrefix("id:") {
                    id = Self.value(line, "id:")
                }
            }
            if data.isEmpty && name == nil, let comment {
                events.append(.comment(comment))
            } else {
                events.append(ServerSentEvent(event: name, data: data.joined(separator: "\n"), id: id))
            }
        }
        return events
    }

    private func blankLine() -> Int? {
        guard pending.count >= 2 else { return nil }
        for i in 0..<(pending.count - 1) where pending[i] == 10 && pending[i + 1] == 10 { return i }
        return nil
    }

    private static func value(_ line: Substring, _ prefix: String) -> String {
        var rest = line.dropFirst(prefix.count)
        if rest.first == " " { rest = rest.dropFirst() }
        return String(rest)
    }
}

// MARK: - Kept-alive connections

/// One kept-alive HTTP/1.1 connection to the node's API, for a client that sends many requests one after
/// another (`leuknode clinic-bench --load-clients`).
///
/// Why not `APIClient.raw`: that opens a connection per request and closes it, which suits a CLI command,
/// but a load of hundreds of requests a second that way leaves thousands of sockets in TIME_WAIT and runs
/// out of loopback ports within a minute; that measures the kernel's port range, not the node. Browsers and
/// apps keep their connections, and so does this.
public struct APIConnection {
    let address: String
    var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Sends one request and reads its whole response (any status). Throws when the connection fails or the
    /// server closes it; open a new one then.
    public mutating func send(_ method: APIMethod, _ path: String, token: String?, body: [UInt8]? = nil) async throws -> APIClientResponse {
        try await APIClient.write(method, path, to: outbound, address: address, token: token, body: body,
                                  contentType: "application/json", keepAlive: true)
        var response = APIClientResponse(status: 0, contentType: nil, body: [])
        while let part = try await inbound.next() {
            switch part {
            case let .head(responseHead):
                response.status = Int(responseHead.status.code)
                response.contentType = responseHead.headers.first(name: "Content-Type")
            case var .body(buffer):
                response.body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                return response
            }
        }
        throw APIClientError.unexpectedResponse("the node closed the connection before the response ended")
    }
}

extension APIClient {
    /// Opens one kept-alive connection, runs `body` with it and closes it.
    public func withConnection<T: Sendable>(_ body: (inout APIConnection) async throws -> T) async throws -> T {
        let channel = try await connect()
        return try await channel.executeThenClose { inbound, outbound in
            var connection = APIConnection(address: address, inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }
}

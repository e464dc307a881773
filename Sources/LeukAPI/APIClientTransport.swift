public import Foundation
public import HTTPTypes
public import OpenAPIRuntime

/// Carries the requests of a `Client` that swift-openapi-generator makes from docs/api/openapi.yaml over
/// `APIClient` (one loopback connection per request, the bearer token added), so typed calls and the
/// CLI's older calls share one way to reach the node.
public struct APIClientTransport: ClientTransport {
    public let client: APIClient
    /// When true, an answer that is not 2xx is thrown as `APIClientError.server` with the node's message
    /// and hint, as `APIClient.call` does, so a command reports every refusal the same way. When false
    /// it is handed to the generated code, which decodes it as the documented error response.
    public let refusalsThrow: Bool

    public init(client: APIClient, refusalsThrow: Bool = true) {
        self.client = client
        self.refusalsThrow = refusalsThrow
    }

    /// A client's address as the generated `Client` wants it; requests carry only paths, so any host does.
    public var serverURL: URL { URL(fileURLWithPath: "/") }

    public func send(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String) async throws -> (HTTPResponse, HTTPBody?) {
        guard let method = APIMethod(rawValue: request.method.rawValue) else {
            throw APIClientError.unexpectedResponse("\(operationID): the API has no \(request.method.rawValue) routes")
        }
        var bytes: [UInt8]?
        if let body { bytes = try await [UInt8](collecting: body, upTo: 64 << 20) }
        let response = try await client.raw(method, request.path ?? "/", body: bytes,
                                            contentType: request.headerFields[.contentType] ?? "application/json")
        if refusalsThrow && !(200..<300).contains(response.status) { throw APIClient.serverError(response) }
        var fields = HTTPFields()
        if let contentType = response.contentType { fields[.contentType] = contentType }
        return (HTTPResponse(status: .init(code: response.status), headerFields: fields), HTTPBody(response.body))
    }
}

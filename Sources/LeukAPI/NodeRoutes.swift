import Foundation
import Hummingbird
import LeukClinic
import LeukCore
import LeukCrypto
public import LeukNode
import OpenAPIHummingbird
import OpenAPIRuntime

/// The node-control routes (`/v1/status`, `/v1/peers`, `/v1/model…`), for the operator: they need the
/// operator token in DATA_DIR/admin.token or an admin session.
///
/// They are served by the server swift-openapi-generator makes from docs/api/openapi.yaml (build plugin on
/// LeukAPI, `Sources/LeukAPI/openapi-generator-config.yaml`): the document decides how paths, query values
/// and bodies are read and what each answer looks like. The route table below keeps only what the document
/// does not say: who may call each operation, the query parameters it takes (any other is refused) and the
/// body limit; `OperationGate` applies it before the generated code reads the request.
public struct NodeRoutes: Sendable {
    let control: any NodeControl

    public init(control: any NodeControl) { self.control = control }

    public var group: RouteGroup {
        let handlers = NodeControlHandlers(control: control)
        return RouteGroup(name: "node", routes: [
            APIRoute(.get, "/v1/status", access: .administrator, summary: "The node's federation status", operationID: "status"),
            APIRoute(.get, "/v1/peers", access: .administrator, summary: "Admitted peers with live state", operationID: "listPeers"),
            APIRoute(.post, "/v1/peers", access: .administrator, bodyFields: ["contact"], summary: "Admit a peer by its contact string",
                     operationID: "addPeer"),
            APIRoute(.delete, "/v1/peers/{id}", access: .administrator, summary: "Revoke a peer; its connection closes at once",
                     operationID: "removePeer"),
            APIRoute(.get, "/v1/model/history", access: .administrator, query: ["limit"],
                     summary: "Lineage of the current model: versions and the institutions' updates in each", operationID: "modelHistory"),
            APIRoute(.get, "/v1/model", access: .administrator, summary: "The current federated model (safetensors)", operationID: "model"),
        ], registerGenerated: { router, middlewares in
            try handlers.registerHandlers(on: router, configuration: ResponseJSON.configuration, middlewares: middlewares)
        })
    }
}

/// The generated `APIProtocol` of the node-control operations over the node's `NodeControl`.
///
/// `NodeControl` lives in LeukNode, below this module, so it answers with the node's own types; they are
/// turned into the document's types by `DocumentedJSON.convert` (encoded as the node encodes them, read back
/// as the document's type) rather than copied field by field: a documented field the node stops sending, or
/// sends with another type, fails loudly (a logged 500), and a field the document does not list is not sent.
struct NodeControlHandlers: APIProtocol {
    let control: any NodeControl

    func status(_ input: Operations.status.Input) async throws -> Operations.status.Output {
        .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.status() }))))
    }

    func listPeers(_ input: Operations.listPeers.Input) async throws -> Operations.listPeers.Output {
        .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.peers() }))))
    }

    func addPeer(_ input: Operations.addPeer.Input) async throws -> Operations.addPeer.Output {
        let text: String
        switch input.body {
        case let .json(body): text = body.contact
        }
        let contact: Contact
        do { contact = try Contact(parsing: text) } catch {
            throw APIError(status: 400, "contact: \(error.description)", hint: error.hint)
        }
        return .created(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.addPeer(contact) }))))
    }

    func removePeer(_ input: Operations.removePeer.Input) async throws -> Operations.removePeer.Output {
        let reference = input.path.id
        guard !reference.isEmpty else { throw APIError(status: 400, "missing path parameter 'id'") }
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.removePeer(reference) }))))
    }

    func modelHistory(_ input: Operations.modelHistory.Input) async throws -> Operations.modelHistory.Output {
        // The document's minimum and maximum: the generated code reads the integer but does not check its range.
        let limit = input.query.limit ?? 100
        guard (1...10_000).contains(limit) else {
            throw APIError(status: 400, "query parameter 'limit' must be an integer from 1 to 10000, not '\(limit)'")
        }
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.modelHistory(limit: limit) }))))
    }

    func model(_ input: Operations.model.Input) async throws -> Operations.model.Output {
        .ok(.init(body: .binary(HTTPBody(try await mapped { try await control.modelFile() }))))
    }
}

/// Maps the node's errors onto HTTP statuses a person can act on (never 500 for a bad request).
func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch let error as PeerRegistryError {
        switch error {
        case .unknownPeer: throw APIError(status: 404, error.description, hint: error.hint)
        case .ambiguous, .cannotAddSelf: throw APIError(status: 400, error.description, hint: error.hint)
        case .store: throw APIError(status: 503, error.description, hint: error.hint)
        }
    } catch let error as any LeukUserFacingError {
        throw APIError(status: 503, error.description, hint: error.hint)
    }
}

import LeukClinic
import LeukCore
import LeukCrypto
public import LeukNode

/// The node-control routes (`/v1/status`, `/v1/peers`, `/v1/model…`), for the operator: they need the
/// operator token in DATA_DIR/admin.token or an admin session.
public struct NodeRoutes: Sendable {
    let control: any NodeControl

    public init(control: any NodeControl) { self.control = control }

    struct AddPeerBody: APIBody {
        static let fields: Set<String> = ["contact"]
        let contact: String
    }

    public var group: RouteGroup {
        let control = self.control
        return RouteGroup(name: "node", routes: [
            APIRoute(.get, "/v1/status", access: .administrator, summary: "The node's federation status") { _ in
                .json(try await mapped { try await control.status() })
            },
            APIRoute(.get, "/v1/peers", access: .administrator, summary: "Admitted peers with live state") { _ in
                .json(try await mapped { try await control.peers() })
            },
            APIRoute(.post, "/v1/peers", access: .administrator, summary: "Admit a peer by its contact string") { request in
                let body = try request.decode(AddPeerBody.self)
                let contact: Contact
                do { contact = try Contact(parsing: body.contact) } catch let error as ContactError {
                    throw APIError(status: 400, "contact: \(error.description)", hint: error.hint)
                }
                return .json(try await mapped { try await control.addPeer(contact) }, status: 201)
            },
            APIRoute(.delete, "/v1/peers/{id}", access: .administrator, summary: "Revoke a peer; its connection closes at once") { request in
                let reference = try request.parameter("id")
                return .json(try await mapped { try await control.removePeer(reference) })
            },
            APIRoute(.get, "/v1/model/history", access: .administrator, query: ["limit"],
                     summary: "Lineage of the current model: versions and the institutions' updates in each") { request in
                let limit = try request.queryInt("limit", range: 1...10_000) ?? 100
                return .json(try await mapped { try await control.modelHistory(limit: limit) })
            },
            APIRoute(.get, "/v1/model", access: .administrator, summary: "The current federated model (safetensors)") { _ in
                .bytes(try await mapped { try await control.modelFile() }, contentType: "application/octet-stream")
            },
        ])
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

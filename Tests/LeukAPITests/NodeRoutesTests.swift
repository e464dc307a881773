import Foundation
import Hummingbird
import Testing
import LeukCore
import LeukCrypto
import LeukNode
import LeukClinic
@testable import LeukAPI

/// The node-control routes through the server generated from docs/api/openapi.yaml: the peer routes over the
/// node's real peer allowlist (`PeerRegistry` in the fixture's LevelDB), and every refusal with the status and
/// error document of the hand-written routes (`OperationGate`, `ErrorMiddleware`).
@Suite struct NodeRoutesTests {
    /// The node's control surface over its real allowlist; status, history and the model need a running
    /// federation (NodeE2ETests and schemathesis reach them), so they answer 503 here as a node that cannot
    /// read its store would.
    struct AllowlistControl: NodeControl {
        let registry: PeerRegistry
        let selfID: NodeID
        struct NoFederation: LeukUserFacingError {
            var description: String { "no federation runs in this test" }
            var hint: String? { nil }
        }
        func status() async throws -> NodeStatus { throw NoFederation() }
        func peers() async throws -> [PeerView] { try registry.all().map { PeerView(id: $0.id, record: $0.record, state: .offline) } }
        func addPeer(_ contact: Contact) async throws -> PeerView {
            PeerView(id: contact.identity.id, record: try registry.add(contact, selfID: selfID), state: .offline)
        }
        func removePeer(_ reference: String) async throws -> PeerView {
            let (id, record) = try registry.remove(reference)
            return PeerView(id: id, record: record, state: .offline)
        }
        func modelHistory(limit: Int) async throws -> [ModelHistoryEntry] { throw NoFederation() }
        func modelFile() async throws -> [UInt8] { throw NoFederation() }
    }

    static func fixture() throws -> APIFixture {
        try APIFixture { store, identity in
            AllowlistControl(registry: PeerRegistry(store: store), selfID: identity.id)
        }
    }

    @Test func peersAreAdmittedListedAndRevokedInTheDocumentsShape() async throws {
        let fixture = try Self.fixture()
        let op = fixture.token.value
        let peer = Contact(identity: NodeIdentity.generate().publicIdentity, host: "10.0.0.7", port: 7400)
        try await fixture.withClient { r in
            let added = try await r.send(.post, "/v1/peers", token: op, json: ["contact": peer.description])
            #expect(added.status == 201, "\(added.text)")
            #expect(added.headers["content-type"]?.hasPrefix("application/json") == true)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(added.body)) as? [String: Any])
            // A fresh peer has no live readings: its nullable fields (last_seen, cool_down_until,
            // banned_until, distance) are left out, the counts are there and zero.
            #expect(Set(document.keys) == ["id", "fingerprint", "address", "state", "bytes_in", "bytes_out", "score", "rejected",
                                           "faults", "updates_received", "updates_sent"])
            #expect(document["fingerprint"] as? String == peer.fingerprint.text)
            #expect(document["address"] as? String == "10.0.0.7:7400")

            let listed = try await r.send(.get, "/v1/peers", token: op)
            #expect(listed.status == 200)
            #expect(try listed.decode([PeerView].self).map(\.fingerprint) == [peer.fingerprint.text])

            let again = try await r.send(.post, "/v1/peers", token: op, json: ["contact": peer.description])
            #expect(again.status == 201, "admitting a peer twice updates it: \(again.text)")

            // A fingerprint's dash arrives percent-encoded; the generated server decodes it.
            let encoded = peer.fingerprint.text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let removed = try await r.send(.delete, "/v1/peers/\(encoded)", token: op)
            #expect(removed.status == 200, "\(removed.text)")
            #expect(try removed.decode(PeerView.self).id == peer.identity.id.hex)
            let gone = try await r.send(.delete, "/v1/peers/\(encoded)", token: op)
            #expect(gone.status == 404 && gone.errorMessage != nil, "\(gone.text)")
            #expect(try await r.send(.get, "/v1/peers", token: op).text == "[]")
        }
    }

    /// Every node-control route, with every kind of caller: no token 401, patients and doctors 403 (before
    /// anything is read), an admin's session and the operator token get through the door.
    @Test func onlyTheOperatorAndAdminsPassTheNodeControlDoor() async throws {
        let fixture = try Self.fixture()
        let op = fixture.token.value
        try await fixture.withClient { r in
            let patient = try await r.user("ana", .patient, operatorToken: op)
            let doctor = try await r.user("dr-b", .doctor, operatorToken: op)
            let admin = try await r.user("root", .admin, operatorToken: op)
            let routes = fixture.server.routes.filter { $0.access == .administrator }
            #expect(routes.count == 6)
            for route in routes {
                let method = HTTPRequest.Method(route.method.rawValue)!
                let path = route.path.replacingOccurrences(of: "{id}", with: "abcdef0123")
                #expect(try await r.send(method, path).status == 401, "\(route.path)")
                for token in [patient.token, doctor.token] {
                    let reply = try await r.send(method, path, token: token)
                    #expect(reply.status == 403, "\(route.method.rawValue) \(route.path): \(reply.text)")
                }
                for token in [admin.token, op] {
                    let reply = try await r.send(method, path, token: token)
                    #expect(reply.status != 401 && reply.status != 403, "\(route.method.rawValue) \(route.path): \(reply.text)")
                }
            }
        }
    }

    @Test func refusalsKeepTheirStatusAndErrorDocument() async throws {
        let fixture = try Self.fixture()
        let op = fixture.token.value
        try await fixture.withClient { r in
            let patient = try await r.user("ana", .patient, operatorToken: op)
            let own = Contact(identity: fixture.identity.publicIdentity, host: "127.0.0.1", port: 7400).description
            typealias Case = RefusalCase
            let cases: [Case] = [
                Case(method: .get, path: "/v1/status", token: nil, status: 401, mentions: "Authorization"),
                Case(method: .get, path: "/v1/peers", token: patient.token, status: 403, mentions: "operator"),
                Case(method: .get, path: "/v1/peers?verbose=1", token: op, status: 400, mentions: "unknown query parameter 'verbose'"),
                Case(method: .get, path: "/v1/model/history?limit=", token: op, status: 400, mentions: "'limit' is empty"),
                Case(method: .get, path: "/v1/model/history?limit=1&limit=2", token: op, status: 400, mentions: "given twice"),
                Case(method: .get, path: "/v1/model/history?limit=0", token: op, status: 400, mentions: "from 1 to 10000"),
                Case(method: .get, path: "/v1/model/history?limit=lots", token: op, status: 400,
                     mentions: "query parameter 'limit' must be an integer"),
                Case(method: .post, path: "/v1/peers", token: op, body: "", status: 400, mentions: "JSON object body"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": "#, status: 400, mentions: "not valid JSON"),
                Case(method: .post, path: "/v1/peers", token: op, body: "[1]", status: 400, mentions: "JSON object"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": "x", "force": true}"#, status: 400,
                     mentions: "unknown field 'force'"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": null}"#, status: 400, mentions: "'contact'"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": 5}"#, status: 400, mentions: "field 'contact' must be a string"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{}"#, status: 400, mentions: "'contact'"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": "leuk1:nope@h:1"}"#, status: 400, mentions: "contact:"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": "\#(own)"}"#, status: 400, mentions: "own"),
                Case(method: .post, path: "/v1/peers", token: op, body: #"{"contact": ""# + String(repeating: "a", count: 70_000) + #""}"#,
                     status: 413, mentions: "65536"),
                Case(method: .delete, path: "/v1/peers/abcdef0123", token: op, status: 404, mentions: "abcdef0123"),
                Case(method: .put, path: "/v1/peers", token: op, status: 405, mentions: "not allowed"),
                Case(method: .get, path: "/v1/status", token: op, status: 503, mentions: "no federation"),
            ]
            for c in cases {
                let reply = try await r.send(c.method, c.path, token: c.token, body: c.body.map { Array($0.utf8) })
                #expect(reply.status == c.status, "\(c.method) \(c.path) \(c.body?.prefix(60) ?? ""): \(reply.status) \(reply.text.prefix(300))")
                #expect(reply.errorMessage?.contains(c.mentions) == true, "\(c.method) \(c.path): \(reply.text.prefix(300))")
            }
        }
    }
}

import Foundation
import Hummingbird
import Testing
import LeukCore
import LeukCrypto
import LeukNode
import LeukClinic
import LeukMetrics
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
        /// The real serving shell over the fixture's store; the models it serves are seeded by the test.
        let serving: ModelServing
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
        func modelServing(limit: Int) async throws -> ServingView { try await serving.view(limit: limit) }
        func promoteModel(version: UInt64, force: Bool, actor: String) async throws -> PromotionDecision {
            guard let model = try await serving.kept(version: version) else { throw ServingError.unknownVersion(version) }
            return try await serving.promote(model, figures: nil, force: force, actor: actor)
        }
        func rollbackModel(actor: String) async throws -> PromotionDecision { try await serving.rollback(actor: actor) }
        func pinModel(_ pinned: Bool, actor: String) async throws -> PromotionDecision { try await serving.setPinned(pinned, actor: actor) }
    }

    /// A model as the node stores it; the serving shell needs nothing more than parameters and a version.
    static func model(version: UInt64) -> ModelSnapshot {
        ModelSnapshot(version: version, round: version, architecture: "leuknet-s", classes: ["hem", "all"], inputSize: 16,
                      mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], parameters: [Float(version), 1, 2], weight: 1, sampleCount: 10,
                      contributors: [], createdAt: Timestamp(nanosecondsSinceEpoch: 1_000), validationAccuracy: 0, validationLoss: 0)
    }

    static func fixture() throws -> APIFixture { try fixtureWithServing().fixture }

    /// The fixture and its serving shell, for tests that seed served models.
    static func fixtureWithServing() throws -> (fixture: APIFixture, serving: ModelServing) {
        var made: ModelServing?
        let fixture = try APIFixture { store, identity in
            let serving = try ModelServing(store: store, gate: PromotionGate())
            made = serving
            return AllowlistControl(registry: PeerRegistry(store: store), selfID: identity.id, serving: serving)
        }
        return (fixture, try #require(made))
    }

    /// The serving verbs through the generated server: refusals with their statuses, each verb's
    /// decision in the document's shape, and every attempt, refused or done, in the audit chain.
    @Test func promoteRollbackAndPinAnswerWithTheirDecisionAndAreAudited() async throws {
        let (fixture, serving) = try Self.fixtureWithServing()
        let op = fixture.token.value
        try await fixture.withClient { r in
            let unpinnable = try await r.send(.post, "/v1/model/pin", token: op, json: ["pinned": true])
            #expect(unpinnable.status == 409 && unpinnable.errorMessage?.contains("nothing to pin") == true, "\(unpinnable.text)")
            let unknown = try await r.send(.post, "/v1/model/promote", token: op, json: ["version": 42])
            #expect(unknown.status == 404 && unknown.errorMessage?.contains("version 42 is not kept") == true, "\(unknown.text)")
            let negative = try await r.send(.post, "/v1/model/promote", token: op, json: ["version": -1])
            #expect(negative.status == 400, "\(negative.text)")
            #expect(try await r.send(.post, "/v1/model/rollback", token: op).status == 409)

            // Without a validation split the default rule follows the federation: both are served in turn.
            try await serving.review(candidate: Self.model(version: 1), figures: nil)
            try await serving.review(candidate: Self.model(version: 2), figures: nil)
            let rolled = try await r.send(.post, "/v1/model/rollback", token: op)
            #expect(rolled.status == 200, "\(rolled.text)")
            let decision = try #require(try JSONSerialization.jsonObject(with: Data(rolled.body)) as? [String: Any])
            #expect(decision["action"] as? String == "rolled-back" && decision["version"] as? Int == 1 && decision["served_before"] as? Int == 2)
            #expect(decision["actor"] as? String == Caller.operatorID)
            let promoted = try await r.send(.post, "/v1/model/promote", token: op, json: ["version": 2, "force": false])
            #expect(promoted.status == 200, "\(promoted.text)")
            #expect(try await r.send(.post, "/v1/model/pin", token: op, json: ["pinned": false]).status == 200)

            let view = try await r.send(.get, "/v1/model/serving?limit=3", token: op)
            #expect(view.status == 200, "\(view.text)")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(view.body)) as? [String: Any])
            #expect((document["served"] as? [String: Any])?["version"] as? Int == 2)
            #expect(document["pinned"] as? Bool == false)
            #expect((document["decisions"] as? [[String: Any]])?.compactMap { $0["action"] as? String } == ["unpinned", "promoted-by-operator", "rolled-back"])
            #expect((document["floors"] as? [String: Any])?["without_validation"] as? String == "follow")

            let audit = try await r.send(.get, "/v1/audit?limit=100", token: op)
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(audit.body)) as? [[String: Any]])
            let actions = entries.compactMap { entry -> String? in
                guard let action = entry["action"] as? String, action.hasPrefix("model.") else { return nil }
                return action + ":" + (entry["outcome"] as? String ?? "?")
            }
            #expect(actions == ["model.pin:failed", "model.promote:failed", "model.rollback:failed", "model.rollback:ok", "model.promote:ok",
                                "model.unpin:ok"], "\(audit.text.prefix(2000))")
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
            // banned_until, ban, distance) are left out, the counts are there and zero, the trust whole.
            #expect(Set(document.keys) == ["id", "fingerprint", "address", "state", "bytes_in", "bytes_out", "score", "rejected",
                                           "faults", "updates_received", "updates_sent", "trust"])
            #expect(document["trust"] as? Double == 1)
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
            #expect(routes.count == 10)
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

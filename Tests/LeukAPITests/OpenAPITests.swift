import Foundation
import Testing
import ClinicTestSupport
import LeukClinic
import LeukCrypto
import LeukNode
@testable import LeukAPI

@Suite struct OpenAPITests {
    @Test func servedDocumentIsTheFileInDocs() throws {
        let file = try String(contentsOfFile: packageFile("docs/api/openapi.yaml"), encoding: .utf8)
        #expect(OpenAPIDocument.yaml == file, "the served document is not docs/api/openapi.yaml: is Sources/LeukAPI/openapi.yaml still a link to it?")
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() throws {
        // The node's routes as `leuknode start` registers them; their handlers are not called here.
        let fixture = try APIFixture(routeGroups: [NodeRoutes(control: RouteTableOnly()).group])
        let problems = try OpenAPIAgreement.differences(routes: fixture.server.routes, yaml: OpenAPIDocument.yaml)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(try OpenAPIAgreement.operations(in: OpenAPIDocument.yaml).count == fixture.server.routes.count)
    }

    @Test func disagreementsAreReported() throws {
        let extra = RouteGroup(name: "extra", routes: [
            APIRoute(.get, "/v1/undocumented", access: .administrator, query: ["verbose"], summary: "not in the document") { _ in .empty() },
        ])
        let fixture = try APIFixture(routeGroups: [NodeRoutes(control: RouteTableOnly()).group, extra])
        let problems = try OpenAPIAgreement.differences(routes: fixture.server.routes, yaml: OpenAPIDocument.yaml)
        #expect(problems == ["GET /v1/undocumented is served but not documented in the OpenAPI document"])

        // A documented query parameter the route does not take, and a documented route that is gone.
        let yaml = OpenAPIDocument.yaml.replacingOccurrences(of: "        - name: free\n", with: "        - name: fre\n")
            + ""
        let renamed = try OpenAPIAgreement.differences(routes: fixture.server.routes.filter { $0.path != "/v1/undocumented" }, yaml: yaml)
        #expect(renamed.count == 1)
        #expect(renamed.first?.contains("GET /v1/slots") == true)
        let missing = try OpenAPIAgreement.differences(routes: fixture.server.routes.filter { $0.path != "/v1/undocumented" && $0.path != "/v1/me" },
                                                   yaml: OpenAPIDocument.yaml)
        #expect(missing == ["GET /v1/me is documented but the server has no such route"])
    }

    @Test func documentIsServed() async throws {
        let fixture = try APIFixture()
        try await fixture.withClient { r in
            let reply = try await r.send(.get, "/v1/openapi.yaml")
            #expect(reply.status == 200)
            #expect(reply.text == OpenAPIDocument.yaml)
            #expect(reply.headers["content-type"]?.hasPrefix("application/yaml") == true)
        }
    }

    @Test func nodeRouteGroupsAreServedWithTheSameAuthentication() async throws {
        struct Status: Codable, Sendable {
            var round: Int
        }
        let group = RouteGroup(name: "node", routes: [
            APIRoute(.get, "/v1/status", access: .administrator, summary: "node status") { _ in .json(Status(round: 42)) },
        ])
        let fixture = try APIFixture(routeGroups: [group])
        try await fixture.withClient { r in
            let patient = try await r.user("ana", .patient, operatorToken: fixture.token.value)
            #expect(try await r.send(.get, "/v1/status").status == 401)
            #expect(try await r.send(.get, "/v1/status", token: patient.token).status == 403)
            let reply = try await r.send(.get, "/v1/status", token: fixture.token.value)
            #expect(reply.status == 200)
            #expect(try reply.decode(Status.self).round == 42)
        }
    }
}

/// Lists the node's routes without a running node: only the route table is under test, so every
/// handler refuses with 503 should one ever be called.
struct RouteTableOnly: NodeControl {
    struct NotRunning: Error {}
    func status() async throws -> NodeStatus { throw NotRunning() }
    func peers() async throws -> [PeerView] { throw NotRunning() }
    func addPeer(_ contact: Contact) async throws -> PeerView { throw NotRunning() }
    func removePeer(_ reference: String) async throws -> PeerView { throw NotRunning() }
    func modelHistory(limit: Int) async throws -> [ModelHistoryEntry] { throw NotRunning() }
    func modelFile() async throws -> [UInt8] { throw NotRunning() }
}

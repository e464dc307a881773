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
        let fixture = try APIFixture()
        let problems = try OpenAPIAgreement.differences(routes: fixture.server.routes, yaml: OpenAPIDocument.yaml)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(try OpenAPIAgreement.operations(in: OpenAPIDocument.yaml).count == fixture.server.routes.count)
    }

    @Test func disagreementsAreReported() throws {
        let extra = APIRoute(.get, "/v1/undocumented", access: .administrator, query: ["verbose"], summary: "not in the document",
                             operationID: "undocumented")
        let fixture = try APIFixture()
        let problems = try OpenAPIAgreement.differences(routes: fixture.server.routes + [extra], yaml: OpenAPIDocument.yaml)
        #expect(problems == ["GET /v1/undocumented is served but not documented in the OpenAPI document"])

        // A documented query parameter the route does not take, and a documented route that is gone.
        let yaml = OpenAPIDocument.yaml.replacingOccurrences(of: "        - name: free\n", with: "        - name: fre\n")
            + ""
        let renamed = try OpenAPIAgreement.differences(routes: fixture.server.routes, yaml: yaml)
        #expect(renamed.count == 1)
        #expect(renamed.first?.contains("GET /v1/slots") == true)
        let missing = try OpenAPIAgreement.differences(routes: fixture.server.routes.filter { $0.path != "/v1/me" },
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

    @Test func nodeRoutesWithoutANodeAnswer503AfterTheSameAuthentication() async throws {
        let fixture = try APIFixture()
        try await fixture.withClient { r in
            let patient = try await r.user("ana", .patient, operatorToken: fixture.token.value)
            #expect(try await r.send(.get, "/v1/status").status == 401)
            #expect(try await r.send(.get, "/v1/status", token: patient.token).status == 403)
            let reply = try await r.send(.get, "/v1/status", token: fixture.token.value)
            #expect(reply.status == 503)
            #expect(reply.text.contains("without a federation node"))
        }
    }

    @Test func everyOperationIsInTheRouteTableOnce() throws {
        let routes = RouteTable.routes(maxImageBytes: 1 << 20)
        let documented = Set(try OpenAPIAgreement.operations(in: OpenAPIDocument.yaml).compactMap(\.operationID))
        #expect(Set(routes.map(\.operationID)) == documented)
        #expect(routes.count == documented.count)
    }
}

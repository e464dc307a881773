import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import ClinicTestSupport
import LeukClinic
@testable import LeukAPI

/// Walks every route with every role and checks the status against the table in docs/clinic.md,
/// so the documented matrix and the server cannot disagree. Each cell runs on its own copy of one
/// prepared node, so no request's side effects reach another cell.
@Suite struct AccessMatrixTests {
    static let columns = ["anonymous", "patient (own)", "other patient", "doctor (treating)", "other doctor", "admin", "operator"]

    struct Row {
        var method: String
        var path: String
        var expected: [Int]
    }

    /// The table between the access-matrix markers of docs/clinic.md.
    static func documentedMatrix() throws -> [Row] {
        let text = try String(contentsOfFile: packageFile("docs/clinic.md"), encoding: .utf8)
        guard let start = text.range(of: "<!-- access-matrix:start -->"), let end = text.range(of: "<!-- access-matrix:end -->") else {
            throw TestFailure("docs/clinic.md has no access-matrix markers")
        }
        var rows: [Row] = []
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let route = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")).split(separator: " ")
            let expected = cells.dropFirst().compactMap { Int($0) }
            guard route.count == 2, expected.count == columns.count else { throw TestFailure("bad matrix row: \(line)") }
            rows.append(Row(method: String(route[0]), path: String(route[1]), expected: expected))
        }
        return rows
    }

    /// The prepared node: users of every role, a released diagnosis with its proposed appointment, a
    /// pending diagnosis, a confirmed appointment, free slots and a message.
    struct Template: Sendable {
        let fixture: APIFixture
        var tokens: [String?] = []
        var ids: [String: String] = [:]
        var anaPassword = "password-ana"
    }

    static func prepare() async throws -> Template {
        let fixture = try APIFixture()
        var template = Template(fixture: fixture)
        let op = fixture.token.value
        let clinic = fixture.clinic
        try await fixture.withClient { r in
            func create(_ name: String, _ role: Role, _ password: String) async throws -> String {
                let reply = try await r.send(.post, "/v1/users", token: op, json: ["name": name, "role": role.rawValue, "password": password])
                return try reply.decode(UserInfo.self).id
            }
            _ = try await create("ana", .patient, "password-ana")
            _ = try await create("bob", .patient, "password-bob")
            _ = try await create("dr.grey", .doctor, "password-grey")
            _ = try await create("dr.yang", .doctor, "password-yang")
            _ = try await create("root", .admin, "password-root")
            _ = try await create("victim", .patient, "password-victim")
        }
        func login(_ name: String) async throws -> (String, Caller) {
            let result = try await clinic.login(name: name, password: "password-" + name.replacingOccurrences(of: "dr.", with: ""))
            return (result.token, try await clinic.authenticate(bearer: result.token))
        }
        let (anaToken, ana) = try await login("ana")
        let (bobToken, _) = try await login("bob")
        let (greyToken, grey) = try await login("dr.grey")
        let (yangToken, yang) = try await login("dr.yang")
        let (rootToken, _) = try await login("root")
        template.tokens = [nil, anaToken, bobToken, greyToken, yangToken, rootToken, op]
        let now = fixture.clock.now().secondsSinceEpoch
        func slot(_ doctor: Caller, _ hours: Double) async throws -> String {
            let start = Date(timeIntervalSince1970: now + hours * 3600)
            return try await clinic.addSlot(by: doctor, start: start, end: start.addingTimeInterval(1800)).id
        }
        _ = try await slot(grey, 2)
        template.ids["freeSlot"] = try await slot(grey, 4)
        let confirmedSlot = try await slot(grey, 6)
        _ = try await slot(yang, 3)
        let outcome = try await clinic.diagnose(by: grey, patient: "ana", image: rgbImage(red: 230), fileName: "c.rgb")
        template.ids["diagnosis"] = outcome.diagnosis.id
        _ = try await clinic.releaseDiagnosis(by: grey, id: outcome.diagnosis.id, note: "urgent follow-up")
        template.ids["appointment"] = try #require(outcome.appointment).id
        template.ids["pendingDiagnosis"] = try await clinic.diagnose(by: grey, patient: "ana", image: rgbImage(red: 10), fileName: "d.rgb").diagnosis.id
        let confirmed = try await clinic.book(by: grey, slotID: confirmedSlot, patient: "ana")
        _ = try await clinic.confirm(by: grey, appointment: confirmed.id)
        template.ids["confirmedAppointment"] = confirmed.id
        _ = try await clinic.sendMessage(by: ana, appointment: template.ids["appointment"]!, body: "hello doctor")
        template.ids["victim"] = try #require(try await clinic.listUsers(by: Caller(userID: "operator", name: "operator", role: .admin, isOperator: true, sessionKey: nil)).first { $0.name == "victim" }).id
        fixture.close()
        return template
    }

    /// The concrete request for a documented route.
    static func request(for row: Row, _ t: Template) -> (path: String, body: [String: any Sendable]?) {
        let key = row.method + " " + row.path
        let apt = t.ids["appointment"]!
        let start = Date(timeIntervalSince1970: t.fixture.clock.now().secondsSinceEpoch + 30 * 3600)
        switch key {
        case "POST /v1/login": return (row.path, ["name": "ana", "password": t.anaPassword])
        case "POST /v1/users": return (row.path, ["name": "newuser", "role": "patient", "password": "password-new"])
        case "POST /v1/users/{id}/revoke-sessions": return ("/v1/users/\(t.ids["victim"]!)/revoke-sessions", nil)
        case "POST /v1/users/{id}/disable": return ("/v1/users/\(t.ids["victim"]!)/disable", nil)
        case "POST /v1/users/{id}/enable": return ("/v1/users/\(t.ids["victim"]!)/enable", nil)
        case "DELETE /v1/slots/{id}": return ("/v1/slots/\(t.ids["freeSlot"]!)", nil)
        case "POST /v1/break-glass": return (row.path, ["patient": "ana", "reason": "emergency room, patient unconscious"])
        case "POST /v1/diagnoses":
            return (row.path, ["patient": "ana", "file_name": "e.rgb", "image_base64": Data(rgbImage(red: 10)).base64EncodedString()])
        case "GET /v1/diagnoses/{id}": return ("/v1/diagnoses/\(t.ids["diagnosis"]!)", nil)
        case "GET /v1/diagnoses/{id}/image": return ("/v1/diagnoses/\(t.ids["diagnosis"]!)/image", nil)
        case "POST /v1/diagnoses/{id}/review": return ("/v1/diagnoses/\(t.ids["diagnosis"]!)/review", ["note": "seen"])
        case "POST /v1/diagnoses/{id}/release": return ("/v1/diagnoses/\(t.ids["pendingDiagnosis"]!)/release", nil)
        case "POST /v1/slots":
            return (row.path, ["start": ISO8601.format(start), "end": ISO8601.format(start.addingTimeInterval(1800))])
        case "POST /v1/appointments": return (row.path, ["slot": t.ids["freeSlot"]!, "patient": "ana"])
        case "GET /v1/appointments/{id}": return ("/v1/appointments/\(apt)", nil)
        case "POST /v1/appointments/{id}/confirm": return ("/v1/appointments/\(apt)/confirm", nil)
        case "POST /v1/appointments/{id}/reschedule": return ("/v1/appointments/\(apt)/reschedule", ["slot": t.ids["freeSlot"]!])
        case "POST /v1/appointments/{id}/cancel": return ("/v1/appointments/\(apt)/cancel", nil)
        case "POST /v1/appointments/{id}/complete": return ("/v1/appointments/\(t.ids["confirmedAppointment"]!)/complete", nil)
        case "POST /v1/appointments/{id}/messages": return ("/v1/appointments/\(apt)/messages", ["body": "a question"])
        case "GET /v1/appointments/{id}/messages": return ("/v1/appointments/\(apt)/messages", nil)
        case "GET /v1/events": return ("/v1/events?appointment=\(apt)&limit=1", nil)
        default: return (row.path, nil)
        }
    }

    @Test func everyRouteWithEveryRoleMatchesTheDocumentedMatrix() async throws {
        let rows = try Self.documentedMatrix()
        let template = try await Self.prepare()
        // The table covers exactly the clinic's routes the server serves; the node-control routes (operator and
        // admins only) are NodeRoutesTests.onlyTheOperatorAndAdminsPassTheNodeControlDoor's.
        let served = Set(template.fixture.server.routes.filter { $0.access != .administrator }.map { $0.method.rawValue + " " + $0.path })
        #expect(Set(rows.map { $0.method + " " + $0.path }) == served)

        for row in rows {
            let (path, body) = Self.request(for: row, template)
            for (column, expected) in row.expected.enumerated() {
                let cell = try template.fixture.copy()
                let token = template.tokens[column]
                let method = HTTPRequest.Method(row.method)!
                let isStream = row.path == "/v1/events" && expected == 200
                let reply = try await cell.withClient { r in
                    if !isStream {
                        if let body { return try await r.send(method, path, token: token, json: body) }
                        return try await r.send(method, path, token: token)
                    }
                    // A stream answers once an event arrives: send one when the subscription is open.
                    async let streamed = r.send(method, path, token: token)
                    for _ in 0..<500 where cell.clinic.events.subscriberCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
                    let ana = try await cell.clinic.authenticate(bearer: template.tokens[1]!)
                    _ = try await cell.clinic.sendMessage(by: ana, appointment: template.ids["appointment"]!, body: "ping")
                    return try await streamed
                }
                #expect(reply.status == expected, "\(row.method) \(row.path) as \(Self.columns[column]): \(reply.status) \(reply.text.prefix(200))")
                if reply.status >= 400 { #expect(reply.errorMessage != nil, "error body of \(row.method) \(row.path): \(reply.text)") }
                if isStream { #expect(reply.text.contains("event: message") && reply.text.contains("ping")) }
                cell.close()
            }
        }
    }
}

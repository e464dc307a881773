import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import ClinicTestSupport
import LeukClinic
@testable import LeukAPI

/// Bad input of every kind gets a 4xx with a JSON error that names the problem; never a 500.
@Suite struct BadInputTests {
    /// A fresh server with the doctor dr.grey and the patient ana; `body` gets the client, the doctor's
    /// session token and the operator token.
    func withDoctorAndPatient(_ body: @Sendable (Requests, _ doctor: String, _ op: String) async throws -> Void) async throws {
        let f = try APIFixture()
        let op = f.token.value
        try await f.withClient { r in
            let doctor = try await r.user("dr.grey", .doctor, operatorToken: op)
            _ = try await r.user("ana", .patient, operatorToken: op)
            try await body(r, doctor.token, op)
        }
    }

    @Test func badBodiesQueriesAndIdsGetClearClientErrors() async throws {
        try await withDoctorAndPatient { r, doctor, op in
            typealias Case = RefusalCase
            let cases: [Case] = [
                Case(name: "malformed JSON", method: .post, path: "/v1/login", body: #"{"name": "ana", "#, status: 400, mentions: "not valid JSON"),
                Case(name: "not an object", method: .post, path: "/v1/login", body: "[1, 2]", status: 400, mentions: "JSON object"),
                Case(name: "empty body", method: .post, path: "/v1/login", body: "", status: 400, mentions: "JSON object body"),
                Case(name: "unknown field", method: .post, path: "/v1/login", body: #"{"name": "ana", "password": "x", "admin": true}"#,
                     status: 400, mentions: "unknown field 'admin'"),
                Case(name: "wrong type", method: .post, path: "/v1/login", body: #"{"name": 5, "password": "x"}"#, status: 400,
                     mentions: "field 'name' must be a string"),
                Case(name: "null", method: .post, path: "/v1/login", body: #"{"name": null, "password": "x"}"#, status: 400, mentions: "'name'"),
                Case(name: "missing field", method: .post, path: "/v1/login", body: #"{"name": "ana"}"#, status: 400,
                     mentions: "missing required field 'password'"),
                Case(name: "bad date", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"start": "tomorrow at nine", "end": "2031-01-01T10:00:00Z"}"#, status: 400, mentions: "ISO 8601"),
                // Valid JSON with a bad date is not "not valid JSON" (it was called that until inputs replayed through `api-json` showed it).
                Case(name: "impossible time", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"start": "2026-12-02T09:30:60Z", "end": "2031-01-01T10:00:00Z"}"#, status: 400,
                     mentions: "a value in the body is invalid: '2026-12-02T09:30:60Z' is not an ISO 8601 date-time"),
                Case(name: "date of the wrong type", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"start": 1700000000, "end": "2031-01-01T10:00:00Z"}"#, status: 400, mentions: "field 'start' must be a string"),
                Case(name: "end before start", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"start": "2027-03-01T10:00:00Z", "end": "2027-03-01T09:00:00Z"}"#, status: 422, mentions: "before it starts"),
                Case(name: "date beyond what a timestamp holds (found by schemathesis)", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"end": "2026-11-29T19:23:09Z", "start": "4685-08-01T12:09:10Z"}"#, status: 422, mentions: "outside the years"),
                Case(name: "date before 1970", method: .get, path: "/v1/slots?from=1581-04-01T19:41:31Z", token: doctor, status: 422,
                     mentions: "outside the years"),
                Case(name: "slot years ahead", method: .post, path: "/v1/slots", token: doctor,
                     body: #"{"start": "2040-01-01T10:00:00Z", "end": "2040-01-01T11:00:00Z"}"#, status: 422, mentions: "days ahead"),
                Case(name: "bad role", method: .post, path: "/v1/users", token: op, body: #"{"name": "x1", "role": "nurse", "password": "12345678"}"#,
                     status: 400, mentions: "one of admin, doctor, patient"),
                Case(name: "bad base64", method: .post, path: "/v1/diagnoses", token: doctor,
                     body: #"{"patient": "ana", "file_name": "a.png", "image_base64": "%%%"}"#, status: 400, mentions: "base64"),
                Case(name: "unreadable image", method: .post, path: "/v1/diagnoses", token: doctor,
                     body: #"{"patient": "ana", "file_name": "a.png", "image_base64": "AAAAAA=="}"#, status: 422, mentions: "could not be read"),
                Case(name: "unknown diagnosis", method: .get, path: "/v1/diagnoses/dgn_0000", token: doctor, status: 404, mentions: "dgn_0000"),
                Case(name: "unknown appointment", method: .post, path: "/v1/appointments/apt_x/confirm", token: doctor, status: 404,
                     mentions: "apt_x"),
                Case(name: "unknown slot", method: .post, path: "/v1/appointments", token: doctor, body: #"{"slot": "slt_nope", "patient": "ana"}"#,
                     status: 404, mentions: "slt_nope"),
                Case(name: "unknown patient", method: .get, path: "/v1/diagnoses?patient=nobody", token: doctor, status: 404, mentions: "nobody"),
                Case(name: "unknown query parameter", method: .get, path: "/v1/slots?color=red", token: doctor, status: 400,
                     mentions: "unknown query parameter 'color'"),
                Case(name: "bad integer", method: .get, path: "/v1/audit?limit=lots", token: op, status: 400, mentions: "'limit' must be an integer"),
                Case(name: "bad boolean", method: .get, path: "/v1/slots?free=maybe", token: doctor, status: 400, mentions: "true or false"),
                Case(name: "bad query date", method: .get, path: "/v1/slots?from=yesterday", token: doctor, status: 400, mentions: "ISO 8601"),
                Case(name: "body on an action without input", method: .post, path: "/v1/appointments/apt_x/confirm", token: doctor,
                     body: #"{"force": true}"#, status: 400, mentions: "unknown field 'force'"),
                Case(name: "unknown route", method: .get, path: "/v1/nothing-here", token: doctor, status: 404, mentions: "no such route"),
                Case(name: "wrong method", method: .delete, path: "/v1/slots", token: doctor, status: 405, mentions: "not allowed"),
                Case(name: "no token", method: .get, path: "/v1/me", status: 401, mentions: "Authorization"),
                Case(name: "bad token", method: .get, path: "/v1/me", token: "lks_forged", status: 401, mentions: "not valid"),
                Case(name: "wrong password", method: .post, path: "/v1/login", body: #"{"name": "ana", "password": "nope-nope"}"#, status: 401,
                     mentions: "wrong user name or password"),
            ]
            for c in cases {
                let reply = try await r.send(c.method, c.path, token: c.token, body: c.body.map { Array($0.utf8) })
                #expect(reply.status == c.status, "\(c.name): \(reply.status) \(reply.text)")
                let message = reply.errorMessage
                #expect(message != nil, "\(c.name): the error is not the JSON error document: \(reply.text)")
                #expect(message?.contains(c.mentions) == true, "\(c.name): '\(message ?? reply.text)' does not mention '\(c.mentions)'")
                #expect(reply.headers["content-type"]?.hasPrefix("application/json") == true, "\(c.name)")
            }
            // 405 says which methods would do.
            let wrongMethod = try await r.send(.delete, "/v1/slots", token: doctor)
            #expect(wrongMethod.headers["allow"] == "GET, POST")
        }
    }

    /// What schemathesis found the server accepting although docs/api/openapi.yaml refuses it: empty query
    /// values, `null` for optional fields, booleans other than true/false, and the document's
    /// `minLength`/`maxLength`/`pattern` rules. Each is refused, and nothing is written.
    @Test func whatTheDocumentRefusesTheServerRefuses() async throws {
        try await withDoctorAndPatient { r, doctor, op in
            let long = String(repeating: "a", count: 4001)
            let cases: [(name: String, method: HTTPRequest.Method, path: String, token: String, body: String?, status: Int, mentions: String)] = [
                ("empty date", .get, "/v1/slots?from=", doctor, nil, 400, "'from' is empty"),
                ("empty patient", .get, "/v1/diagnoses?patient=", doctor, nil, 400, "'patient' is empty"),
                ("empty patient of appointments", .get, "/v1/appointments?patient=", doctor, nil, 400, "'patient' is empty"),
                ("boolean spelled 1", .get, "/v1/slots?free=1", doctor, nil, 400, "true or false"),
                ("null reason", .post, "/v1/appointments/apt_x/cancel", doctor, #"{"reason": null}"#, 400, "'reason' must not be null"),
                ("null note", .post, "/v1/diagnoses/dgn_x/release", doctor, #"{"note": null}"#, 400, "'note' must not be null"),
                ("null patient", .post, "/v1/appointments", doctor, #"{"slot": "slt_x", "patient": null}"#, 400, "'patient' must not be null"),
                ("name with a space", .post, "/v1/users", op, #"{"name": " ana2", "role": "patient", "password": "long enough"}"#, 422, "not allowed"),
                ("name beyond ASCII", .post, "/v1/users", op, #"{"name": "jos\u00e9", "role": "patient", "password": "long enough"}"#, 422,
                 "not allowed"),
                ("long password", .post, "/v1/users", op,
                 #"{"name": "ana3", "role": "patient", "password": ""# + String(repeating: "p", count: 1025) + #""}"#, 422, "8 to 1024"),
                ("empty message", .post, "/v1/appointments/apt_x/messages", doctor, #"{"body": ""}"#, 422, "1 to 4000"),
                ("long message", .post, "/v1/appointments/apt_x/messages", doctor, #"{"body": ""# + long + #""}"#, 422, "1 to 4000"),
                ("long note", .post, "/v1/diagnoses/dgn_x/review", doctor, #"{"note": ""# + long + #""}"#, 422, "at most 4000"),
                ("empty file name", .post, "/v1/diagnoses", doctor, #"{"patient": "ana", "file_name": "", "image_base64": "AAAA"}"#, 422,
                 "'file_name'"),
            ]
            for c in cases {
                let reply = try await r.send(c.method, c.path, token: c.token, body: c.body.map { Array($0.utf8) })
                #expect(reply.status == c.status, "\(c.name): \(reply.status) \(reply.text)")
                #expect(reply.errorMessage?.contains(c.mentions) == true, "\(c.name): '\(reply.errorMessage ?? reply.text)' does not mention '\(c.mentions)'")
            }
            // Nothing of the refused users was created.
            let users = try await r.send(.get, "/v1/users", token: op).decode([UserInfo].self)
            #expect(users.map(\.name).sorted() == ["ana", "dr.grey"])
            // What the document allows still works: `free=true`, and a cancel without a reason.
            #expect(try await r.send(.get, "/v1/slots?free=true", token: doctor).status == 200)
        }
    }

    /// `APIRequestBodies.read` (what the fuzz target `api-json` runs) refuses a bad body with the status and the
    /// words the server answers the same body with, for a refusal at each step it covers: the gate (JSON, fields,
    /// null, size), the generated decoding (types, dates, enumerations, base64) and the handler's `checked()`.
    @Test func theBodyReaderRefusesWhatTheServerRefusesInTheSameWords() async throws {
        try await withDoctorAndPatient { r, doctor, op in
            let cases: [(operationID: String, path: String, token: String?, body: String)] = [
                ("login", "/v1/login", nil, #"{"name": "ana", "#),
                ("login", "/v1/login", nil, "[1, 2]"),
                ("login", "/v1/login", nil, ""),
                ("login", "/v1/login", nil, #"{"name": "ana", "password": "x", "admin": true}"#),
                ("login", "/v1/login", nil, #"{"name": null, "password": "x"}"#),
                ("login", "/v1/login", nil, #"{"name": 5, "password": "x"}"#),
                ("login", "/v1/login", nil, #"{"name": "ana"}"#),
                ("login", "/v1/login", nil, #"{"name": ""# + String(repeating: "n", count: 70_000) + #"", "password": "x"}"#),
                ("addSlot", "/v1/slots", doctor, #"{"start": "tomorrow at nine", "end": "2031-01-01T10:00:00Z"}"#),
                ("createUser", "/v1/users", op, #"{"name": "x1", "role": "nurse", "password": "12345678"}"#),
                ("createUser", "/v1/users", op, #"{"name": " ana2", "role": "patient", "password": "long enough"}"#),
                ("createUser", "/v1/users", op, #"{"name": "ana3", "role": "patient", "password": "short"}"#),
                ("diagnose", "/v1/diagnoses", doctor, #"{"patient": "ana", "file_name": "a.png", "image_base64": "%%%"}"#),
                ("diagnose", "/v1/diagnoses", doctor, #"{"patient": "ana", "file_name": "", "image_base64": "AAAA"}"#),
                ("sendMessage", "/v1/appointments/apt_x/messages", doctor, #"{"body": ""}"#),
                ("cancelAppointment", "/v1/appointments/apt_x/cancel", doctor, #"{"reason": null}"#),
                ("breakGlass", "/v1/break-glass", op, #"{"patient": "ana", "reason": "short"}"#),
                ("addPeer", "/v1/peers", op, #"{"contact": "leuk1:abc@host"}"#),
                ("promoteModel", "/v1/model/promote", op, #"{"version": -1}"#),
                ("pinModel", "/v1/model/pin", op, #"{"pinned": "yes"}"#),
            ]
            for c in cases {
                let reply = try await r.send(.post, c.path, token: c.token, body: Array(c.body.utf8))
                do {
                    _ = try await APIRequestBodies.read(Array(c.body.utf8), operationID: c.operationID)
                    Issue.record("\(c.operationID) \(c.body.prefix(80)): accepted, but the server answered \(reply.status) \(reply.text)")
                } catch let error as APIError {
                    #expect(error.status == reply.status, "\(c.operationID) \(c.body.prefix(80)): \(error.message) / \(reply.text)")
                    #expect(error.message == reply.errorMessage, "\(c.operationID) \(c.body.prefix(80))")
                }
            }
            // Every operation with a body in the route table has its reader, and only those.
            let withBody = RouteTable.routes(maxImageBytes: 1 << 20).filter { $0.body != .none }.map(\.operationID)
            #expect(APIRequestBodies.operationIDs == withBody)
        }
    }

    /// What the generated server's runtime refuses is a client error in the API's error document, not a 500:
    /// an answer the Accept header rules out (406), a body in another media type (415). Dates in bodies and
    /// queries are read with or without fractional seconds.
    @Test func mediaTypesAndDatesAreNegotiatedLikeTheDocumentSays() async throws {
        try await withDoctorAndPatient { r, doctor, _ in
            let json: HTTPFields = [.accept: "application/json"]
            let yaml = try await r.send(.get, "/v1/openapi.yaml", headers: json)
            #expect(yaml.status == 406, "\(yaml.text)")
            #expect(yaml.text.contains("\"error\""))
            #expect(try await r.send(.get, "/v1/openapi.yaml", headers: [.accept: "application/yaml, */*;q=0.1"]).status == 200)
            #expect(try await r.send(.get, "/v1/me", token: doctor, headers: [.accept: "text/html, */*;q=0.8"]).status == 200)

            let form = try await r.send(.post, "/v1/slots", token: doctor, body: Array(#"{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T09:30:00Z"}"#.utf8),
                                        headers: [.contentType: "text/plain"])
            #expect(form.status == 415, "\(form.text)")

            let fractional = try await r.send(.post, "/v1/slots", token: doctor,
                                              json: ["start": "2027-01-16T09:00:00.000Z", "end": "2027-01-16T09:30:00.250Z"])
            #expect(fractional.status == 201, "\(fractional.text)")
            let listed = try await r.send(.get, "/v1/slots?from=2027-01-16T08:59:59.500Z", token: doctor)
            #expect(listed.status == 200)
            #expect(listed.text.contains("2027-01-16T09:00:00Z"))
        }
    }

    @Test func oversizeBodiesAreRefusedWith413() async throws {
        let f = try APIFixture()
        try await f.withClient { r in
            let huge = #"{"name": ""# + String(repeating: "a", count: 200_000) + #"", "password": "x"}"#
            let reply = try await r.send(.post, "/v1/login", body: Array(huge.utf8))
            #expect(reply.status == 413)
            #expect(reply.errorMessage?.contains("65536") == true)
            // The diagnosis route accepts images up to the clinic's limit, and no more.
            let doctor = try await r.user("dr.grey", .doctor, operatorToken: f.token.value)
            let limit = f.clinic.configuration.maxImageBytes / 3 * 4 + 64 * 1024
            let tooBig = #"{"patient": "ana", "file_name": "a.rgb", "image_base64": ""# + String(repeating: "A", count: limit) + #""}"#
            let refused = try await r.send(.post, "/v1/diagnoses", token: doctor.token, body: Array(tooBig.utf8))
            #expect(refused.status == 413)
        }
    }

    @Test func lockedAccountsGet429WithRetryAfter() async throws {
        let f = try APIFixture()
        try await f.withClient { r in
            _ = try await r.user("ana", .patient, operatorToken: f.token.value, password: "right-password")
            var last: Reply?
            for _ in 0..<5 { last = try await r.send(.post, "/v1/login", json: ["name": "ana", "password": "wrong-password"]) }
            #expect(last?.status == 429)
            #expect(last?.headers["retry-after"] == "30")
            let refused = try await r.send(.post, "/v1/login", json: ["name": "ana", "password": "right-password"])
            #expect(refused.status == 429)
            f.clock.advance(.seconds(31))
            let accepted = try await r.send(.post, "/v1/login", json: ["name": "ana", "password": "right-password"])
            #expect(accepted.status == 200)
        }
    }

    @Test func idleSessionsExpireThroughTheAPI() async throws {
        let f = try APIFixture()
        try await f.withClient { r in
            let ana = try await r.user("ana", .patient, operatorToken: f.token.value)
            #expect(try await r.send(.get, "/v1/me", token: ana.token).status == 200)
            f.clock.advance(.seconds(15 * 60 + 1))
            let expired = try await r.send(.get, "/v1/me", token: ana.token)
            #expect(expired.status == 401)
            #expect(expired.errorMessage?.contains("expired after 15 minutes") == true)
        }
    }
}

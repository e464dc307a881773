import Foundation
import OpenAPIRuntime
import Testing
import ClinicTestSupport
import LeukClinic
@testable import LeukAPI

/// The server through a `Client` that swift-openapi-generator makes from docs/api/openapi.yaml at build
/// time (the plugin of this test target), over `APIClientTransport`: every answer must decode as the
/// document's types (required fields, enums, date-times, the error document), so a server that drifts
/// from the document fails here as well as under schemathesis in `make test`.
@Suite struct GeneratedClientTests {
    @Test func theGeneratedClientReadsEveryAnswerOfAClinicFlow() async throws {
        let fixture = try APIFixture()
        try await LiveServerTests().withLiveServer(fixture) { port in
            let url = try #require(URL(string: "http://127.0.0.1:\(port)"))
            func client(_ token: String?) -> Client {
                Client(serverURL: url, transport: APIClientTransport(client: APIClient(host: "127.0.0.1", port: port, token: token),
                                                                     refusalsThrow: false))
            }
            let op = client(fixture.token.value)
            let grey = try await op.createUser(body: .json(.init(name: "dr.grey", role: .doctor, password: "password-grey"))).created.body.json
            #expect(grey.role == .doctor && grey.name == "dr.grey")
            _ = try await op.createUser(body: .json(.init(name: "ana", role: .patient, password: "password-ana"))).created.body.json

            let login = try await client(nil).login(body: .json(.init(name: "dr.grey", password: "password-grey"))).ok.body.json
            #expect(login.user.id == grey.id && login.idle_timeout_seconds == 900)
            let doctor = client(login.token)

            let start = Date(timeIntervalSince1970: fixture.clock.now().secondsSinceEpoch + 7200)
            let slot = try await doctor.addSlot(body: .json(.init(start: start, end: start.addingTimeInterval(1800)))).created.body.json
            #expect(try await doctor.listSlots(query: .init(free: true)).ok.body.json.map(\.id) == [slot.id])
            let appointment = try await doctor.book(body: .json(.init(slot: slot.id, patient: .init(value1: "ana"), reason: "follow-up")))
                .created.body.json
            #expect(appointment.state == .requested && appointment.slot_id == slot.id)
            let message = try await doctor.sendMessage(path: .init(id: appointment.id), body: .json(.init(body: "see you then")))
                .created.body.json
            #expect(try await doctor.listMessages(path: .init(id: appointment.id)).ok.body.json.map(\.id) == [message.id])
            let cancelled = try await doctor.cancelAppointment(path: .init(id: appointment.id), body: .json(.init(reason: "ana asked")))
                .ok.body.json
            #expect(cancelled.state == .cancelled)

            // Refusals arrive as the documented statuses with the error document.
            let missing = try await doctor.getDiagnosis(path: .init(id: "dgn_" + String(repeating: "0", count: 32))).notFound.body.json
            #expect(missing.error.status == 404)
            let forbidden = try await doctor.createUser(body: .json(.init(name: "eve", role: .patient, password: "password-eve")))
                .forbidden.body.json
            #expect(forbidden.error.status == 403)
            let emptyDoctor = try await doctor.listSlots(query: .init(doctor: "")).badRequest.body.json
            #expect(emptyDoctor.error.message.contains("'doctor' is empty"))
        }
    }
}

import Foundation
import Testing
import ClinicTestSupport
import LeukClinic
@testable import LeukAPI

/// The server on a real loopback socket, driven by the CLI's own client: request/response JSON, the
/// error document, and events arriving while the stream is open.
@Suite struct LiveServerTests {
    /// Starts the fixture's server on a free port and runs `body` with that port; stops it afterwards.
    @discardableResult
    func withLiveServer<T: Sendable>(_ fixture: APIFixture, _ body: @Sendable (Int) async throws -> T) async throws -> T {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = fixture.server
        let task = Task { try await server.run { port in continuation.yield(port) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        let result: T
        do {
            result = try await body(port)
        } catch {
            task.cancel()
            throw error
        }
        task.cancel()
        _ = await task.result
        return result
    }

    @Test func clientTalksToARealServerAndWatchesEventsLive() async throws {
        let fixture = try APIFixture()
        try await withLiveServer(fixture) { port in
            let admin = APIClient(host: "127.0.0.1", port: port, token: fixture.token.value)
            _ = try await admin.call(.post, "/v1/users", body: ["name": "dr.grey", "role": "doctor", "password": "password-grey"], as: UserInfo.self)
            _ = try await admin.call(.post, "/v1/users", body: ["name": "ana", "role": "patient", "password": "password-ana"], as: UserInfo.self)

            var doctor = APIClient(host: "127.0.0.1", port: port, token: nil)
            doctor.token = try await doctor.call(.post, "/v1/login", body: ["name": "dr.grey", "password": "password-grey"], as: LoginResult.self).token
            var ana = APIClient(host: "127.0.0.1", port: port, token: nil)
            ana.token = try await ana.call(.post, "/v1/login", body: ["name": "ana", "password": "password-ana"], as: LoginResult.self).token

            let start = Date(timeIntervalSince1970: fixture.clock.now().secondsSinceEpoch + 7200)
            let slot = try await doctor.call(.post, "/v1/slots", body: ["start": ISO8601.format(start), "end": ISO8601.format(start.addingTimeInterval(900))],
                                             as: SlotInfo.self)
            let appointment = try await ana.call(.post, "/v1/appointments", body: ["slot": slot.id], as: AppointmentInfo.self)

            // The doctor's stream stays open: events arrive one by one, keep-alives in between.
            let events = doctor.events("/v1/events")
            var iterator = events.makeAsyncIterator()
            let ready = try await iterator.next()
            #expect(ready?.event == "ready")
            for text in ["first", "second"] {
                _ = try await ana.call(.post, "/v1/appointments/\(appointment.id)/messages", body: ["body": text], as: MessageInfo.self)
                var received: ClinicEvent?
                while received == nil, let event = try await iterator.next() {
                    if event.event == "message" { received = try APIClient.decoder().decode(ClinicEvent.self, from: Data(event.data.utf8)) }
                }
                #expect(received?.message?.body == text)
            }
            // A keep-alive comment comes while nothing happens (every 200 ms in this fixture).
            var sawKeepAlive = false
            while !sawKeepAlive, let event = try await iterator.next() { sawKeepAlive = event.isComment }
            #expect(sawKeepAlive)

            // Errors arrive as the server's message.
            do {
                _ = try await ana.call(.get, "/v1/audit/verify", as: AuditVerification.self)
                Issue.record("a patient verified the audit log")
            } catch let error as APIClientError {
                #expect(error.status == 403)
                #expect(error.description.contains("only an admin"))
            }
            // Logging out ends the session.
            try await ana.callIgnoringBody(.post, "/v1/logout")
            do {
                _ = try await ana.call(.get, "/v1/me", as: UserInfo.self)
                Issue.record("a logged-out token still works")
            } catch let error as APIClientError {
                #expect(error.status == 401)
            }
        }
    }

    @Test func anUnreachableNodeIsReportedWithAHint() async throws {
        // Bind and release a port so that nothing listens on it.
        let fixture = try APIFixture()
        let freePort = try await withLiveServer(fixture) { port in port }
        let client = APIClient(host: "127.0.0.1", port: freePort, token: nil)
        do {
            _ = try await client.call(.get, "/v1/health", as: [String: String].self)
            Issue.record("reached a stopped server")
        } catch {
            guard case .unreachable = error else {
                Issue.record("expected unreachable, got \(error)")
                return
            }
            #expect(error.hint?.contains("leuknode start") == true)
        }
    }
}

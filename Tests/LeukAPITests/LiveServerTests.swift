import Foundation
import OpenAPIRuntime
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
            // The generated Client over APIClient, with refusals thrown as the node's message (as the CLI uses it).
            func client(_ token: String?) -> Client {
                let transport = APIClientTransport(client: APIClient(host: "127.0.0.1", port: port, token: token))
                return Client(serverURL: transport.serverURL, transport: transport)
            }
            /// The transport's own error, not the generated code's `ClientError` wrapper.
            func refusal(_ call: () async throws -> Void) async -> APIClientError? {
                do { try await call() } catch let error as ClientError { return error.underlyingError as? APIClientError } catch { return nil }
                return nil
            }
            let admin = client(fixture.token.value)
            _ = try await admin.createUser(body: .json(.init(name: "dr.grey", role: .doctor, password: "password-grey"))).created
            _ = try await admin.createUser(body: .json(.init(name: "ana", role: .patient, password: "password-ana"))).created

            var doctor = APIClient(host: "127.0.0.1", port: port, token: nil)
            doctor.token = try await client(nil).login(body: .json(.init(name: "dr.grey", password: "password-grey"))).ok.body.json.token
            let anaToken = try await client(nil).login(body: .json(.init(name: "ana", password: "password-ana"))).ok.body.json.token
            let ana = client(anaToken)

            let start = Date(timeIntervalSince1970: fixture.clock.now().secondsSinceEpoch + 7200)
            let slot = try await client(doctor.token).addSlot(body: .json(.init(start: start, end: start.addingTimeInterval(900)))).created.body.json
            let appointment = try await ana.book(body: .json(.init(slot: slot.id))).created.body.json

            // The doctor's stream stays open: events arrive one by one, keep-alives in between.
            let events = doctor.events("/v1/events")
            var iterator = events.makeAsyncIterator()
            let ready = try await iterator.next()
            #expect(ready?.event == "ready")
            for text in ["first", "second"] {
                _ = try await ana.sendMessage(path: .init(id: appointment.id), body: .json(.init(body: text))).created
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
            let forbidden = await refusal { _ = try await ana.verifyAudit().ok }
            #expect(forbidden?.status == 403)
            #expect(forbidden?.description.contains("only an admin") == true)
            // Logging out ends the session.
            _ = try await ana.logout().noContent
            let ended = await refusal { _ = try await ana.me().ok }
            #expect(ended?.status == 401)
        }
    }

    @Test func anUnreachableNodeIsReportedWithAHint() async throws {
        // Bind and release a port so that nothing listens on it.
        let fixture = try APIFixture()
        let freePort = try await withLiveServer(fixture) { port in port }
        let client = APIClient(host: "127.0.0.1", port: freePort, token: nil)
        do {
            _ = try await client.raw(.get, "/v1/health", body: nil)
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

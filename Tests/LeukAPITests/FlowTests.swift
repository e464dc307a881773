import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import ClinicTestSupport
import LeukClinic
@testable import LeukAPI

@Suite struct ClinicFlowTests {
    /// The issue's flow, in process: an admin creates a doctor and two patients; the doctor diagnoses
    /// an image for A; an appointment is proposed and confirmed; A sees it and messages the doctor;
    /// the doctor's event stream receives the message; B gets 403 or 404 on every record of A's; the
    /// audit log verifies.
    @Test func adminDoctorAndTwoPatients() async throws {
        let f = try APIFixture()
        let op = f.token.value
        try await f.withClient { r in
            let doctor = try await r.user("dr.grey", .doctor, operatorToken: op)
            let a = try await r.user("ana", .patient, operatorToken: op)
            let b = try await r.user("bob", .patient, operatorToken: op)

            let start = Date(timeIntervalSince1970: f.clock.now().secondsSinceEpoch + 20 * 3600)
            let slotReply = try await r.send(.post, "/v1/slots", token: doctor.token,
                                             json: ["start": ISO8601.format(start), "end": ISO8601.format(start.addingTimeInterval(1800))])
            #expect(slotReply.status == 201)
            let slot = try slotReply.decode(SlotInfo.self)

            let image = rgbImage(red: 240)
            let diagnosed = try await r.send(.post, "/v1/diagnoses", token: doctor.token,
                                             json: ["patient": "ana", "file_name": "cell-042.rgb", "image_base64": Data(image).base64EncodedString()])
            #expect(diagnosed.status == 201, "\(diagnosed.text)")
            let outcome = try diagnosed.decode(DiagnosisOutcome.self)
            #expect(outcome.diagnosis.followUp == .urgent)
            #expect(outcome.diagnosis.modelVersion == MeanRedClassifier.modelVersion)
            let proposal = try #require(outcome.appointment)
            #expect(proposal.slotID == slot.id && proposal.state == .requested && proposal.withinDeadline == true)

            let confirmed = try await r.send(.post, "/v1/appointments/\(proposal.id)/confirm", token: doctor.token)
            #expect(try confirmed.decode(AppointmentInfo.self).state == .confirmed)
            _ = try await r.send(.post, "/v1/diagnoses/\(outcome.diagnosis.id)/release", token: doctor.token, json: ["note": "please come in"])

            // A sees the confirmed appointment and the released result.
            let mine = try await r.send(.get, "/v1/appointments", token: a.token).decode([AppointmentInfo].self)
            #expect(mine.map(\.id) == [proposal.id] && mine[0].state == .confirmed)
            let results = try await r.send(.get, "/v1/diagnoses", token: a.token).decode([DiagnosisInfo].self)
            #expect(results.map(\.note) == ["please come in"])

            // The doctor watches; A writes; the doctor's stream receives it.
            async let stream = r.send(.get, "/v1/events?limit=1", token: doctor.token)
            for _ in 0..<500 where f.clinic.events.subscriberCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            let sent = try await r.send(.post, "/v1/appointments/\(proposal.id)/messages", token: a.token, json: ["body": "Should I fast?"])
            #expect(sent.status == 201)
            let events = try await stream
            #expect(events.status == 200)
            #expect(events.headers["content-type"] == "text/event-stream")
            #expect(events.headers["cache-control"] == "no-cache")
            var parser = ServerSentEventParser()
            let parsed = parser.feed(events.body)
            #expect(parsed.first?.event == "ready")
            let message = try #require(parsed.first { $0.event == "message" })
            let event = try APIClient.decoder().decode(ClinicEvent.self, from: Data(message.data.utf8))
            #expect(event.message?.body == "Should I fast?" && event.message?.senderName == "ana")

            // B reaches none of A's records.
            let dgn = outcome.diagnosis.id
            let apt = proposal.id
            let attempts: [(HTTPRequest.Method, String, [String: any Sendable]?)] = [
                (.get, "/v1/diagnoses/\(dgn)", nil),
                (.get, "/v1/diagnoses/\(dgn)/image", nil),
                (.get, "/v1/diagnoses?patient=ana", nil),
                (.post, "/v1/diagnoses/\(dgn)/review", ["note": "x"]),
                (.post, "/v1/diagnoses/\(dgn)/release", nil),
                (.get, "/v1/appointments/\(apt)", nil),
                (.get, "/v1/appointments/\(apt)/messages", nil),
                (.post, "/v1/appointments/\(apt)/messages", ["body": "hi"]),
                (.post, "/v1/appointments/\(apt)/cancel", nil),
                (.post, "/v1/appointments/\(apt)/confirm", nil),
                (.post, "/v1/appointments/\(apt)/complete", nil),
                (.post, "/v1/appointments/\(apt)/reschedule", ["slot": slot.id]),
                (.get, "/v1/events?appointment=\(apt)", nil),
                (.get, "/v1/users", nil),
            ]
            for (method, path, body) in attempts {
                let reply = body == nil ? try await r.send(method, path, token: b.token) : try await r.send(method, path, token: b.token, json: body!)
                #expect(reply.status == 403 || reply.status == 404, "B: \(method) \(path) -> \(reply.status)")
            }
            #expect(try await r.send(.get, "/v1/diagnoses", token: b.token).decode([DiagnosisInfo].self).isEmpty)
            #expect(try await r.send(.get, "/v1/appointments", token: b.token).decode([AppointmentInfo].self).isEmpty)

            let verified = try await r.send(.get, "/v1/audit/verify", token: op).decode(AuditVerification.self)
            #expect(verified.ok)
            let denied = try await r.send(.get, "/v1/audit?patient=ana&limit=1000", token: op).decode([AuditEntryInfo].self)
                .filter { $0.actorID == b.id && $0.outcome == "denied" }
            #expect(denied.count >= 10)
        }
    }

    @Test func anEventStreamEndsWithItsSession() async throws {
        let f = try APIFixture()
        try await f.withClient { r in
            let ana = try await r.user("ana", .patient, operatorToken: f.token.value)
            async let stream = r.send(.get, "/v1/events", token: ana.token)
            for _ in 0..<500 where f.clinic.events.subscriberCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            f.clock.advance(.seconds(15 * 60 + 1))
            let reply = try await stream     // ends at the next keep-alive tick (200 ms here)
            #expect(reply.status == 200)
            #expect(reply.text.contains("event: session-ended"))
            #expect(try await r.send(.get, "/v1/me", token: ana.token).status == 401)
        }
    }

    @Test func concurrentBookingsThroughTheAPIHaveOneWinner() async throws {
        let f = try APIFixture()
        let op = f.token.value
        try await f.withClient { r in
            let doctor = try await r.user("dr.grey", .doctor, operatorToken: op)
            var patients: [String] = []
            for i in 0..<16 { patients.append(try await r.user("p\(i)", .patient, operatorToken: op).token) }
            let start = Date(timeIntervalSince1970: f.clock.now().secondsSinceEpoch + 3600)
            let slot = try await r.send(.post, "/v1/slots", token: doctor.token,
                                        json: ["start": ISO8601.format(start), "end": ISO8601.format(start.addingTimeInterval(600))])
                .decode(SlotInfo.self)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for token in patients {
                    group.addTask { try await r.send(.post, "/v1/appointments", token: token, json: ["slot": slot.id]).status }
                }
                var all: [Int] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.filter { $0 == 201 }.count == 1)
            #expect(statuses.filter { $0 == 409 }.count == patients.count - 1)
        }
    }

    @Test func metricsAreServedInPrometheusFormat() async throws {
        let f = try APIFixture()
        try await f.withClient { r in
            _ = try await r.send(.get, "/v1/health")
            _ = try await r.send(.get, "/v1/me")
            let metrics = try await r.send(.get, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
            #expect(metrics.text.contains("# TYPE leuknode_api_requests_total counter"))
            #expect(metrics.text.contains(#"leuknode_api_requests_total{method="GET",route="/v1/health",status="200"} 1"#))
            #expect(metrics.text.contains(#"leuknode_api_requests_total{method="GET",route="/v1/me",status="401"} 1"#))
            #expect(metrics.text.contains("leuknode_api_request_duration_seconds_bucket"))
        }
    }
}

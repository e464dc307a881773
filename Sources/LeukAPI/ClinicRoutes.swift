import LeukClinic
import LeukCore
import Prometheus
import Foundation

// Request bodies. Each lists its fields so that unknown ones are refused.

struct LoginBody: APIBody {
    static let fields: Set<String> = ["name", "password"]
    var name: String
    var password: String
}

struct CreateUserBody: APIBody {
    static let fields: Set<String> = ["name", "role", "password"]
    var name: String
    var role: String
    var password: String
    func validate() throws(APIError) {
        try FieldRule.userName(name, of: "name")
        try FieldRule.length(password, of: "password", 8...1024)
    }
}

struct BreakGlassBody: APIBody {
    static let fields: Set<String> = ["patient", "reason"]
    var patient: String
    var reason: String
    func validate() throws(APIError) { try FieldRule.length(reason, of: "reason", 10...1000) }
}

struct DiagnoseBody: APIBody {
    static let fields: Set<String> = ["patient", "file_name", "image_base64"]
    var patient: String
    var fileName: String
    var imageBase64: String
    enum CodingKeys: String, CodingKey { case patient, fileName = "file_name", imageBase64 = "image_base64" }
    func validate() throws(APIError) { try FieldRule.length(fileName, of: "file_name", 1...255) }
}

struct NoteBody: APIBody {
    static let fields: Set<String> = ["note"]
    var note: String
    func validate() throws(APIError) { try FieldRule.length(note, of: "note", 0...4000) }
}

struct ReleaseBody: APIBody {
    static let fields: Set<String> = ["note"]
    var note: String?
    func validate() throws(APIError) { try FieldRule.length(note, of: "note", 0...4000) }
}

struct SlotBody: APIBody {
    static let fields: Set<String> = ["start", "end"]
    var start: Date
    var end: Date
}

struct BookBody: APIBody {
    static let fields: Set<String> = ["slot", "patient", "reason"]
    var slot: String
    var patient: String?
    var reason: String?
    func validate() throws(APIError) { try FieldRule.length(reason, of: "reason", 0...4000) }
}

struct RescheduleBody: APIBody {
    static let fields: Set<String> = ["slot"]
    var slot: String
}

struct CancelBody: APIBody {
    static let fields: Set<String> = ["reason"]
    var reason: String?
    func validate() throws(APIError) { try FieldRule.length(reason, of: "reason", 0...4000) }
}

struct MessageBody: APIBody {
    static let fields: Set<String> = ["body"]
    var body: String
    func validate() throws(APIError) { try FieldRule.length(body, of: "body", 1...4000) }
}

struct RevokedDocument: Codable, Sendable {
    var revoked: Int
}

struct HealthDocument: Codable, Sendable {
    var status: String
}

/// The clinic's routes. Handlers only translate between HTTP and `Clinic`: every rule (who may see
/// what, what a valid slot is) lives in the clinic, so it holds for any client.
struct ClinicRoutes {
    let clinic: Clinic
    let metrics: PrometheusCollectorRegistry
    let keepAlive: Duration

    /// Diagnosis bodies carry a base64 image (a third larger than the image), so their limit is the
    /// clinic's image limit plus that overhead.
    var diagnoseBodyLimit: Int { clinic.configuration.maxImageBytes / 3 * 4 + 64 * 1024 }

    var group: RouteGroup {
        let clinic = self.clinic
        let metrics = self.metrics
        let keepAlive = self.keepAlive
        return RouteGroup(name: "clinic", routes: [
            APIRoute(.get, "/v1/health", access: .open, summary: "Liveness check") { _ in
                .json(HealthDocument(status: "ok"))
            },
            APIRoute(.get, "/v1/openapi.yaml", access: .open, summary: "This API's OpenAPI 3 document") { _ in
                .text(OpenAPIDocument.yaml, contentType: "application/yaml; charset=utf-8")
            },
            APIRoute(.get, "/metrics", access: .open, summary: "Prometheus metrics") { _ in
                .text(metrics.emitToString(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            },

            // Sessions and users.
            APIRoute(.post, "/v1/login", access: .open, summary: "Log in; returns a bearer token") { request in
                let body = try request.decode(LoginBody.self)
                return .json(try await clinic.login(name: body.name, password: body.password))
            },
            APIRoute(.post, "/v1/logout", access: .signedIn, summary: "End this session") { request in
                try request.expectNoBody()
                try await clinic.logout(request.requireCaller())
                return .empty()
            },
            APIRoute(.get, "/v1/me", access: .signedIn, summary: "The signed-in user") { request in
                .json(await clinic.me(try request.requireCaller()))
            },
            APIRoute(.get, "/v1/users", access: .signedIn, summary: "Users (admin) or own patients (doctor)") { request in
                .json(try await clinic.listUsers(by: request.requireCaller()))
            },
            APIRoute(.post, "/v1/users", access: .signedIn, summary: "Create a user (admin)") { request in
                let body = try request.decode(CreateUserBody.self)
                guard let role = Role(rawValue: body.role) else {
                    throw APIError(status: 400, "field 'role' must be one of admin, doctor, patient, not '\(body.role)'")
                }
                return .json(try await clinic.createUser(by: request.requireCaller(), name: body.name, role: role, password: body.password),
                             status: 201)
            },
            APIRoute(.post, "/v1/users/{id}/revoke-sessions", access: .signedIn, summary: "End every session of a user (admin)") { request in
                try request.expectNoBody()
                let count = try await clinic.revokeSessions(by: request.requireCaller(), userID: request.parameter("id"))
                return .json(RevokedDocument(revoked: count))
            },
            APIRoute(.post, "/v1/break-glass", access: .signedIn, summary: "Emergency access to one patient's records (admin, audited)") { request in
                let body = try request.decode(BreakGlassBody.self)
                return .json(try await clinic.breakGlass(by: request.requireCaller(), patient: body.patient, reason: body.reason), status: 201)
            },

            // Diagnoses.
            APIRoute(.post, "/v1/diagnoses", access: .signedIn, maxBodyBytes: diagnoseBodyLimit,
                     summary: "Diagnose a cell image for a patient (doctor)") { request in
                let body = try request.decode(DiagnoseBody.self)
                guard let image = Data(base64Encoded: body.imageBase64) else {
                    throw APIError(status: 400, "field 'image_base64' is not valid base64")
                }
                let outcome = try await clinic.diagnose(by: request.requireCaller(), patient: body.patient, image: [UInt8](image),
                                                        fileName: body.fileName)
                return .json(outcome, status: 201)
            },
            APIRoute(.get, "/v1/diagnoses", access: .signedIn, query: ["patient"], summary: "Diagnoses the caller may see") { request in
                .json(try await clinic.listDiagnoses(by: request.requireCaller(), patient: request.queryString("patient")))
            },
            APIRoute(.get, "/v1/diagnoses/{id}", access: .signedIn, summary: "One diagnosis") { request in
                .json(try await clinic.diagnosis(by: request.requireCaller(), id: request.parameter("id")))
            },
            APIRoute(.get, "/v1/diagnoses/{id}/image", access: .signedIn, summary: "The diagnosed image") { request in
                let image = try await clinic.diagnosisImage(by: request.requireCaller(), id: request.parameter("id"))
                return .bytes(image.bytes, contentType: "application/octet-stream")
            },
            APIRoute(.post, "/v1/diagnoses/{id}/review", access: .signedIn, summary: "Add the doctor's note (doctor)") { request in
                let body = try request.decode(NoteBody.self)
                return .json(try await clinic.reviewDiagnosis(by: request.requireCaller(), id: request.parameter("id"), note: body.note))
            },
            APIRoute(.post, "/v1/diagnoses/{id}/release", access: .signedIn, summary: "Release the result to the patient (doctor)") { request in
                let note = request.body.isEmpty ? nil : try request.decode(ReleaseBody.self).note
                return .json(try await clinic.releaseDiagnosis(by: request.requireCaller(), id: request.parameter("id"), note: note))
            },

            // Slots and appointments.
            APIRoute(.post, "/v1/slots", access: .signedIn, summary: "Publish an availability slot (doctor)") { request in
                let body = try request.decode(SlotBody.self)
                return .json(try await clinic.addSlot(by: request.requireCaller(), start: body.start, end: body.end), status: 201)
            },
            APIRoute(.get, "/v1/slots", access: .signedIn, query: ["doctor", "free", "from"], summary: "Availability slots") { request in
                .json(try await clinic.listSlots(by: request.requireCaller(), doctor: request.queryString("doctor"),
                                                 freeOnly: request.queryBool("free") ?? false, from: request.queryDate("from")))
            },
            APIRoute(.post, "/v1/appointments", access: .signedIn, summary: "Book a free slot") { request in
                let body = try request.decode(BookBody.self)
                return .json(try await clinic.book(by: request.requireCaller(), slotID: body.slot, patient: body.patient, reason: body.reason),
                             status: 201)
            },
            APIRoute(.get, "/v1/appointments", access: .signedIn, query: ["patient"], summary: "Appointments the caller may see") { request in
                .json(try await clinic.listAppointments(by: request.requireCaller(), patient: request.queryString("patient")))
            },
            APIRoute(.get, "/v1/appointments/{id}", access: .signedIn, summary: "One appointment") { request in
                .json(try await clinic.appointment(by: request.requireCaller(), id: request.parameter("id")))
            },
            APIRoute(.post, "/v1/appointments/{id}/confirm", access: .signedIn, summary: "Confirm (the appointment's doctor)") { request in
                try request.expectNoBody()
                return .json(try await clinic.confirm(by: request.requireCaller(), appointment: request.parameter("id")))
            },
            APIRoute(.post, "/v1/appointments/{id}/reschedule", access: .signedIn, summary: "Move to another free slot") { request in
                let body = try request.decode(RescheduleBody.self)
                return .json(try await clinic.reschedule(by: request.requireCaller(), appointment: request.parameter("id"), toSlot: body.slot))
            },
            APIRoute(.post, "/v1/appointments/{id}/cancel", access: .signedIn, summary: "Cancel") { request in
                let reason = request.body.isEmpty ? nil : try request.decode(CancelBody.self).reason
                return .json(try await clinic.cancel(by: request.requireCaller(), appointment: request.parameter("id"), reason: reason))
            },
            APIRoute(.post, "/v1/appointments/{id}/complete", access: .signedIn, summary: "Mark as held (the appointment's doctor)") { request in
                try request.expectNoBody()
                return .json(try await clinic.complete(by: request.requireCaller(), appointment: request.parameter("id")))
            },

            // Messages and events.
            APIRoute(.post, "/v1/appointments/{id}/messages", access: .signedIn, summary: "Write in the appointment's thread") { request in
                let body = try request.decode(MessageBody.self)
                return .json(try await clinic.sendMessage(by: request.requireCaller(), appointment: request.parameter("id"), body: body.body),
                             status: 201)
            },
            APIRoute(.get, "/v1/appointments/{id}/messages", access: .signedIn, summary: "The appointment's thread") { request in
                .json(try await clinic.messages(by: request.requireCaller(), appointment: request.parameter("id")))
            },
            APIRoute(.get, "/v1/events", access: .signedIn, query: ["appointment", "limit"],
                     summary: "Server-sent events: new messages and appointment changes") { request in
                try await EventStreamRoute.stream(request, clinic: clinic, keepAlive: keepAlive)
            },

            // Audit.
            APIRoute(.get, "/v1/audit/verify", access: .signedIn, summary: "Check the audit chain (admin)") { request in
                .json(try await clinic.verifyAudit(by: request.requireCaller()))
            },
            APIRoute(.get, "/v1/audit", access: .signedIn, query: ["after", "limit", "patient"], summary: "Audit entries (admin)") { request in
                let after = try request.queryInt("after", range: 0...Int.max) ?? 0
                let limit = try request.queryInt("limit", range: 1...10_000) ?? 100
                return .json(try await clinic.auditLog(by: request.requireCaller(), afterSeq: UInt64(after), limit: limit,
                                                       patient: request.queryString("patient")))
            },
        ])
    }
}

/// `GET /v1/events`: the caller's events as server-sent events. Opens with a `ready` event (so a
/// client knows it is subscribed), sends a keep-alive comment every `keepAlive`, and ends after
/// `limit` events when one is given (for scripts and tests).
enum EventStreamRoute {
    static func stream(_ request: APIRequest, clinic: Clinic, keepAlive: Duration) async throws -> APIResponse {
        let caller = try request.requireCaller()
        guard caller.role != .admin else {
            throw APIError(status: 403, "event streams carry clinical content; they are for patients and doctors")
        }
        let appointment = request.queryString("appointment")
        if let appointment { try await clinic.canWatch(caller, appointment: appointment) }
        let limit = try request.queryInt("limit", range: 1...1_000_000)
        let subscription = clinic.events.subscribe(userID: caller.userID)
        let (output, continuation) = AsyncStream.makeStream(of: ServerSentEvent.self, bufferingPolicy: .bufferingNewest(256))
        let encoder = ResponseJSON.encoder()
        let task = Task {
            continuation.yield(ServerSentEvent(event: "ready", data: "{}"))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var sent = 0
                    for await event in subscription {
                        if let appointment, event.appointmentID != appointment { continue }
                        guard let data = try? encoder.encode(event) else { continue }
                        continuation.yield(ServerSentEvent(event: event.type.rawValue, data: String(decoding: data, as: UTF8.self)))
                        sent += 1
                        if let limit, sent >= limit { break }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: keepAlive) } catch { return }
                        // The stream lives as long as the session: logged out, revoked or idle, it ends.
                        guard await clinic.sessionIsLive(caller) else {
                            continuation.yield(ServerSentEvent(event: "session-ended", data: "{}"))
                            return
                        }
                        continuation.yield(.comment("keep-alive"))
                    }
                }
                await group.next()
                group.cancelAll()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return .eventStream(output)
    }
}

import Foundation
public import LeukClinic
import LeukCore
import LeukCrypto
import LeukNode
import OpenAPIRuntime
import Prometheus

/// The signed-in caller of the request being answered, set by `OperationGate` (which authenticates) around
/// the generated code and `APIHandler`. A task-local, because the generated `APIProtocol` hands a handler the
/// document's input only: this is how the one handler type knows who asks without a second request type.
enum RequestCaller {
    @TaskLocal static var current: Caller?

    /// The caller, or 401 (an `.open` operation called without a token that needs one after all).
    static func require() throws(APIError) -> Caller {
        guard let current else { throw APIError.unauthenticated }
        return current
    }
}

/// Every operation of docs/api/openapi.yaml: the generated `APIProtocol` over the clinic and the node.
///
/// Handlers only translate between the document's types and `Clinic` / `NodeControl`: every rule about who
/// may see what and what a valid slot is lives in the clinic, so it holds for any client; who may call an
/// operation at all, its query parameters and body fields are the route table's (`RouteTable`, applied by
/// `OperationGate`). What the generated code does not check of a body — string lengths and patterns,
/// integer ranges — is each body's `checked()` (RequestBodies.swift, with `FieldRule`), as 422 or 400 like the
/// clinic's own checks; the fuzz target `api-json` runs the same functions.
///
/// The clinic's and the node's answers are their own types; `DocumentedJSON.convert` turns them into the
/// document's (encoded as the API encodes them, read back as the document's type) rather than copying
/// field by field: a documented field that is missing or has another type fails loudly (a logged 500), and
/// a field the document does not list is not sent.
struct APIHandler: APIProtocol {
    let clinic: Clinic
    /// `nil` when the API runs without a federation node (the clinic's own tests); node operations then answer 503.
    let control: (any NodeControl)?
    let metrics: PrometheusCollectorRegistry
    /// Seconds between keep-alive comments on event streams.
    let keepAlive: Duration

    private func caller() throws(APIError) -> Caller { try RequestCaller.require() }

    // MARK: - Open

    func health(_ input: Operations.health.Input) async throws -> Operations.health.Output {
        .ok(.init(body: .json(.init(status: "ok"))))
    }

    func openAPIDocument(_ input: Operations.openAPIDocument.Input) async throws -> Operations.openAPIDocument.Output {
        .ok(.init(body: .yaml(HTTPBody(OpenAPIDocument.yaml))))
    }

    func metrics(_ input: Operations.metrics.Input) async throws -> Operations.metrics.Output {
        .ok(.init(body: .plainText(HTTPBody(metrics.emitToString()))))
    }

    // MARK: - Sessions and users

    func login(_ input: Operations.login.Input) async throws -> Operations.login.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let login = body.checked()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await clinic.login(name: login.name, password: login.password)))))
    }

    func logout(_ input: Operations.logout.Input) async throws -> Operations.logout.Output {
        try await clinic.logout(try caller())
        return .noContent(.init())
    }

    func me(_ input: Operations.me.Input) async throws -> Operations.me.Output {
        .ok(.init(body: .json(try DocumentedJSON.convert(await clinic.me(try caller())))))
    }

    func listUsers(_ input: Operations.listUsers.Input) async throws -> Operations.listUsers.Output {
        .ok(.init(body: .json(try DocumentedJSON.convert(try await clinic.listUsers(by: try caller())))))
    }

    func createUser(_ input: Operations.createUser.Input) async throws -> Operations.createUser.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let new = try body.checked()
        let user = try await clinic.createUser(by: try caller(), name: new.name, role: new.role, password: new.password)
        return .created(.init(body: .json(try DocumentedJSON.convert(user))))
    }

    func revokeSessions(_ input: Operations.revokeSessions.Input) async throws -> Operations.revokeSessions.Output {
        let count = try await clinic.revokeSessions(by: try caller(), userID: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(.init(revoked: count))))
    }

    func disableUser(_ input: Operations.disableUser.Input) async throws -> Operations.disableUser.Output {
        let user = try await clinic.setDisabled(by: try caller(), userID: try Self.parameter(input.path.id), disabled: true)
        return .ok(.init(body: .json(try DocumentedJSON.convert(user))))
    }

    func enableUser(_ input: Operations.enableUser.Input) async throws -> Operations.enableUser.Output {
        let user = try await clinic.setDisabled(by: try caller(), userID: try Self.parameter(input.path.id), disabled: false)
        return .ok(.init(body: .json(try DocumentedJSON.convert(user))))
    }

    func breakGlass(_ input: Operations.breakGlass.Input) async throws -> Operations.breakGlass.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let request = try body.checked()
        let grant = try await clinic.breakGlass(by: try caller(), patient: request.patient, reason: request.reason)
        return .created(.init(body: .json(try DocumentedJSON.convert(grant))))
    }

    // MARK: - Diagnoses

    func diagnose(_ input: Operations.diagnose.Input) async throws -> Operations.diagnose.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let submission = try body.checked()
        let outcome = try await clinic.diagnose(by: try caller(), patient: submission.patient, image: submission.image,
                                                fileName: submission.fileName)
        return .created(.init(body: .json(try DocumentedJSON.convert(outcome))))
    }

    func listDiagnoses(_ input: Operations.listDiagnoses.Input) async throws -> Operations.listDiagnoses.Output {
        let list = try await clinic.listDiagnoses(by: try caller(), patient: input.query.patient)
        return .ok(.init(body: .json(try DocumentedJSON.convert(list))))
    }

    func getDiagnosis(_ input: Operations.getDiagnosis.Input) async throws -> Operations.getDiagnosis.Output {
        let diagnosis = try await clinic.diagnosis(by: try caller(), id: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(diagnosis))))
    }

    func getDiagnosisImage(_ input: Operations.getDiagnosisImage.Input) async throws -> Operations.getDiagnosisImage.Output {
        let image = try await clinic.diagnosisImage(by: try caller(), id: try Self.parameter(input.path.id))
        return .ok(.init(body: .binary(HTTPBody(image.bytes))))
    }

    func reviewDiagnosis(_ input: Operations.reviewDiagnosis.Input) async throws -> Operations.reviewDiagnosis.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let note = try body.checked()
        let diagnosis = try await clinic.reviewDiagnosis(by: try caller(), id: try Self.parameter(input.path.id), note: note)
        return .ok(.init(body: .json(try DocumentedJSON.convert(diagnosis))))
    }

    func releaseDiagnosis(_ input: Operations.releaseDiagnosis.Input) async throws -> Operations.releaseDiagnosis.Output {
        var note: String?
        if case let .json(body) = input.body { note = try body.checked() }
        let diagnosis = try await clinic.releaseDiagnosis(by: try caller(), id: try Self.parameter(input.path.id), note: note)
        return .ok(.init(body: .json(try DocumentedJSON.convert(diagnosis))))
    }

    // MARK: - Slots and appointments

    func addSlot(_ input: Operations.addSlot.Input) async throws -> Operations.addSlot.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let request = body.checked()
        let slot = try await clinic.addSlot(by: try caller(), start: request.start, end: request.end)
        return .created(.init(body: .json(try DocumentedJSON.convert(slot))))
    }

    func listSlots(_ input: Operations.listSlots.Input) async throws -> Operations.listSlots.Output {
        let query = input.query
        let slots = try await clinic.listSlots(by: try caller(), doctor: query.doctor, freeOnly: query.free ?? false, from: query.from)
        return .ok(.init(body: .json(try DocumentedJSON.convert(slots))))
    }

    func removeSlot(_ input: Operations.removeSlot.Input) async throws -> Operations.removeSlot.Output {
        let slot = try await clinic.removeSlot(by: try caller(), slotID: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(slot))))
    }

    func book(_ input: Operations.book.Input) async throws -> Operations.book.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let booking = try body.checked()
        let appointment = try await clinic.book(by: try caller(), slotID: booking.slot, patient: booking.patient, reason: booking.reason)
        return .created(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    func listAppointments(_ input: Operations.listAppointments.Input) async throws -> Operations.listAppointments.Output {
        let list = try await clinic.listAppointments(by: try caller(), patient: input.query.patient)
        return .ok(.init(body: .json(try DocumentedJSON.convert(list))))
    }

    func getAppointment(_ input: Operations.getAppointment.Input) async throws -> Operations.getAppointment.Output {
        let appointment = try await clinic.appointment(by: try caller(), id: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    func confirmAppointment(_ input: Operations.confirmAppointment.Input) async throws -> Operations.confirmAppointment.Output {
        let appointment = try await clinic.confirm(by: try caller(), appointment: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    func rescheduleAppointment(_ input: Operations.rescheduleAppointment.Input) async throws -> Operations.rescheduleAppointment.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let appointment = try await clinic.reschedule(by: try caller(), appointment: try Self.parameter(input.path.id), toSlot: body.checked())
        return .ok(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    func cancelAppointment(_ input: Operations.cancelAppointment.Input) async throws -> Operations.cancelAppointment.Output {
        var reason: String?
        if case let .json(body) = input.body { reason = try body.checked() }
        let appointment = try await clinic.cancel(by: try caller(), appointment: try Self.parameter(input.path.id), reason: reason)
        return .ok(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    func completeAppointment(_ input: Operations.completeAppointment.Input) async throws -> Operations.completeAppointment.Output {
        let appointment = try await clinic.complete(by: try caller(), appointment: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(appointment))))
    }

    // MARK: - Messages and events

    func sendMessage(_ input: Operations.sendMessage.Input) async throws -> Operations.sendMessage.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let text = try body.checked()
        let message = try await clinic.sendMessage(by: try caller(), appointment: try Self.parameter(input.path.id), body: text)
        return .created(.init(body: .json(try DocumentedJSON.convert(message))))
    }

    func listMessages(_ input: Operations.listMessages.Input) async throws -> Operations.listMessages.Output {
        let messages = try await clinic.messages(by: try caller(), appointment: try Self.parameter(input.path.id))
        return .ok(.init(body: .json(try DocumentedJSON.convert(messages))))
    }

    func events(_ input: Operations.events.Input) async throws -> Operations.events.Output {
        let limit = try Self.checked(input.query.limit, "limit", 1...1_000_000)
        let stream = try await EventStream.open(for: try caller(), appointment: input.query.appointment, limit: limit,
                                                clinic: clinic, keepAlive: keepAlive)
        return .ok(.init(headers: .init(Cache_hyphen_Control: "no-cache"), body: .text_event_hyphen_stream(stream)))
    }

    // MARK: - Audit

    func verifyAudit(_ input: Operations.verifyAudit.Input) async throws -> Operations.verifyAudit.Output {
        .ok(.init(body: .json(try DocumentedJSON.convert(try await clinic.verifyAudit(by: try caller())))))
    }

    func auditLog(_ input: Operations.auditLog.Input) async throws -> Operations.auditLog.Output {
        let after = try Self.checked(input.query.after.map(Int.init), "after", 0...Int.max) ?? 0
        let limit = try Self.checked(input.query.limit, "limit", 1...10_000) ?? 100
        let entries = try await clinic.auditLog(by: try caller(), afterSeq: UInt64(after), limit: limit, patient: input.query.patient)
        return .ok(.init(body: .json(try DocumentedJSON.convert(entries))))
    }

    // MARK: - Node control

    private func node() throws(APIError) -> any NodeControl {
        guard let control else {
            throw APIError(status: 503, "this API server runs without a federation node", hint: "start the node with `leuknode start`")
        }
        return control
    }

    func status(_ input: Operations.status.Input) async throws -> Operations.status.Output {
        let control = try node()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.status() }))))
    }

    func listPeers(_ input: Operations.listPeers.Input) async throws -> Operations.listPeers.Output {
        let control = try node()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.peers() }))))
    }

    func addPeer(_ input: Operations.addPeer.Input) async throws -> Operations.addPeer.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let contact = try body.checked()
        let control = try node()
        return .created(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.addPeer(contact) }))))
    }

    func removePeer(_ input: Operations.removePeer.Input) async throws -> Operations.removePeer.Output {
        let reference = try Self.parameter(input.path.id)
        let control = try node()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.removePeer(reference) }))))
    }

    func modelHistory(_ input: Operations.modelHistory.Input) async throws -> Operations.modelHistory.Output {
        let limit = try Self.checked(input.query.limit, "limit", 1...10_000) ?? 100
        let control = try node()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.modelHistory(limit: limit) }))))
    }

    func model(_ input: Operations.model.Input) async throws -> Operations.model.Output {
        let control = try node()
        return .ok(.init(body: .binary(HTTPBody(try await mapped { try await control.modelFile() }))))
    }

    func modelServing(_ input: Operations.modelServing.Input) async throws -> Operations.modelServing.Output {
        let limit = try Self.checked(input.query.limit, "limit", 1...1_000) ?? 50
        let control = try node()
        return .ok(.init(body: .json(try DocumentedJSON.convert(try await mapped { try await control.modelServing(limit: limit) }))))
    }

    func promoteModel(_ input: Operations.promoteModel.Input) async throws -> Operations.promoteModel.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let promotion = try body.checked()
        let control = try node()
        let decision = try await audited("model.promote", target: String(promotion.version), detail: promotion.force ? "forced" : "") { actor in
            try await control.promoteModel(version: promotion.version, force: promotion.force, actor: actor)
        }
        return .ok(.init(body: .json(try DocumentedJSON.convert(decision))))
    }

    func rollbackModel(_ input: Operations.rollbackModel.Input) async throws -> Operations.rollbackModel.Output {
        let control = try node()
        let decision = try await audited("model.rollback", target: "", detail: "") { actor in try await control.rollbackModel(actor: actor) }
        return .ok(.init(body: .json(try DocumentedJSON.convert(decision))))
    }

    func pinModel(_ input: Operations.pinModel.Input) async throws -> Operations.pinModel.Output {
        guard case let .json(body) = input.body else { throw APIError.unsupportedBody }
        let pinned = body.checked()
        let control = try node()
        let decision = try await audited(pinned ? "model.pin" : "model.unpin", target: "", detail: "") { actor in
            try await control.pinModel(pinned, actor: actor)
        }
        return .ok(.init(body: .json(try DocumentedJSON.convert(decision))))
    }

    /// Runs an operator's verb on the served model and records it in the clinic's audit chain (synced),
    /// refused or done: the log that shows who diagnosed shows who chose the model they diagnosed with.
    private func audited(_ action: String, target: String, detail: String,
                         _ body: (String) async throws -> PromotionDecision) async throws -> PromotionDecision {
        let caller = try caller()
        do {
            let decision = try await mapped { try await body(caller.userID) }
            let what = "\(decision.action.rawValue) model \(decision.version) (sha256 \(decision.sha256.prefix(16)))"
            try await clinic.recordNodeAction(by: caller, action: action, target: String(decision.version),
                                              detail: detail.isEmpty ? what : detail + "; " + what, succeeded: true)
            return decision
        } catch let error as APIError {
            try? await clinic.recordNodeAction(by: caller, action: action, target: target, detail: error.message, succeeded: false)
            throw error
        }
    }

    // MARK: - Values the generated code does not check

    /// A path parameter, never empty (the generated code has percent-decoded it already).
    static func parameter(_ value: String, name: String = "id") throws(APIError) -> String {
        guard !value.isEmpty else { throw APIError(status: 400, "missing path parameter '\(name)'") }
        return value
    }

    /// An integer query parameter within the document's `minimum` and `maximum` (the generated code reads the
    /// integer but does not check its range).
    static func checked(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let value else { return nil }
        guard range.contains(value) else {
            throw APIError(status: 400, "query parameter '\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(value)'")
        }
        return value
    }
}

/// Maps the node's errors onto HTTP statuses a person can act on (never 500 for a bad request).
func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as APIError {
        throw error
    } catch let error as ServingError {
        switch error {
        case .unknownVersion: throw APIError(status: 404, error.description, hint: error.hint)
        case .failsFloors, .nothingToRollBack, .incompatible, .nothingServed: throw APIError(status: 409, error.description, hint: error.hint)
        }
    } catch let error as PeerRegistryError {
        switch error {
        case .unknownPeer: throw APIError(status: 404, error.description, hint: error.hint)
        case .ambiguous, .cannotAddSelf: throw APIError(status: 400, error.description, hint: error.hint)
        case .store: throw APIError(status: 503, error.description, hint: error.hint)
        }
    } catch let error as any LeukUserFacingError {
        throw APIError(status: 503, error.description, hint: error.hint)
    }
}

/// `GET /v1/events` (and the portal's `/events`): the caller's events as server-sent events. Opens with a `ready`
/// event (so a client knows it is subscribed), sends a keep-alive comment every `keepAlive`, ends with
/// `session-ended` when the session is logged out, revoked or idle, and after `limit` events when one is given
/// (for scripts and tests).
public enum EventStream {
    static func open(for caller: Caller, appointment: String?, limit: Int?, clinic: Clinic, keepAlive: Duration) async throws -> HTTPBody {
        HTTPBody(try await bytes(for: caller, appointment: appointment, limit: limit, clinic: clinic, keepAlive: keepAlive),
                 length: .unknown, iterationBehavior: .single)
    }

    /// The stream's bytes in the `text/event-stream` format, for any HTTP layer to send. Admins are refused
    /// (403): events carry clinical content. With `appointment`, only its participants may watch (the clinic's rule).
    public static func bytes(for caller: Caller, appointment: String?, limit: Int?, clinic: Clinic,
                             keepAlive: Duration) async throws -> AsyncStream<ArraySlice<UInt8>> {
        guard caller.role != .admin else {
            throw APIError(status: 403, "event streams carry clinical content; they are for patients and doctors")
        }
        if let appointment { try await clinic.canWatch(caller, appointment: appointment) }
        let subscription = clinic.events.subscribe(userID: caller.userID)
        let (output, continuation) = AsyncStream.makeStream(of: ArraySlice<UInt8>.self, bufferingPolicy: .bufferingNewest(256))
        func send(_ event: ServerSentEvent) { continuation.yield(ArraySlice(event.encoded.utf8)) }
        let encoder = ResponseJSON.encoder()
        let task = Task {
            send(ServerSentEvent(event: "ready", data: "{}"))
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    var sent = 0
                    for await event in subscription {
                        if let appointment, event.appointmentID != appointment { continue }
                        guard let data = try? encoder.encode(event) else { continue }
                        send(ServerSentEvent(event: event.type.rawValue, data: String(decoding: data, as: UTF8.self)))
                        sent += 1
                        if let limit, sent >= limit { return }
                    }
                    // The clinic closes a user's subscriptions when their sessions are revoked: say so, as on logout.
                    if !Task.isCancelled, await !clinic.sessionIsLive(caller) {
                        send(ServerSentEvent(event: "session-ended", data: "{}"))
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: keepAlive) } catch { return }
                        // The stream lives as long as the session: logged out, revoked or idle, it ends.
                        guard await clinic.sessionIsLive(caller) else {
                            send(ServerSentEvent(event: "session-ended", data: "{}"))
                            return
                        }
                        send(.comment("keep-alive"))
                    }
                }
                await group.next()
                group.cancelAll()
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return output
    }
}

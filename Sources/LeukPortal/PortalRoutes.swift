import Hummingbird
import HTTPTypes
import LeukAPI
import LeukClinic
import LeukCore
import LeukNode
import Logging
import NIOCore
import Foundation

/// Every page and form of the portal. Each handler authenticates the session cookie through
/// `Clinic.authenticate` (so idle log-off and revocation are the API's), checks the role, and for a form
/// the origin and the CSRF token, then calls the same `Clinic` method as the API twin: the clinic decides
/// who may do what and writes the audit entry. Records of others are answered with 404, like unknown ids.
struct PortalRoutes: Sendable {
    let clinic: Clinic
    let control: (any NodeControl)?
    let secure: Bool
    let keepAlive: Duration
    let pages: PageRenderer
    let logger: Logger

    static let formLimit = 64 * 1024

    typealias Page = @Sendable (Request, BasicRequestContext, PortalSession) async throws -> Response

    func register(on router: Router<BasicRequestContext>) {
        router.get("/static/portal.css") { _, _ in Self.asset(StaticFiles.css, type: "text/css; charset=utf-8") }
        router.get("/static/portal.js") { _, _ in Self.asset(StaticFiles.script, type: "text/javascript; charset=utf-8") }
        router.get("/") { request, _ in try await home(request) }
        router.get("/signin") { request, _ in try await signInPage(request) }
        router.post("/signin") { request, _ in try await signIn(request) }
        router.post("/signout", use: signedIn([.patient, .doctor, .admin]) { request, _, session in
            _ = try await form(request, session)
            try await clinic.logout(session.caller)
            var response = Response.redirect(to: "/signin?signed_out=1")
            response.setCookie(PortalGuard.expiredCookie(PortalGuard.sessionCookie, secure: secure))
            return response
        })
        router.get("/events", use: signedIn([.patient, .doctor]) { _, _, session in try await events(session) })

        let people: Set<Role> = [.patient, .doctor]
        router.get("/appointments", use: signedIn(people) { request, _, session in
            try await appointmentsPage(session, flash: Self.flash(request))
        })
        router.post("/appointments", use: signedIn([.patient]) { request, _, session in try await book(request, session) })
        router.get("/appointments/:id", use: signedIn(people) { request, context, session in
            try await appointmentPage(session, id: try context.parameters.require("id"), flash: Self.flash(request))
        })
        router.post("/appointments/:id/confirm", use: signedIn([.doctor]) { request, context, session in
            try await appointmentAction(request, context, session, done: "confirmed") { _, id in
                _ = try await clinic.confirm(by: session.caller, appointment: id)
            }
        })
        router.post("/appointments/:id/complete", use: signedIn([.doctor]) { request, context, session in
            try await appointmentAction(request, context, session, done: "completed") { _, id in
                _ = try await clinic.complete(by: session.caller, appointment: id)
            }
        })
        router.post("/appointments/:id/cancel", use: signedIn(people) { request, context, session in
            try await appointmentAction(request, context, session, done: "cancelled") { form, id in
                _ = try await clinic.cancel(by: session.caller, appointment: id, reason: form.text("reason"))
            }
        })
        router.post("/appointments/:id/reschedule", use: signedIn(people) { request, context, session in
            try await appointmentAction(request, context, session, done: "rescheduled") { form, id in
                guard let slot = form.text("slot") else { throw ClinicError(.invalid, "choose the slot to move to") }
                _ = try await clinic.reschedule(by: session.caller, appointment: id, toSlot: slot)
            }
        })
        router.post("/appointments/:id/messages", use: signedIn(people) { request, context, session in
            try await appointmentAction(request, context, session, done: "sent") { form, id in
                _ = try await clinic.sendMessage(by: session.caller, appointment: id, body: form["body"] ?? "")
            }
        })

        router.get("/results", use: signedIn([.patient]) { request, _, session in
            let list = try await clinic.listDiagnoses(by: session.caller).sorted { $0.createdAt > $1.createdAt }
            return pages.page("results", title: "Results", session: session, values: ["results": list.map(View.diagnosis)],
                              current: "/results", flash: Self.flash(request))
        })
        router.get("/queue", use: signedIn([.doctor]) { request, _, session in try await queue(session, flash: Self.flash(request)) })
        router.get("/diagnoses/:id", use: signedIn(people) { request, context, session in
            try await diagnosisPage(session, id: try context.parameters.require("id"), flash: Self.flash(request))
        })
        router.get("/diagnoses/:id/image", use: signedIn(people) { _, context, session in
            let image = try await clinic.diagnosisImage(by: session.caller, id: try context.parameters.require("id"))
            return Response(status: .ok, headers: [.contentType: Self.imageType(image.bytes), .cacheControl: "private, no-store"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: image.bytes)))
        })
        router.post("/diagnoses/:id/release", use: signedIn([.doctor]) { request, context, session in
            try await release(request, id: try context.parameters.require("id"), session)
        })
        router.post("/diagnoses/:id/review", use: signedIn([.doctor]) { request, context, session in
            try await review(request, id: try context.parameters.require("id"), session)
        })
        router.get("/diagnose", use: signedIn([.doctor]) { _, _, session in try await diagnosePage(session) })
        router.post("/diagnose", use: signedIn([.doctor]) { request, _, session in try await diagnose(request, session) })
        router.get("/slots", use: signedIn([.doctor]) { request, _, session in try await slotsPage(session, flash: Self.flash(request)) })
        router.post("/slots", use: signedIn([.doctor]) { request, _, session in try await addSlot(request, session) })
        router.post("/slots/:id/remove", use: signedIn([.doctor]) { request, context, session in
            try await removeSlot(request, id: try context.parameters.require("id"), session)
        })

        router.get("/admin/users", use: signedIn([.admin]) { request, _, session in try await usersPage(session, flash: Self.flash(request)) })
        router.post("/admin/users", use: signedIn([.admin]) { request, _, session in try await addUser(request, session) })
        router.post("/admin/users/:id/revoke", use: signedIn([.admin]) { request, context, session in
            try await revoke(request, id: try context.parameters.require("id"), session)
        })
        for (verb, disabled) in [("disable", true), ("enable", false)] {
            router.post("/admin/users/:id/\(verb)", use: signedIn([.admin]) { request, context, session in
                try await setDisabled(request, id: try context.parameters.require("id"), disabled: disabled, session)
            })
        }
        router.get("/break-glass", use: signedIn([.admin]) { _, _, session in
            pages.page("breakglass", title: "Break-glass", session: session, values: breakGlassValues([:]), current: "/break-glass")
        })
        router.post("/break-glass", use: signedIn([.admin]) { request, _, session in try await breakGlass(request, session) })
    }

    // MARK: - Sessions

    /// The signed-in person behind the request's cookie, or nil (with whether a session just ended).
    /// A bearer token is refused outright, and so is the operator token presented as a cookie: the
    /// operator uses the API, not the portal.
    func session(for request: Request) async throws(PortalRefusal) -> (session: PortalSession?, ended: Bool) {
        if request.headers[.authorization] != nil { throw .bearerToken }
        guard let token = request.cookies[PortalGuard.sessionCookie]?.value, !token.isEmpty, token.utf8.count <= 512 else {
            return (nil, false)
        }
        let caller: Caller
        do {
            caller = try await clinic.authenticate(bearer: token)
        } catch {
            return (nil, true)
        }
        if caller.isOperator { throw .bearerToken }
        return (PortalSession(caller: caller, csrf: PortalGuard.csrfToken(forSession: token)), false)
    }

    /// Wraps a page for the given roles: sign-in redirect without a session, 404 for another role, the
    /// same-origin check on every POST, and the clinic's refusals as pages.
    func signedIn(_ roles: Set<Role>, _ page: @escaping Page) -> @Sendable (Request, BasicRequestContext) async throws -> Response {
        { request, context in
            let (found, ended) = try await session(for: request)
            guard let session = found else {
                var response = Response.redirect(to: ended ? "/signin?ended=1" : "/signin")
                if ended { response.setCookie(PortalGuard.expiredCookie(PortalGuard.sessionCookie, secure: secure)) }
                return response
            }
            guard roles.contains(session.caller.role) else { return pages.notFound(session: session) }
            if request.method == .post, !PortalGuard.isSameOrigin(request) { return pages.refusal(.crossSite, session: session) }
            do {
                return try await page(request, context, session)
            } catch let refusal as PortalRefusal {
                return pages.refusal(refusal, session: session)
            } catch let error as ClinicError {
                return clinicProblem(error, session: session)
            }
        }
    }

    /// A clinic refusal as a page: someone else's record and an unknown one look alike (404).
    func clinicProblem(_ error: ClinicError, session: PortalSession) -> Response {
        switch error.kind {
        case .forbidden, .notFound: return pages.notFound(session: session)
        case .unauthenticated: return Response.redirect(to: "/signin?ended=1")
        default: return pages.problem(status: Self.status(error), message: Self.say(error), session: session)
        }
    }

    /// The form of a signed-in page, with its CSRF token checked.
    func form(_ request: Request, _ session: PortalSession, limit: Int = formLimit) async throws(PortalRefusal) -> FormData {
        let form = try await FormReader.read(request, limit: limit)
        guard PortalGuard.tokensMatch(form["csrf"], session.csrf) else { throw .csrf }
        return form
    }

    // MARK: - Sign in and out

    func home(_ request: Request) async throws -> Response {
        let (found, _) = try await session(for: request)
        guard let session = found else { return Response.redirect(to: "/signin") }
        return Response.redirect(to: PageRenderer.navigation(for: session.caller.role)[0].href)
    }

    func signInPage(_ request: Request, name: String = "", error: String? = nil, status: HTTPResponse.Status = .ok) async throws -> Response {
        if error == nil, let session = try await session(for: request).session {
            return Response.redirect(to: PageRenderer.navigation(for: session.caller.role)[0].href)
        }
        let token = request.cookies[PortalGuard.signInCookie]?.value.nonEmpty ?? PortalGuard.randomToken()
        var values: [String: Any] = [
            "csrf": token, "name": name, "lockout": String(clinic.configuration.lockoutThreshold),
            "idle": String(clinic.configuration.sessionIdleTimeout.components.seconds / 60),
        ]
        let query = request.uri.queryParameters
        if query["ended"] != nil {
            values["ended"] = "Your session ended: you signed out elsewhere, it was revoked, or it was idle for too long. Sign in again."
        } else if query["signed_out"] != nil {
            values["ended"] = "You are signed out."
        }
        var response = pages.page("signin", title: "Sign in", session: nil, values: values, status: status, error: error)
        response.setCookie(PortalGuard.signInCookie(token, secure: secure))
        return response
    }

    func signIn(_ request: Request) async throws -> Response {
        if request.headers[.authorization] != nil { throw PortalRefusal.bearerToken }
        guard PortalGuard.isSameOrigin(request) else { throw PortalRefusal.crossSite }
        let form = try await FormReader.read(request, limit: 8 * 1024)
        guard let expected = request.cookies[PortalGuard.signInCookie]?.value, PortalGuard.tokensMatch(form["csrf"], expected) else {
            throw PortalRefusal.csrf
        }
        let name = form.text("name") ?? ""
        let password = form["password"] ?? ""
        guard !name.isEmpty, !password.isEmpty else {
            return try await signInPage(request, name: name, error: "Enter your user name and your password.", status: .unprocessableContent)
        }
        let result: LoginResult
        do {
            result = try await clinic.login(name: name, password: password)
        } catch {
            return try await signInPage(request, name: name, error: Self.say(error), status: Self.status(error))
        }
        var response = Response.redirect(to: PageRenderer.navigation(for: result.user.role)[0].href)
        response.setCookie(PortalGuard.sessionCookie(result.token, secure: secure))
        response.setCookie(PortalGuard.expiredCookie(PortalGuard.signInCookie, secure: secure))
        return response
    }

    // MARK: - Live updates

    /// The clinic's event stream for this person (the API's `/v1/events`, same rules), as server-sent events.
    func events(_ session: PortalSession) async throws -> Response {
        let stream: AsyncStream<ArraySlice<UInt8>>
        do {
            stream = try await EventStream.bytes(for: session.caller, appointment: nil, limit: nil, clinic: clinic, keepAlive: keepAlive)
        } catch let error as APIError {
            return pages.problem(status: HTTPResponse.Status(code: error.status), message: error.message, session: session)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                        body: ResponseBody { writer in
                            for await chunk in stream { try await writer.write(ByteBuffer(bytes: chunk)) }
                            try await writer.finish(nil)
                        })
    }

    // MARK: - Appointments

    func appointmentsPage(_ session: PortalSession, flash: String? = nil, error: String? = nil, form: FormData = FormData(),
                          status: HTTPResponse.Status = .ok) async throws -> Response {
        let caller = session.caller
        let now = Date()
        let list = try await clinic.listAppointments(by: caller)
        let upcoming = list.filter { $0.state.isOpen && $0.end > now }.sorted { $0.start < $1.start }
        let past = list.filter { !($0.state.isOpen && $0.end > now) }.sorted { $0.start > $1.start }
        var values: [String: Any] = [
            "upcoming": upcoming.map { View.appointment($0, viewer: caller) },
            "past": past.map { View.appointment($0, viewer: caller) }, "has_past": !past.isEmpty,
            "is_patient": caller.role == .patient, "reason": form["reason"] ?? "",
        ]
        if caller.role == .patient {
            let slots = try await clinic.listSlots(by: caller, freeOnly: true, from: now)
            values["slots"] = slots.map { View.slot($0, selected: form["slot"], withDoctor: true) }
            values["has_slots"] = !slots.isEmpty
        }
        return pages.page("appointments", title: "Appointments", session: session, values: values, status: status,
                          current: "/appointments", flash: flash, error: error)
    }

    func book(_ request: Request, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        do {
            guard let slot = form.text("slot") else { throw ClinicError(.invalid, "choose a free slot") }
            let appointment = try await clinic.book(by: session.caller, slotID: slot, reason: form.text("reason"))
            return Response.redirect(to: "/appointments/\(appointment.id)?done=booked")
        } catch let error as ClinicError {
            return try await appointmentsPage(session, error: Self.say(error), form: form, status: Self.status(error))
        }
    }

    func appointmentPage(_ session: PortalSession, id: String, flash: String? = nil, error: String? = nil,
                         form: FormData = FormData(), action: String = "", status: HTTPResponse.Status = .ok) async throws -> Response {
        let caller = session.caller
        let appointment = try await clinic.appointment(by: caller, id: id)
        let messages = try await clinic.messages(by: caller, appointment: id)
        var values = View.appointment(appointment, viewer: caller)
        values["messages"] = messages.map(View.message)
        if appointment.state.isOpen {
            let free = try await clinic.listSlots(by: caller, doctor: appointment.doctorID, freeOnly: true, from: Date())
            values["slots"] = free.map { View.slot($0, selected: form["slot"], withDoctor: false) }
            values["has_slots"] = !free.isEmpty
        }
        values["draft"] = action == "sent" ? form["body"] ?? "" : ""
        values["cancel_reason"] = action == "cancelled" ? form["reason"] ?? "" : ""
        values["open_change"] = action == "cancelled" || action == "rescheduled"
        return pages.page("appointment", title: "Appointment", session: session, values: values, status: status,
                          current: "/appointments", flash: flash, error: error)
    }

    /// A form on the appointment page: on success back to the page (post/redirect/get); on a refusal the
    /// page again, with the message and what was typed.
    func appointmentAction(_ request: Request, _ context: BasicRequestContext, _ session: PortalSession, done: String,
                           _ perform: (FormData, String) async throws -> Void) async throws -> Response {
        let id = try context.parameters.require("id")
        let form = try await form(request, session)
        do {
            try await perform(form, id)
        } catch let error as ClinicError {
            guard error.kind != .forbidden, error.kind != .notFound, error.kind != .unauthenticated else {
                return clinicProblem(error, session: session)
            }
            return try await appointmentPage(session, id: id, error: Self.say(error), form: form, action: done, status: Self.status(error))
        }
        return Response.redirect(to: "/appointments/\(id)?done=\(done)")
    }

    // MARK: - Diagnoses

    func queue(_ session: PortalSession, flash: String?) async throws -> Response {
        let list = try await clinic.listDiagnoses(by: session.caller)
        let positive = clinic.configuration.followUp.positiveClass
        func row(_ d: DiagnosisInfo) -> [String: Any] {
            var view = View.diagnosis(d)
            view["positive"] = positive
            view["positive_probability"] = d.probabilities[positive].map(View.probability) ?? "n/a"
            return view
        }
        let pending = list.filter { $0.reviewState != .released }.sorted { $0.createdAt < $1.createdAt }
        let released = list.filter { $0.reviewState == .released }.sorted { $0.createdAt > $1.createdAt }.prefix(20)
        return pages.page("queue", title: "Review queue", session: session,
                          values: ["pending": pending.map(row), "released": released.map(row), "has_released": !released.isEmpty],
                          current: "/queue", flash: flash)
    }

    func diagnosisPage(_ session: PortalSession, id: String, flash: String? = nil, error: String? = nil, draftNote: String? = nil,
                       status: HTTPResponse.Status = .ok) async throws -> Response {
        let diagnosis = try await clinic.diagnosis(by: session.caller, id: id)
        guard session.caller.role == .doctor else {
            return pages.page("results", title: "Result", session: session, values: ["results": [View.diagnosis(diagnosis)]],
                              current: "/results", flash: flash)
        }
        var values = View.diagnosis(diagnosis)
        values["show_image"] = true
        values["can_release"] = diagnosis.reviewState != .released
        values["draft_note"] = draftNote ?? diagnosis.note
        let (entry, decision) = await lineage(of: diagnosis)
        if let entry {
            values["lineage"] = [
                "round": String(entry.round), "architecture": entry.architecture,
                "created": View.date(Date(timeIntervalSince1970: entry.createdAt.secondsSinceEpoch)),
                "contributors": entry.contributors.map { ["author": String($0.author.description.prefix(16)), "version": String($0.version)] },
            ] as [String: Any]
        }
        if let decision {
            var view: [String: Any] = [
                "action": String(describing: decision.action), "time": View.date(Date(timeIntervalSince1970: decision.time.secondsSinceEpoch)),
            ]
            if !decision.reasons.isEmpty { view["reasons"] = decision.reasons.joined(separator: "; ") }
            if let before = decision.servedBefore { view["before"] = String(before) }
            values["decision"] = view
        }
        if entry == nil && decision == nil {
            values["lineage_note"] = control == nil
                ? "The model's lineage is not available on this portal (it runs without the node's model history)."
                : "This node keeps no history entry or serving decision for version \(diagnosis.modelVersion) any more."
        }
        return pages.page("diagnosis", title: "Diagnosis", session: session, values: values, status: status, current: "/queue",
                          flash: flash, error: error)
    }

    /// Where the model that made the diagnosis came from: its history entry (round, the nodes whose work went
    /// in) and the newest promotion decision about it (why doctors were diagnosing with it).
    func lineage(of diagnosis: DiagnosisInfo) async -> (ModelHistoryEntry?, PromotionDecision?) {
        guard let control else { return (nil, nil) }
        var entry: ModelHistoryEntry?
        var decision: PromotionDecision?
        do {
            let history = try await control.modelHistory(limit: 10_000)
            // By content first: the history entry of the same parameters may carry a later version number (the
            // node stores its model again as its version grows, without a change of weights).
            entry = history.first { $0.sha256 == diagnosis.modelSHA256 } ?? history.first { $0.version == diagnosis.modelVersion }
            decision = try await control.modelServing(limit: 1000).decisions
                .filter { $0.version == diagnosis.modelVersion }.max { $0.seq < $1.seq }
        } catch {
            logger.warning("portal: the model history could not be read: \(error)")
        }
        return (entry, decision)
    }

    func release(_ request: Request, id: String, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        let note = form.text("note")
        do {
            _ = try await clinic.releaseDiagnosis(by: session.caller, id: id, note: note)
        } catch {
            guard error.kind != .forbidden, error.kind != .notFound else { return clinicProblem(error, session: session) }
            return try await diagnosisPage(session, id: id, error: Self.say(error), draftNote: form["note"], status: Self.status(error))
        }
        return Response.redirect(to: "/diagnoses/\(id)?done=released")
    }

    /// Saves the doctor's note and marks the diagnosis reviewed, without releasing it (the API's `review`).
    func review(_ request: Request, id: String, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        do {
            _ = try await clinic.reviewDiagnosis(by: session.caller, id: id, note: form["note"] ?? "")
        } catch {
            guard error.kind != .forbidden, error.kind != .notFound else { return clinicProblem(error, session: session) }
            return try await diagnosisPage(session, id: id, error: Self.say(error), draftNote: form["note"], status: Self.status(error))
        }
        return Response.redirect(to: "/diagnoses/\(id)?done=reviewed")
    }

    func diagnosePage(_ session: PortalSession, form: FormData = FormData(), kept: UploadedFile? = nil, error: String? = nil,
                      status: HTTPResponse.Status = .ok) async throws -> Response {
        let patients = try await clinic.listUsers(by: session.caller)
        var values: [String: Any] = ["patient": form["patient"] ?? "", "patients": patients.map { ["name": $0.name] }]
        if let kept {
            values["kept_name"] = kept.fileName
            values["kept_image"] = Data(kept.bytes).base64EncodedString()
        }
        return pages.page("diagnose", title: "Diagnose", session: session, values: values, status: status, current: "/diagnose", error: error)
    }

    func diagnose(_ request: Request, _ session: PortalSession) async throws -> Response {
        let limit = clinic.configuration.maxImageBytes * 3 + Self.formLimit
        let form = try await form(request, session, limit: limit)
        var image = form.files["image"].flatMap { $0.bytes.isEmpty ? nil : $0 }
        if image == nil, let kept = form["kept_image"], let bytes = Data(base64Encoded: kept), !bytes.isEmpty {
            image = UploadedFile(fileName: form.text("kept_name") ?? "image", bytes: [UInt8](bytes))
        }
        do {
            guard let patient = form.text("patient") else { throw ClinicError(.invalid, "enter the patient's user name") }
            guard let image else { throw ClinicError(.invalid, "choose the cell image to diagnose") }
            let outcome = try await clinic.diagnose(by: session.caller, patient: patient, image: image.bytes,
                                                    fileName: image.fileName.isEmpty ? "image" : image.fileName)
            let done = outcome.warning == nil ? "diagnosed" : "diagnosed-no-slot"
            return Response.redirect(to: "/diagnoses/\(outcome.diagnosis.id)?done=\(done)")
        } catch let error as ClinicError {
            return try await diagnosePage(session, form: form, kept: image, error: Self.say(error), status: Self.status(error))
        }
    }

    // MARK: - Slots

    func slotsPage(_ session: PortalSession, flash: String? = nil, error: String? = nil, form: FormData = FormData(),
                   status: HTTPResponse.Status = .ok) async throws -> Response {
        let slots = try await clinic.listSlots(by: session.caller, doctor: session.caller.userID, from: Date())
        let values: [String: Any] = [
            "slots": slots.map { ["id": $0.id, "start": View.date($0.start), "end": View.date($0.end), "booked": $0.booked] as [String: Any] },
            "start": form["start"] ?? "", "minutes": form["minutes"] ?? "30",
        ]
        return pages.page("slots", title: "Slots", session: session, values: values, status: status, current: "/slots",
                          flash: flash, error: error)
    }

    func addSlot(_ request: Request, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        do {
            let start = try Self.slotStart(form)
            guard let minutes = form.text("minutes").flatMap(Int.init), (5...480).contains(minutes) else {
                throw ClinicError(.invalid, "the length must be a whole number of minutes from 5 to 480")
            }
            _ = try await clinic.addSlot(by: session.caller, start: start, end: start.addingTimeInterval(Double(minutes) * 60))
        } catch let error as ClinicError {
            return try await slotsPage(session, error: Self.say(error), form: form, status: Self.status(error))
        }
        return Response.redirect(to: "/slots?done=slot")
    }

    func removeSlot(_ request: Request, id: String, _ session: PortalSession) async throws -> Response {
        _ = try await form(request, session)
        do {
            _ = try await clinic.removeSlot(by: session.caller, slotID: id)
        } catch {
            guard error.kind != .forbidden, error.kind != .notFound else { return clinicProblem(error, session: session) }
            return try await slotsPage(session, error: Self.say(error), status: Self.status(error))
        }
        return Response.redirect(to: "/slots?done=slot-removed")
    }

    /// The slot's start: the UTC instant portal.js computed from the local field, else the field read as UTC.
    static func slotStart(_ form: FormData) throws(ClinicError) -> Date {
        if let utc = form.text("start_utc"), let date = ISO8601.parse(utc) { return date }
        guard let local = form.text("start") else { throw ClinicError(.invalid, "enter the slot's start") }
        for pattern in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = pattern
            if let date = formatter.date(from: local) { return date }
        }
        throw ClinicError(.invalid, "'\(local)' is not a date and time such as 2026-12-01T09:00")
    }

    // MARK: - Admin

    func usersPage(_ session: PortalSession, flash: String? = nil, error: String? = nil, form: FormData = FormData(),
                   status: HTTPResponse.Status = .ok) async throws -> Response {
        let users = try await clinic.listUsers(by: session.caller)
        let role = form["role"] ?? Role.patient.rawValue
        var rows: [[String: Any]] = []
        for user in users {
            var row: [String: Any] = ["id": user.id, "name": user.name, "role": user.role.rawValue, "created": View.date(user.createdAt),
                                      "disabled": user.disabled == true, "self": user.id == session.caller.userID]
            if let locked = user.lockedUntil { row["locked"] = View.date(locked) }
            rows.append(row)
        }
        let values: [String: Any] = [
            "users": rows, "new_name": form["name"] ?? "", "min_password": String(clinic.configuration.minimumPasswordLength),
            "roles": [Role.patient, .doctor, .admin].map { ["value": $0.rawValue, "selected": $0.rawValue == role] as [String: Any] },
        ]
        return pages.page("users", title: "Users", session: session, values: values, status: status, current: "/admin/users",
                          flash: flash, error: error)
    }

    func addUser(_ request: Request, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        do {
            guard let name = form.text("name") else { throw ClinicError(.invalid, "enter a user name") }
            guard let role = form.text("role").flatMap(Role.init(rawValue:)) else { throw ClinicError(.invalid, "choose a role") }
            _ = try await clinic.createUser(by: session.caller, name: name, role: role, password: form["password"] ?? "")
        } catch let error as ClinicError {
            return try await usersPage(session, error: Self.say(error), form: form, status: Self.status(error))
        }
        return Response.redirect(to: "/admin/users?done=user")
    }

    func revoke(_ request: Request, id: String, _ session: PortalSession) async throws -> Response {
        _ = try await form(request, session)
        do {
            _ = try await clinic.revokeSessions(by: session.caller, userID: id)
        } catch {
            return try await usersPage(session, error: Self.say(error), status: Self.status(error))
        }
        return Response.redirect(to: "/admin/users?done=revoked")
    }

    func setDisabled(_ request: Request, id: String, disabled: Bool, _ session: PortalSession) async throws -> Response {
        _ = try await form(request, session)
        do {
            _ = try await clinic.setDisabled(by: session.caller, userID: id, disabled: disabled)
        } catch {
            return try await usersPage(session, error: Self.say(error), status: Self.status(error))
        }
        return Response.redirect(to: "/admin/users?done=" + (disabled ? "disabled" : "enabled"))
    }

    func breakGlassValues(_ form: [String: String]) -> [String: Any] {
        ["patient": form["patient"] ?? "", "reason": form["reason"] ?? "",
         "minutes": String(clinic.configuration.breakGlassDuration.components.seconds / 60)]
    }

    func breakGlass(_ request: Request, _ session: PortalSession) async throws -> Response {
        let form = try await form(request, session)
        var values = breakGlassValues(form.fields)
        do {
            guard let patient = form.text("patient") else { throw ClinicError(.invalid, "enter the patient's user name") }
            let grant = try await clinic.breakGlass(by: session.caller, patient: patient, reason: form["reason"] ?? "")
            let diagnoses = try await clinic.listDiagnoses(by: session.caller, patient: grant.patientID)
            let appointments = try await clinic.listAppointments(by: session.caller, patient: grant.patientID)
            values["grant"] = [
                "patient_name": diagnoses.first?.patientName ?? appointments.first?.patientName ?? patient,
                "until": View.date(grant.expiresAt), "diagnoses": diagnoses.map(View.diagnosis),
                "appointments": appointments.map { View.appointment($0, viewer: session.caller) },
            ] as [String: Any]
        } catch let error as ClinicError {
            return pages.page("breakglass", title: "Break-glass", session: session, values: values, status: Self.status(error),
                              current: "/break-glass", error: Self.say(error))
        }
        return pages.page("breakglass", title: "Break-glass", session: session, values: values, current: "/break-glass")
    }

    // MARK: - Helpers

    static func asset(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// The HTTP status of a clinic refusal: the API's mapping (`APIError`), the one place it is decided.
    static func status(_ error: ClinicError) -> HTTPResponse.Status { HTTPResponse.Status(code: APIError(error).status) }

    /// What a person reads: the clinic's sentence, and its hint unless the hint is a command line.
    static func say(_ error: ClinicError) -> String {
        var text = error.description.prefix(1).uppercased() + error.description.dropFirst()
        if !text.hasSuffix(".") { text += "." }
        if let hint = error.hint, !hint.contains("`") { text += " " + hint.prefix(1).uppercased() + hint.dropFirst() + "." }
        return text
    }

    /// The note after a post/redirect/get, from a fixed list (the query never puts text on the page).
    static func flash(_ request: Request) -> String? {
        switch request.uri.queryParameters["done"].map(String.init) {
        case "booked": return "Booked. The doctor confirms the appointment; you see it change here."
        case "confirmed": return "Confirmed."
        case "completed": return "Marked as held."
        case "cancelled": return "Cancelled; the slot is free again."
        case "rescheduled": return "Moved. The doctor confirms the new time."
        case "sent": return "Message sent."
        case "released": return "Released to the patient."
        case "reviewed": return "Note saved; the diagnosis is reviewed but not released: the patient does not see it yet."
        case "diagnosed": return "Diagnosed. Review it, then release it to the patient with a note."
        case "diagnosed-no-slot":
            return "Diagnosed. The outcome calls for a follow-up, but no doctor has a free slot: add slots and book one."
        case "slot": return "Slot added."
        case "slot-removed": return "Slot removed."
        case "user": return "User added."
        case "revoked": return "Sessions revoked."
        case "disabled": return "Account disabled: its sessions ended and it cannot sign in until enabled."
        case "enabled": return "Account enabled."
        default: return nil
        }
    }

    /// The image's media type from its first bytes (the browser must not guess: nosniff).
    static func imageType(_ bytes: [UInt8]) -> String {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if bytes.starts(with: [0x42, 0x4D]) { return "image/bmp" }
        if bytes.starts(with: [0x47, 0x49, 0x46]) { return "image/gif" }
        if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "image/tiff" }
        return "application/octet-stream"
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

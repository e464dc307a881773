import Hummingbird
import HTTPTypes
import LeukClinic
import Mustache
import NIOCore
import Foundation

/// Who is signed in, as a page needs it.
struct PortalSession: Sendable {
    let caller: Caller
    /// The form token every state-changing form of this session carries.
    let csrf: String
}

/// Renders the templates into HTML responses: a page template inside the layout (navigation by role,
/// the sign-out form with its CSRF token, the live-update hook for patients and doctors).
struct PageRenderer: Sendable {
    let library: MustacheLibrary

    /// Parsed once per process; the templates are constants, so a parse error is a bug the tests catch.
    static let shared: PageRenderer = {
        do {
            return try PageRenderer()
        } catch {
            preconditionFailure("a portal template does not parse: \(error)")
        }
    }()

    init() throws {
        var library = MustacheLibrary()
        for (name, text) in Templates.all { try library.register(text, named: name) }
        self.library = library
    }

    static func navigation(for role: Role) -> [(href: String, label: String)] {
        switch role {
        case .patient: return [("/appointments", "Appointments"), ("/results", "Results")]
        case .doctor: return [("/queue", "Review queue"), ("/diagnose", "Diagnose"), ("/appointments", "Appointments"), ("/slots", "Slots")]
        case .admin: return [("/admin/users", "Users"), ("/break-glass", "Break-glass")]
        }
    }

    /// A full page. `values` fill the page template; `flash` and `error` show above it.
    func page(_ template: String, title: String, session: PortalSession?, values: [String: Any] = [:],
              status: HTTPResponse.Status = .ok, current: String? = nil, flash: String? = nil, error: String? = nil) -> Response {
        var values = values
        if let session { values["csrf"] = session.csrf }
        let content = library.render(values, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content]
        if let session {
            layout["csrf"] = session.csrf
            layout["user"] = [
                "name": session.caller.name, "role": session.caller.role.rawValue,
                "nav": Self.navigation(for: session.caller.role).map { item -> [String: Any] in
                    ["href": item.href, "label": item.label, "current": item.href == current]
                },
            ] as [String: Any]
            layout["events"] = session.caller.role != .admin
        }
        if let flash { layout["flash"] = flash }
        if let error { layout["error"] = error }
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// 404 for what does not exist and for what belongs to someone else alike, so ids reveal nothing.
    func notFound(session: PortalSession?) -> Response {
        page("problem", title: "Not found", session: session,
             values: ["heading": "Not found", "message": "There is no such page, or it is not yours to see."], status: .notFound)
    }

    func problem(status: HTTPResponse.Status, message: String, session: PortalSession?) -> Response {
        page("problem", title: status.reasonPhrase, session: session, values: ["heading": status.reasonPhrase, "message": message],
             status: status)
    }

    func refusal(_ refusal: PortalRefusal, session: PortalSession?) -> Response {
        problem(status: refusal.status, message: refusal.message, session: session)
    }
}

/// Values templates show.
enum View {
    /// A date as `<time datetime="{{iso}}">{{utc}}</time>` needs it (a formatter per call: they are not Sendable).
    static func date(_ date: Date) -> [String: Any] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return ["iso": ISO8601DateFormatter().string(from: date), "utc": formatter.string(from: date)]
    }

    static func appointment(_ a: AppointmentInfo, viewer: Caller) -> [String: Any] {
        var view: [String: Any] = [
            "id": a.id, "state": a.state.rawValue, "start": date(a.start), "end": date(a.end), "doctor_name": a.doctorName,
            "patient_name": a.patientName, "reason": a.reason, "follow_up": a.followUp.rawValue,
            "other": viewer.role == .doctor ? a.patientName : a.doctorName,
            "counterpart": viewer.userID == a.doctorID ? a.patientName : a.doctorName,
        ]
        if let deadline = a.deadline, a.state.isOpen { view["deadline"] = date(deadline) }
        let isDoctor = viewer.role == .doctor && viewer.userID == a.doctorID
        view["can_confirm"] = isDoctor && (a.state == .requested || a.state == .rescheduled)
        view["can_complete"] = isDoctor && a.state == .confirmed
        view["can_change"] = a.state.isOpen
        return view
    }

    static func slot(_ s: SlotInfo, selected: String?, withDoctor: Bool) -> [String: Any] {
        let minutes = Int(s.end.timeIntervalSince(s.start) / 60)
        return ["id": s.id, "start": date(s.start), "selected": s.id == selected,
                "suffix": ", \(minutes) min" + (withDoctor ? ", \(s.doctorName)" : "")]
    }

    static func message(_ m: MessageInfo) -> [String: Any] {
        ["id": m.id, "sender_name": m.senderName, "sent": date(m.sentAt), "body": m.body]
    }

    static func probability(_ p: Double) -> String { String(format: "%.4f", p) }

    static func diagnosis(_ d: DiagnosisInfo) -> [String: Any] {
        var view: [String: Any] = [
            "id": d.id, "patient_name": d.patientName, "doctor_name": d.doctorName, "created": date(d.createdAt),
            "predicted": d.predicted, "model_version": String(d.modelVersion), "model_sha256": d.modelSHA256,
            "follow_up": d.followUp.rawValue, "review_state": d.reviewState.rawValue.replacingOccurrences(of: "_", with: " "),
            "file_name": d.imageFileName, "image_bytes": String(d.imageBytes), "image_sha256": d.imageSHA256,
            "response_ms": String(format: "%.1f", d.responseTimeMs),
            "probabilities": d.probabilities.sorted { $0.key < $1.key }.map { ["label": $0.key, "value": probability($0.value)] },
        ]
        if !d.note.isEmpty { view["note"] = d.note }
        if let released = d.releasedAt { view["released"] = date(released) }
        if let appointment = d.appointmentID { view["appointment_id"] = appointment }
        return view
    }
}

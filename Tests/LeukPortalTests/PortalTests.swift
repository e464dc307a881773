import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import NIOCore
import Testing
import ClinicTestSupport
import LeukClinic
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukPortal

/// A node's clinic (real store, real rules and audit; the model is the deterministic `MeanRedClassifier`)
/// behind the portal, driven in-process with Hummingbird's test client.
final class PortalFixture: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init and itself thread-safe.
    let directory: String
    let store: RecordStore
    let clock = ManualClock(start: Timestamp(secondsSinceEpoch: Date().timeIntervalSince1970))
    let token: OperatorToken
    let clinic: Clinic
    let portal: PortalServer
    let operatorCaller = Caller(userID: Caller.operatorID, name: Caller.operatorID, role: .admin, isOperator: true, sessionKey: nil)

    init(tls: Bool = false) throws {
        directory = NSTemporaryDirectory() + "leukportal-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true), identity: NodeIdentity.generate())
        token = try OperatorToken.loadOrCreate(inDataDirectory: directory)
        clinic = try Clinic(store: store, classifier: MeanRedClassifier(), clock: clock,
                            configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: token)
        var logger = Logger(label: "leuknode.portal.test")
        logger.logLevel = .warning
        let configuration = PortalConfiguration(tls: tls ? PortalTLS(certificatePath: "unused.pem", keyPath: "unused.pem") : nil,
                                                eventKeepAlive: .milliseconds(200))
        portal = PortalServer(clinic: clinic, configuration: configuration, logger: logger)
    }

    deinit {
        store.database.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A user and their session token (as the portal's cookie holds it).
    func user(_ name: String, _ role: Role, password: String = "a long password") async throws -> (id: String, token: String) {
        let info = try await clinic.createUser(by: operatorCaller, name: name, role: role, password: password)
        let login = try await clinic.login(name: name, password: password)
        return (info.id, login.token)
    }

    func caller(_ token: String) async throws -> Caller { try await clinic.authenticate(bearer: token) }

    /// A doctor (dr.lee), a patient (ana) and ana's booking of the doctor's slot tomorrow.
    func booking(reason: String? = nil) async throws -> (doctor: (id: String, token: String), ana: (id: String, token: String), appointment: AppointmentInfo) {
        let doctor = try await user("dr.lee", .doctor)
        let ana = try await user("ana", .patient)
        let start = Date().addingTimeInterval(86_400)
        let slot = try await clinic.addSlot(by: try await caller(doctor.token), start: start, end: start.addingTimeInterval(1800))
        let appointment = try await clinic.book(by: try await caller(ana.token), slotID: slot.id, reason: reason)
        return (doctor, ana, appointment)
    }

    func withClient<T: Sendable>(_ body: @Sendable (PortalClient) async throws -> T) async throws -> T {
        try await Application(router: portal.makeRouter()).test(.router) { client in try await body(PortalClient(client: client)) }
    }
}

/// What a test reads of an answer.
struct Page: Sendable {
    var status: Int
    var html: String
    var headers: HTTPFields

    func header(_ name: String) -> String? { headers[HTTPField.Name(name)!] }
    var location: String? { headers[.location] }
    var setCookies: [String] { headers[values: .setCookie] }
}

struct PortalClient: Sendable {
    let client: any TestClientProtocol

    func get(_ path: String, session: String? = nil, headers extra: HTTPFields = [:]) async throws -> Page {
        try await send(.get, path, session: session, headers: extra)
    }

    /// A form post; `csrf` is added unless nil.
    func post(_ path: String, session: String?, form: [String: String], csrf: String?, headers extra: HTTPFields = [:]) async throws -> Page {
        var fields = form
        if let csrf { fields["csrf"] = csrf }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let body = fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }.joined(separator: "&")
        var headers = extra
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await send(.post, path, session: session, headers: headers, body: Array(body.utf8))
    }

    func send(_ method: HTTPRequest.Method, _ path: String, session: String?, headers extra: HTTPFields = [:],
              body: [UInt8]? = nil) async throws -> Page {
        var headers = extra
        if let session { headers[.cookie] = (headers[.cookie].map { $0 + "; " } ?? "") + "\(PortalGuard.sessionCookie)=\(session)" }
        return try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) { response in
            Page(status: Int(response.status.code), html: String(buffer: response.body), headers: response.headers)
        }
    }
}

func csrf(_ token: String) -> String { PortalGuard.csrfToken(forSession: token) }

@Suite("Portal")
struct PortalTests {
    @Test("every template parses")
    func templatesParse() throws {
        _ = try PageRenderer()
    }

    @Test("sign-in sets an HttpOnly, SameSite=Strict session cookie (Secure under TLS); the form needs its own token")
    func signInCookie() async throws {
        for tls in [false, true] {
            let fixture = try PortalFixture(tls: tls)
            _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "a long password")
            try await fixture.withClient { client in
                let form = try await client.get("/signin")
                #expect(form.status == 200)
                let preCookie = try #require(form.setCookies.first { $0.hasPrefix("leuknode_signin=") })
                let value = String(preCookie.dropFirst("leuknode_signin=".count).prefix { $0 != ";" })
                #expect(form.html.contains("name=\"csrf\" value=\"\(value)\""))
                let cookie = ["Cookie": "leuknode_signin=\(value)"]
                var headers = HTTPFields()
                headers[.cookie] = cookie["Cookie"]
                // Without the sign-in form's token: refused, no session.
                let forged = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "a long password"], csrf: "0", headers: headers)
                #expect(forged.status == 403)
                #expect(!forged.setCookies.contains { $0.hasPrefix("leuknode_session=lks_") })
                let signedIn = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "a long password"], csrf: value, headers: headers)
                #expect(signedIn.status == 303)
                #expect(signedIn.location == "/appointments")
                let session = try #require(signedIn.setCookies.first { $0.hasPrefix("leuknode_session=lks_") })
                #expect(session.contains("HttpOnly"))
                #expect(session.contains("SameSite=Strict"))
                #expect(session.contains("Secure") == tls)
            }
        }
    }

    @Test("signing out ends the clinic session and clears the cookie; the layout's sign-out form carries the token")
    func signOut() async throws {
        let fixture = try PortalFixture()
        let ana = try await fixture.user("ana", .patient)
        try await fixture.withClient { client in
            let page = try await client.get("/appointments", session: ana.token)
            #expect(page.html.contains("<form method=\"post\" action=\"/signout\" class=\"signout\">\n<input type=\"hidden\" name=\"csrf\" value=\"\(csrf(ana.token))\">"))
            let out = try await client.post("/signout", session: ana.token, form: [:], csrf: csrf(ana.token))
            #expect(out.status == 303)
            #expect(out.location == "/signin?signed_out=1")
            #expect(out.setCookies.contains { $0.hasPrefix("leuknode_session=;") && $0.contains("Max-Age=0") })
            #expect(try await client.get("/appointments", session: ana.token).location == "/signin?ended=1")
        }
        await #expect(throws: ClinicError.self) { try await fixture.caller(ana.token) }
    }

    @Test("a wrong password says so and keeps the name; the lockout shows as on the API (429)")
    func wrongPasswordAndLockout() async throws {
        let fixture = try PortalFixture()
        _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "a long password")
        try await fixture.withClient { client in
            var headers = HTTPFields()
            headers[.cookie] = "leuknode_signin=abc"
            var last = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "nope"], csrf: "abc", headers: headers)
            #expect(last.status == 401)
            #expect(last.html.contains("Wrong user name or password"))
            #expect(last.html.contains("value=\"ana\""))
            for _ in 0..<5 {
                last = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "nope"], csrf: "abc", headers: headers)
            }
            #expect(last.status == 429)
            #expect(last.html.contains("locked"))
            // Locked: even the right password is refused.
            let right = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "a long password"], csrf: "abc", headers: headers)
            #expect(right.status == 429)
        }
    }

    @Test("security headers on pages, static files and 404s")
    func securityHeaders() async throws {
        let fixture = try PortalFixture()
        try await fixture.withClient { client in
            for path in ["/signin", "/static/portal.js", "/static/portal.css", "/no/such/page"] {
                let page = try await client.get(path)
                let csp = try #require(page.header("Content-Security-Policy"))
                #expect(csp.contains("script-src 'self'"))
                #expect(csp.contains("frame-ancestors 'none'"))
                #expect(!csp.contains("unsafe-inline"))
                #expect(page.header("X-Content-Type-Options") == "nosniff")
                #expect(page.header("X-Frame-Options") == "DENY")
                #expect(page.header("Referrer-Policy") == "same-origin")
            }
            #expect(try await client.get("/no/such/page").status == 404)
            // No inline script anywhere: the only script is the static file.
            let page = try await client.get("/signin")
            #expect(page.html.components(separatedBy: "<script").count == 2)
            #expect(page.html.contains("<script src=\"/static/portal.js\" defer></script>"))
        }
    }

    @Test("a form without the session's CSRF token, or from another origin, is refused and changes nothing")
    func csrfAndOrigin() async throws {
        let fixture = try PortalFixture()
        let (doctor, ana, appointment) = try await fixture.booking()
        try await fixture.withClient { client in
            let path = "/appointments/\(appointment.id)/messages"
            let missing = try await client.post(path, session: ana.token, form: ["body": "hi"], csrf: nil)
            #expect(missing.status == 403)
            let other = try await client.post(path, session: ana.token, form: ["body": "hi"], csrf: csrf(doctor.token))
            #expect(other.status == 403)
            var crossSite = HTTPFields()
            crossSite[HTTPField.Name("Sec-Fetch-Site")!] = "same-site"
            let fromElsewhere = try await client.post(path, session: ana.token, form: ["body": "hi"], csrf: csrf(ana.token), headers: crossSite)
            #expect(fromElsewhere.status == 403)
            var otherOrigin = HTTPFields()
            otherOrigin[HTTPField.Name("Origin")!] = "http://evil.example"
            let withOrigin = try await client.post(path, session: ana.token, form: ["body": "hi"], csrf: csrf(ana.token), headers: otherOrigin)
            #expect(withOrigin.status == 403)
            #expect(try await fixture.clinic.messages(by: try await fixture.caller(ana.token), appointment: appointment.id).isEmpty)
            let sent = try await client.post(path, session: ana.token, form: ["body": "hi"], csrf: csrf(ana.token))
            #expect(sent.status == 303)
            #expect(try await fixture.clinic.messages(by: try await fixture.caller(ana.token), appointment: appointment.id).count == 1)
        }
    }

    @Test("patient B gets 404 for everything of patient A's, whatever the URL")
    func otherPatientGets404() async throws {
        let fixture = try PortalFixture()
        let doctor = try await fixture.user("dr.lee", .doctor)
        let ana = try await fixture.user("ana", .patient)
        let ben = try await fixture.user("ben", .patient)
        let doctorCaller = try await fixture.caller(doctor.token)
        let start = Date().addingTimeInterval(86_400)
        let slot = try await fixture.clinic.addSlot(by: doctorCaller, start: start, end: start.addingTimeInterval(1800))
        let other = try await fixture.clinic.addSlot(by: doctorCaller, start: start.addingTimeInterval(3600), end: start.addingTimeInterval(5400))
        let appointment = try await fixture.clinic.book(by: try await fixture.caller(ana.token), slotID: slot.id)
        let outcome = try await fixture.clinic.diagnose(by: doctorCaller, patient: "ana", image: rgbImage(red: 20), fileName: "a.raw")
        _ = try await fixture.clinic.releaseDiagnosis(by: doctorCaller, id: outcome.diagnosis.id, note: "secret note of ana")
        try await fixture.withClient { client in
            for path in ["/appointments/\(appointment.id)", "/diagnoses/\(outcome.diagnosis.id)", "/diagnoses/\(outcome.diagnosis.id)/image",
                         "/appointments/apt_\(String(repeating: "0", count: 32))", "/diagnoses/nonsense", "/queue", "/slots", "/admin/users"] {
                let page = try await client.get(path, session: ben.token)
                #expect(page.status == 404, "\(path)")
                #expect(!page.html.contains("secret note"))
            }
            for action in ["messages", "cancel", "reschedule", "confirm"] {
                let page = try await client.post("/appointments/\(appointment.id)/\(action)", session: ben.token,
                                                 form: ["body": "x", "slot": other.id], csrf: csrf(ben.token))
                #expect(page.status == 404, "\(action)")
            }
            // Ana herself sees her own.
            #expect(try await client.get("/appointments/\(appointment.id)", session: ana.token).status == 200)
            #expect(try await client.get("/diagnoses/\(outcome.diagnosis.id)", session: ana.token).html.contains("secret note of ana"))
        }
        let state = try await fixture.clinic.appointment(by: try await fixture.caller(ana.token), id: appointment.id)
        #expect(state.state == .requested)
        #expect(state.slotID == slot.id)
    }

    @Test("bearer tokens are refused, the operator token above all, also as a cookie")
    func operatorTokenRefused() async throws {
        let fixture = try PortalFixture()
        let ana = try await fixture.user("ana", .patient)
        try await fixture.withClient { client async throws in
            var bearer = HTTPFields()
            bearer[.authorization] = "Bearer \(fixture.token.value)"
            #expect(try await client.get("/admin/users", headers: bearer).status == 401)
            bearer[.authorization] = "Bearer \(ana.token)"
            #expect(try await client.get("/appointments", headers: bearer).status == 401)
            #expect(try await client.get("/admin/users", session: fixture.token.value).status == 401)
            for path in ["/v1/status", "/v1/users", "/metrics", "/v1/openapi.yaml", "/v1/events"] {
                #expect(try await client.get(path, session: ana.token).status == 404, "\(path)")
            }
        }
    }

    @Test("message bodies and names are escaped; the page shows them as text")
    func escaping() async throws {
        let fixture = try PortalFixture()
        let (doctor, ana, appointment) = try await fixture.booking(reason: "\"><b>bold</b>")
        let payload = "<script>alert('x')</script> & \"quotes\""
        _ = try await fixture.clinic.sendMessage(by: try await fixture.caller(ana.token), appointment: appointment.id, body: payload)
        try await fixture.withClient { client in
            let page = try await client.get("/appointments/\(appointment.id)", session: doctor.token)
            #expect(page.status == 200)
            #expect(!page.html.contains("<script>alert"))
            #expect(page.html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"))
            #expect(!page.html.contains("<b>bold</b>"))
        }
    }

    @Test("the session ends after the clinic's idle timeout, as on the API")
    func idleLogOff() async throws {
        let fixture = try PortalFixture()
        let ana = try await fixture.user("ana", .patient)
        try await fixture.withClient { client in
            #expect(try await client.get("/appointments", session: ana.token).status == 200)
            fixture.clock.advance(.seconds(16 * 60))
            let after = try await client.get("/appointments", session: ana.token)
            #expect(after.status == 303)
            #expect(after.location == "/signin?ended=1")
            #expect(try await client.get("/signin?ended=1").html.contains("Your session ended"))
        }
    }

    @Test("a refused form keeps what was typed and says what is wrong")
    func formsKeepInput() async throws {
        let fixture = try PortalFixture()
        let doctor = try await fixture.user("dr.lee", .doctor)
        let day = DateFormatter()
        day.locale = Locale(identifier: "en_US_POSIX")
        day.timeZone = TimeZone(identifier: "UTC")
        day.dateFormat = "yyyy-MM-dd"
        let date = day.string(from: Date().addingTimeInterval(30 * 86_400))
        try await fixture.withClient { client in
            let bad = try await client.post("/slots", session: doctor.token, form: ["start": "\(date)T09:30", "minutes": "2"], csrf: csrf(doctor.token))
            #expect(bad.status == 422)
            #expect(bad.html.contains("value=\"\(date)T09:30\""))
            #expect(bad.html.contains("5 to 480"))
            let past = try await client.post("/slots", session: doctor.token, form: ["start": "2001-05-06T09:30", "minutes": "30"], csrf: csrf(doctor.token))
            #expect(past.status == 422)
            #expect(past.html.contains("value=\"2001-05-06T09:30\""))
            // The browser's local time, converted by portal.js, wins over the field read as UTC.
            let good = try await client.post("/slots", session: doctor.token,
                                             form: ["start": "\(date)T09:30", "start_utc": "\(date)T04:00:00.000Z", "minutes": "30"],
                                             csrf: csrf(doctor.token))
            #expect(good.status == 303)
        }
        let slots = try await fixture.clinic.listSlots(by: try await fixture.caller(doctor.token))
        #expect(slots.map(\.start) == [ISO8601DateFormatter().date(from: "\(date)T04:00:00Z")!])
    }

    @Test("a doctor removes a free slot of their own; another doctor's slot is 404, a booked one stays with a reason")
    func removeSlot() async throws {
        let fixture = try PortalFixture()
        let (doctor, _, appointment) = try await fixture.booking()
        let other = try await fixture.user("dr.yang", .doctor)
        let start = Date().addingTimeInterval(3 * 86_400)
        let free = try await fixture.clinic.addSlot(by: try await fixture.caller(doctor.token), start: start, end: start.addingTimeInterval(1800))
        try await fixture.withClient { client in
            let page = try await client.get("/slots", session: doctor.token)
            #expect(page.html.contains("action=\"/slots/\(free.id)/remove\""))
            #expect(!page.html.contains("action=\"/slots/\(appointment.slotID)/remove\""))
            #expect(try await client.post("/slots/\(free.id)/remove", session: other.token, form: [:], csrf: csrf(other.token)).status == 404)
            #expect(try await client.post("/slots/\(free.id)/remove", session: doctor.token, form: [:], csrf: nil).status == 403)
            let booked = try await client.post("/slots/\(appointment.slotID)/remove", session: doctor.token, form: [:], csrf: csrf(doctor.token))
            #expect(booked.status == 409)
            #expect(booked.html.contains("is booked"))
            let removed = try await client.post("/slots/\(free.id)/remove", session: doctor.token, form: [:], csrf: csrf(doctor.token))
            #expect(removed.status == 303)
        }
        #expect(try await fixture.clinic.listSlots(by: try await fixture.caller(doctor.token)).map(\.id) == [appointment.slotID])
    }

    @Test("the patient reschedules and cancels; the doctor confirms and completes; each is the clinic's transition")
    func appointmentLifecycle() async throws {
        let fixture = try PortalFixture()
        let (doctor, ana, appointment) = try await fixture.booking()
        let later = Date().addingTimeInterval(2 * 86_400)
        let other = try await fixture.clinic.addSlot(by: try await fixture.caller(doctor.token), start: later, end: later.addingTimeInterval(1800))
        try await fixture.withClient { client in
            let path = "/appointments/\(appointment.id)"
            let page = try await client.get(path, session: ana.token)
            #expect(page.html.contains("<option value=\"\(other.id)\""))
            #expect(!page.html.contains("/confirm"))  // the patient has no confirm button
            #expect(try await client.post(path + "/reschedule", session: ana.token, form: ["slot": other.id], csrf: csrf(ana.token)).location == path + "?done=rescheduled")
            #expect(try await client.post(path + "/confirm", session: ana.token, form: [:], csrf: csrf(ana.token)).status == 404)
            #expect(try await client.post(path + "/confirm", session: doctor.token, form: [:], csrf: csrf(doctor.token)).status == 303)
            // A refused transition keeps the page and says why (confirming twice).
            let twice = try await client.post(path + "/confirm", session: doctor.token, form: [:], csrf: csrf(doctor.token))
            #expect(twice.status == 409 || twice.status == 422)
            #expect(twice.html.contains("role=\"alert\""))
            #expect(try await client.post(path + "/cancel", session: ana.token, form: ["reason": "travelling"], csrf: csrf(ana.token)).status == 303)
            #expect(try await client.get(path, session: ana.token).html.contains("data-appointment-state=\"\(appointment.id)\">cancelled<"))
        }
        let final = try await fixture.clinic.appointment(by: try await fixture.caller(ana.token), id: appointment.id)
        #expect(final.state == .cancelled)
        #expect(final.slotID == other.id)
    }

    @Test("an admin disables an account: its open session ends and its sign-in says why; enabling restores it")
    func disableAccount() async throws {
        let fixture = try PortalFixture()
        let ana = try await fixture.user("ana", .patient, password: "ana password")
        let root = try await fixture.user("root", .admin)
        try await fixture.withClient { client in
            let users = try await client.get("/admin/users", session: root.token)
            #expect(users.html.contains("action=\"/admin/users/\(ana.id)/disable\""))
            #expect(!users.html.contains("action=\"/admin/users/\(root.id)/disable\""))  // not one's own
            let disabled = try await client.post("/admin/users/\(ana.id)/disable", session: root.token, form: [:], csrf: csrf(root.token))
            #expect(disabled.status == 303)
            #expect(try await client.get("/appointments", session: ana.token).location == "/signin?ended=1")
            var headers = HTTPFields()
            headers[.cookie] = "leuknode_signin=abc"
            let signIn = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "ana password"], csrf: "abc", headers: headers)
            #expect(signIn.status == 401)
            #expect(signIn.html.contains("is disabled"))
            #expect(try await client.get("/admin/users", session: root.token).html.contains("<td>disabled</td>"))
            let enabled = try await client.post("/admin/users/\(ana.id)/enable", session: root.token, form: [:], csrf: csrf(root.token))
            #expect(enabled.status == 303)
            let again = try await client.post("/signin", session: nil, form: ["name": "ana", "password": "ana password"], csrf: "abc", headers: headers)
            #expect(again.status == 303)
        }
    }

    @Test("a doctor's upload runs the clinic's diagnosis; a bad image is a clear error that keeps the patient and the file")
    func upload() async throws {
        let fixture = try PortalFixture()
        let doctor = try await fixture.user("dr.lee", .doctor)
        _ = try await fixture.user("ana", .patient)
        try await fixture.withClient { client in
            func multipart(_ fields: [(String, String)], file: (name: String, bytes: [UInt8])?) -> (HTTPFields, [UInt8]) {
                let boundary = "----leukportal-test"
                var body: [UInt8] = []
                for (name, value) in fields {
                    body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
                }
                if let file {
                    body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"\(file.name)\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
                    body += file.bytes + Array("\r\n".utf8)
                }
                body += Array("--\(boundary)--\r\n".utf8)
                var headers = HTTPFields()
                headers[.contentType] = "multipart/form-data; boundary=\(boundary)"
                return (headers, body)
            }
            let (badHeaders, badBody) = multipart([("csrf", csrf(doctor.token)), ("patient", "ana")], file: ("cell.raw", [1, 2]))
            let bad = try await client.send(.post, "/diagnose", session: doctor.token, headers: badHeaders, body: badBody)
            #expect(bad.status == 422)
            #expect(bad.html.contains("not raw RGB"))
            #expect(bad.html.contains("value=\"ana\""))
            #expect(bad.html.contains("name=\"kept_name\" value=\"cell.raw\""))
            let (unknownHeaders, unknownBody) = multipart([("csrf", csrf(doctor.token)), ("patient", "nobody")], file: ("cell.raw", rgbImage(red: 200)))
            let unknown = try await client.send(.post, "/diagnose", session: doctor.token, headers: unknownHeaders, body: unknownBody)
            #expect(unknown.status == 404 || unknown.status == 422)
            #expect(unknown.html.contains("nobody"))
            // The image kept by the refused form is sent again without choosing the file again.
            let kept = Data(rgbImage(red: 200)).base64EncodedString()
            let (keptHeaders, keptBody) = multipart([("csrf", csrf(doctor.token)), ("patient", "ana"), ("kept_image", kept), ("kept_name", "cell.raw")], file: nil)
            let good = try await client.send(.post, "/diagnose", session: doctor.token, headers: keptHeaders, body: keptBody)
            #expect(good.status == 303)
            let location = try #require(good.location)
            #expect(location.hasPrefix("/diagnoses/dgn_"))
            let page = try await client.get(String(location.prefix { $0 != "?" }), session: doctor.token)
            #expect(page.html.contains("<td>all</td><td>0.7843</td>"))
            #expect(page.html.contains("version \(MeanRedClassifier.modelVersion)"))
        }
    }

    @Test("a portal action writes the same audit entry as its API twin")
    func audited() async throws {
        let fixture = try PortalFixture()
        let doctor = try await fixture.user("dr.lee", .doctor)
        let ana = try await fixture.user("ana", .patient)
        let start = Date().addingTimeInterval(86_400)
        let slot = try await fixture.clinic.addSlot(by: try await fixture.caller(doctor.token), start: start, end: start.addingTimeInterval(1800))
        try await fixture.withClient { client in
            let booked = try await client.post("/appointments", session: ana.token, form: ["slot": slot.id], csrf: csrf(ana.token))
            #expect(booked.status == 303)
        }
        let log = try await fixture.clinic.auditLog(by: fixture.operatorCaller, limit: 1000)
        let booking = try #require(log.first { $0.action == "appointment.book" })
        #expect(booking.actorID == ana.id)
        #expect(booking.patientID == ana.id)
        let verification = try await fixture.clinic.verifyAudit(by: fixture.operatorCaller)
        #expect(verification.ok)
    }

    @Test("live updates: a message arrives on the event stream, and revoking the sessions ends it with session-ended")
    func events() async throws {
        let fixture = try PortalFixture()
        let (doctor, ana, appointment) = try await fixture.booking()
        let admin = fixture.operatorCaller
        try await fixture.withClient { client in
            async let stream = client.get("/events", session: ana.token)
            // Until the portal's stream has subscribed (a deadline, not a fixed pause: under load the
            // subscription took longer than the 300 ms this test once slept, and the message was missed).
            for _ in 0..<6_000 where fixture.clinic.events.subscriberCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
            #expect(fixture.clinic.events.subscriberCount == 1)
            _ = try await fixture.clinic.sendMessage(by: try await fixture.caller(doctor.token), appointment: appointment.id, body: "<b>hello</b>")
            try await Task.sleep(for: .milliseconds(100))
            _ = try await fixture.clinic.revokeSessions(by: admin, userID: "ana")
            let page = try await stream
            #expect(page.status == 200)
            #expect(page.header("Content-Type") == "text/event-stream")
            #expect(page.html.hasPrefix("event: ready"))
            #expect(page.html.contains("event: message\n"))
            #expect(page.html.contains("<b>hello</b>"))  // JSON for the script, which inserts it as text
            #expect(page.html.hasSuffix("event: session-ended\ndata: {}\n\n"))
        }
    }

    @Test("without TLS the portal listens on loopback only")
    func loopbackOnly() throws {
        #expect(throws: PortalSetupError.self) { try PortalConfiguration(address: "0.0.0.0:8080", tls: nil) }
        #expect(throws: PortalSetupError.self) { try PortalConfiguration(address: "192.0.2.1:8080", tls: nil) }
        #expect(try PortalConfiguration(address: "127.0.0.1:8080", tls: nil).url(port: 8080) == "http://127.0.0.1:8080")
        let tls = PortalTLS(certificatePath: "c.pem", keyPath: "k.pem")
        #expect(try PortalConfiguration(address: "0.0.0.0:8443", tls: tls).url(port: 8443) == "https://0.0.0.0:8443")
    }
}

import Foundation
import HTTPTypes
import LeukClinic
import LeukCore
import LeukCrypto
@_spi(Generated) import OpenAPIRuntime

/// A JSON request body of the document, with the checks the generated code does not make (string lengths,
/// the user-name pattern, the contact string, the version's range) and the mapping onto what the clinic or
/// the node takes. `APIHandler` calls `checked()` on every body it reads; `APIRequestBodies` (the fuzz
/// target's entry point) calls the same function, so what is fuzzed is what a request runs.
protocol CheckedRequestBody: Codable, Hashable, Sendable {
    associatedtype Checked: Equatable, Sendable
    func checked() throws(APIError) -> Checked
}

/// A new account, as `Clinic.createUser` takes it.
struct NewUser: Equatable, Sendable {
    var name: String
    var role: Role
    var password: String
}

/// An image for diagnosis, decoded from its base64 (the clinic decodes the image itself).
struct ImageSubmission: Equatable, Sendable {
    var patient: String
    var fileName: String
    var image: [UInt8]
}

/// A booking: the slot, the patient a doctor books for, and the reason.
struct Booking: Equatable, Sendable {
    var slot: String
    var patient: String?
    var reason: String?
}

/// An operator's promotion of a kept model version.
struct Promotion: Equatable, Sendable {
    var version: UInt64
    var force: Bool
}

extension Components.Schemas.LoginRequest: CheckedRequestBody {
    /// Nothing to check: a wrong name or password is the clinic's answer, the same for both.
    func checked() -> Self { self }
}

extension Components.Schemas.CreateUserRequest: CheckedRequestBody {
    func checked() throws(APIError) -> NewUser {
        try FieldRule.userName(name, of: "name")
        try FieldRule.length(password, of: "password", 8...1024)
        guard let role = Role(rawValue: role.rawValue) else {
            throw APIError(status: 500, "the document's role '\(role.rawValue)' is not one the clinic knows")
        }
        return NewUser(name: name, role: role, password: password)
    }
}

extension Components.Schemas.BreakGlassRequest: CheckedRequestBody {
    func checked() throws(APIError) -> Self {
        try FieldRule.length(reason, of: "reason", 10...1000)
        return self
    }
}

extension Components.Schemas.DiagnoseRequest: CheckedRequestBody {
    func checked() throws(APIError) -> ImageSubmission {
        try FieldRule.length(file_name, of: "file_name", 1...255)
        return ImageSubmission(patient: patient, fileName: file_name, image: [UInt8](image_base64.data))
    }
}

extension Components.Schemas.NoteRequest: CheckedRequestBody {
    func checked() throws(APIError) -> String {
        try FieldRule.length(note, of: "note", 0...4000)
        return note
    }
}

extension Components.Schemas.ReleaseRequest: CheckedRequestBody {
    func checked() throws(APIError) -> String? {
        try FieldRule.length(note, of: "note", 0...4000)
        return note
    }
}

extension Components.Schemas.SlotRequest: CheckedRequestBody {
    /// The dates are read by the generated code (`ISO8601Transcoder`); their order and range are the clinic's rules.
    func checked() -> Self { self }
}

extension Components.Schemas.BookRequest: CheckedRequestBody {
    func checked() throws(APIError) -> Booking {
        try FieldRule.length(reason, of: "reason", 0...4000)
        return Booking(slot: slot, patient: patient?.value1, reason: reason)
    }
}

extension Components.Schemas.RescheduleRequest: CheckedRequestBody {
    func checked() -> String { slot }
}

extension Components.Schemas.CancelRequest: CheckedRequestBody {
    func checked() throws(APIError) -> String? {
        try FieldRule.length(reason, of: "reason", 0...4000)
        return reason
    }
}

extension Components.Schemas.MessageRequest: CheckedRequestBody {
    func checked() throws(APIError) -> String {
        try FieldRule.length(body, of: "body", 1...4000)
        return body
    }
}

extension Operations.addPeer.Input.Body.jsonPayload: CheckedRequestBody {
    func checked() throws(APIError) -> Contact {
        do { return try Contact(parsing: contact) } catch {
            throw APIError(status: 400, "contact: \(error.description)", hint: error.hint)
        }
    }
}

extension Operations.promoteModel.Input.Body.jsonPayload: CheckedRequestBody {
    func checked() throws(APIError) -> Promotion {
        guard version >= 0 else { throw APIError(status: 400, "version must be a model version (0 or more), not \(version)") }
        return Promotion(version: UInt64(version), force: force ?? false)
    }
}

extension Operations.pinModel.Input.Body.jsonPayload: CheckedRequestBody {
    func checked() -> Bool { pinned }
}

/// Every JSON request body the API takes, read as a request's is, without a server: the route's body limit
/// and body rule (`OperationGate.collect`, `OperationGate.checkedBody`), the generated server's decoding
/// (OpenAPIRuntime's `Converter`, with the server's `ResponseJSON.configuration`, the same call its
/// deserializer makes for the operation), then the handler's `checked()`. What follows in a request (the
/// caller's access, the clinic's and the node's own rules) needs a clinic, a caller and a node, and is not here.
/// The fuzz target `api-json` (LeukFuzz) feeds bytes through `read`; LeukAPITests checks that every
/// operation with a body in the route table is listed.
public enum APIRequestBodies {
    /// The operations that take a JSON body, in the route table's order.
    public static var operationIDs: [String] { readers.map(\.operationID) }

    /// `bytes` as the body of `operationID`: refused with the `APIError` a request would get (413, 400 or 422),
    /// or accepted. An absent optional body is `[]`.
    public static func read(_ bytes: [UInt8], operationID: String) async throws -> APIRequestBody {
        guard let reader = readers.first(where: { $0.operationID == operationID }), let route = routes[operationID] else {
            throw APIError(status: 404, "operation '\(operationID)' takes no JSON body")
        }
        return try await reader.read(bytes, route)
    }

    /// Valid bodies for every operation, each encoded as the generated client sends it (the same converter),
    /// for the fuzz target's seeds: a new user of each role, a slot, a booking, a message, an image, the
    /// model verbs, `contact` as the peer to admit, and the absent optional bodies.
    public static func examples(contact: String, image: [UInt8]) async throws -> [(operationID: String, body: [UInt8])] {
        let start = Date(timeIntervalSince1970: 1_796_203_800)  // 2026-12-02T09:30:00Z
        let bodies: [(String, (any Encodable & Sendable)?)] = [
            ("login", Components.Schemas.LoginRequest(name: "dr-ada", password: "correct horse")),
            ("createUser", Components.Schemas.CreateUserRequest(name: "pat-bob", role: .patient, password: "battery staple")),
            ("createUser", Components.Schemas.CreateUserRequest(name: "dr.ada@clinic", role: .doctor, password: "correct horse")),
            ("breakGlass", Components.Schemas.BreakGlassRequest(patient: "pat-bob", reason: "unconscious on admission, no consent possible")),
            ("diagnose", Components.Schemas.DiagnoseRequest(patient: "pat-bob", file_name: "smear.png", image_base64: .init(image))),
            ("reviewDiagnosis", Components.Schemas.NoteRequest(note: "Blasts present; refer to haematology.")),
            ("releaseDiagnosis", Components.Schemas.ReleaseRequest(note: "Please book a follow-up.")),
            ("releaseDiagnosis", nil),
            ("addSlot", Components.Schemas.SlotRequest(start: start, end: start.addingTimeInterval(1800))),
            ("book", Components.Schemas.BookRequest(slot: "slot-1", patient: .init(value1: "pat-bob"), reason: "follow-up of a smear")),
            ("book", Components.Schemas.BookRequest(slot: "slot-1")),
            ("rescheduleAppointment", Components.Schemas.RescheduleRequest(slot: "slot-2")),
            ("cancelAppointment", Components.Schemas.CancelRequest(reason: "travelling")),
            ("cancelAppointment", nil),
            ("sendMessage", Components.Schemas.MessageRequest(body: "See you then. Ça va?")),
            ("addPeer", Operations.addPeer.Input.Body.jsonPayload(contact: contact)),
            ("promoteModel", Operations.promoteModel.Input.Body.jsonPayload(version: 3, force: true)),
            ("promoteModel", Operations.promoteModel.Input.Body.jsonPayload(version: 1)),
            ("pinModel", Operations.pinModel.Input.Body.jsonPayload(pinned: true)),
            ("pinModel", Operations.pinModel.Input.Body.jsonPayload(pinned: false)),
        ]
        var examples: [(operationID: String, body: [UInt8])] = []
        for (operationID, body) in bodies {
            var bytes: [UInt8] = []
            if let body { bytes = try await encoded(body) }
            examples.append((operationID, bytes))
        }
        return examples
    }

    /// `body` as the generated client encodes a request body.
    static func encoded(_ body: some Encodable) async throws -> [UInt8] {
        var fields = HTTPFields()
        let converter = Converter(configuration: ResponseJSON.configuration)
        let http = try converter.setRequiredRequestBodyAsJSON(body, headerFields: &fields, contentType: "application/json; charset=utf-8")
        return try await [UInt8](collecting: http, upTo: .max)
    }

    static let routes: [String: APIRoute] = Dictionary(
        RouteTable.routes(maxImageBytes: ClinicConfiguration().maxImageBytes).map { ($0.operationID, $0) },
        uniquingKeysWith: { first, _ in first })

    /// The body type each operation's generated deserializer reads.
    static let readers: [Reader] = [
        Reader("login", Components.Schemas.LoginRequest.self),
        Reader("createUser", Components.Schemas.CreateUserRequest.self),
        Reader("breakGlass", Components.Schemas.BreakGlassRequest.self),
        Reader("diagnose", Components.Schemas.DiagnoseRequest.self),
        Reader("reviewDiagnosis", Components.Schemas.NoteRequest.self),
        Reader("releaseDiagnosis", Components.Schemas.ReleaseRequest.self),
        Reader("addSlot", Components.Schemas.SlotRequest.self),
        Reader("book", Components.Schemas.BookRequest.self),
        Reader("rescheduleAppointment", Components.Schemas.RescheduleRequest.self),
        Reader("cancelAppointment", Components.Schemas.CancelRequest.self),
        Reader("sendMessage", Components.Schemas.MessageRequest.self),
        Reader("addPeer", Operations.addPeer.Input.Body.jsonPayload.self),
        Reader("promoteModel", Operations.promoteModel.Input.Body.jsonPayload.self),
        Reader("pinModel", Operations.pinModel.Input.Body.jsonPayload.self),
    ]

    struct Reader: Sendable {
        let operationID: String
        let read: @Sendable ([UInt8], APIRoute) async throws -> APIRequestBody

        init<Body: CheckedRequestBody>(_ operationID: String, _ type: Body.Type) {
            self.operationID = operationID
            read = { bytes, route in try await APIRequestBodies.read(bytes, as: Body.self, route: route) }
        }
    }

    static func read<Body: CheckedRequestBody>(_ bytes: [UInt8], as type: Body.Type, route: APIRoute) async throws -> APIRequestBody {
        let request = HTTPRequest(method: .post, scheme: nil, authority: nil, path: route.path,
                                  headerFields: [.contentType: "application/json", .contentLength: String(bytes.count)])
        let collected = try await OperationGate.collect(HTTPBody(bytes), request: request, limit: route.maxBodyBytes)
        let checkedBody = try OperationGate.checkedBody(collected, rule: route.body)
        let converter = Converter(configuration: ResponseJSON.configuration)
        let body: Body?
        do {
            if case .optional = route.body {
                body = try await converter.getOptionalRequestBodyAsJSON(Body.self, from: checkedBody, transforming: { $0 })
            } else {
                body = try await converter.getRequiredRequestBodyAsJSON(Body.self, from: checkedBody, transforming: { $0 })
            }
        } catch {
            // As `ErrorMiddleware` answers what the generated server throws while reading a body.
            throw StrictJSON.refusal(reading: error, subject: nil) ?? APIError(status: 400, "the request could not be read: \(error)")
        }
        let checked = try body?.checked()
        var again: [UInt8] = []
        if let body { again = try await encoded(body) }
        return APIRequestBody(operationID: route.operationID, encoded: again, checked: checked)
    }
}

/// A request body the API accepted: what the handler passes on, and the body as the generated client would
/// send it again (sorted keys, dates to the second; `[]` for an absent optional body).
public struct APIRequestBody: Sendable, Equatable {
    public let operationID: String
    public let encoded: [UInt8]
    let checked: any Equatable & Sendable

    public static func == (a: APIRequestBody, b: APIRequestBody) -> Bool {
        a.operationID == b.operationID && a.encoded == b.encoded && same(a.checked, b.checked)
    }

    private static func same<T: Equatable>(_ a: T, _ b: any Equatable) -> Bool { (b as? T) == a }
}

import Foundation
import LeukCore
import LeukCrypto
import LeukStore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 6, "done means", against a real node process: people, a diagnosis, an appointment, a
/// message pushed to a live watch stream, refusals, kill -9, the audit chain and encryption at rest.
@Suite("Clinic on a real node")
struct ClinicE2ETests {
    /// A clinic user with their own CLI session file.
    struct Person {
        var name: String
        var password: String
        var sessionFile: String
        var environment: [String: String] { ["LEUKNODE_SESSION": sessionFile] }
        var token: String {
            String(decoding: FileManager.default.contents(atPath: sessionFile) ?? Data(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test("doctor, patients, diagnosis, appointment, live message, refusals, kill -9, audit and encryption at rest",
          .timeLimit(.minutes(3)))
    func clinicEndToEnd() async throws {
        let scratch = try Scratch("clinic")
        defer { scratch.tearDown() }
        let node = try await TestNode.create("clinic", in: scratch)
        let cells = try await synthesizeDataset(scratch, name: "cells", count: 4, seed: 5, site: 0)
        try await node.start(["--gossip-interval", "0.3"])
        let dir = ["--data-dir", node.dataDir]
        func cli(_ args: [String], as person: Person? = nil, stdin: String? = nil) async throws -> CommandResult {
            try await scratch.run(args + dir, stdin: stdin, environment: person?.environment ?? [:])
        }

        // The operator (DATA_DIR/admin.token, written at first start) creates a doctor and two patients.
        #expect(FileManager.default.fileExists(atPath: node.dataDir + "/admin.token"))
        let tag = Hex.encode((0..<4).map { _ in UInt8.random(in: 0...255) })
        func person(_ role: String) -> Person {
            Person(name: "\(role)-\(tag)", password: "pw-\(role)-\(UUID().uuidString)", sessionFile: scratch.file("\(role).session"))
        }
        let doctor = person("doctor"), alice = person("alice"), bob = person("bob")
        for (someone, role) in [(doctor, "doctor"), (alice, "patient"), (bob, "patient")] {
            let created = try await cli(["user", "add", "--role", role, "--name", someone.name, "--password-stdin", "--json"],
                                        stdin: someone.password + "\n").checked().json()
            #expect(created["name"].string == someone.name && created["role"].string == role, "\(created)")
            try await cli(["login", "--name", someone.name, "--password-stdin"], as: someone, stdin: someone.password + "\n").checked()
        }

        // The doctor publishes a slot and diagnoses an image for alice.
        let tomorrow = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400).rounded(toMinutes: 30))
        let slot = try await cli(["slot", "add", "--start", tomorrow, "--minutes", "30", "--json"], as: doctor).checked().json()
        let slotID = try #require(slot["id"].string, "\(slot)")
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: cells + "/all").sorted().first)
        let diagnosis = try await Self.diagnose(scratch: scratch, node: node, doctor: doctor, patient: alice.name,
                                                 image: cells + "/all/" + image)
        // The outcome proposed an appointment when it called for one; otherwise alice books the slot.
        var appointmentID = diagnosis.appointmentID
        if appointmentID == nil {
            let booked = try await cli(["appointment", "book", "--slot", slotID, "--reason", "follow-up of \(diagnosis.id)", "--json"],
                                       as: alice).checked().json()
            appointmentID = booked["id"].string
        }
        let appointment = try #require(appointmentID)
        let confirmed = try await cli(["appointment", "confirm", appointment, "--json"], as: doctor).checked().json()
        #expect(confirmed["state"].string == "confirmed", "\(confirmed)")
        let released = try await cli(["diagnosis", "release", diagnosis.id, "--note", "discussed at the visit", "--json"], as: doctor)
            .checked().json()
        #expect(released["review_state"].string == "released", "\(released)")

        // alice sees her appointment and result.
        let aliceAppointments = try await cli(["appointment", "list", "--json"], as: alice).checked().json()
        #expect(aliceAppointments.array.contains { $0["id"].string == appointment && $0["state"].string == "confirmed" },
                "\(aliceAppointments)")
        let aliceDiagnoses = try await cli(["diagnosis", "list", "--json"], as: alice).checked().json()
        #expect(aliceDiagnoses.array.contains { $0["id"].string == diagnosis.id }, "\(aliceDiagnoses)")

        // The doctor watches; alice writes; the watch stream shows the message.
        let canary = "canary-\(UUID().uuidString)"
        let watchOut = scratch.file("watch.out"), watchErr = scratch.file("watch.err")
        let watcher = try scratch.launch(["message", "watch", "--appointment", appointment] + dir, environment: doctor.environment,
                                         stdoutPath: watchOut, stderrPath: watchErr)
        _ = try await eventually("the doctor's watch stream to open") { () -> Poll<Void> in
            if !watcher.isRunning { throw E2EFailure("message watch exited: \(readText(watchErr))") }
            return readText(watchErr).contains("watching") ? .done(()) : .waiting(readText(watchErr))
        }
        let text = "Doctor, I have a question about my result. \(canary)"
        let sent = try await cli(["message", "send", appointment, text, "--json"], as: alice).checked().json()
        let messageID = try #require(sent["id"].string, "\(sent)")
        let line = try await eventually("the message on the doctor's watch stream", timeout: 30) { () -> Poll<String> in
            let out = readText(watchOut)
            if let line = out.split(separator: "\n").first(where: { $0.contains(canary) }) { return .done(String(line)) }
            return .waiting("stdout: \(out) stderr: \(readText(watchErr))")
        }
        #expect(line.contains(alice.name) && line.contains(appointment), "\(line)")
        kill(watcher.processIdentifier, SIGTERM)

        // bob is refused (403 or 404) on every one of alice's records.
        // Each request is well-formed (valid body), so only the caller can be the reason for a refusal.
        let aliceRecords: [Request] = [
            Request("GET", "/v1/diagnoses/\(diagnosis.id)"), Request("GET", "/v1/diagnoses/\(diagnosis.id)/image"),
            Request("POST", "/v1/diagnoses/\(diagnosis.id)/review", ["note": "mine now"]),
            Request("POST", "/v1/diagnoses/\(diagnosis.id)/release", [:]),
            Request("GET", "/v1/appointments/\(appointment)"), Request("GET", "/v1/appointments/\(appointment)/messages"),
            Request("POST", "/v1/appointments/\(appointment)/messages", ["body": "mine now"]),
            Request("POST", "/v1/appointments/\(appointment)/cancel", [:]),
            Request("POST", "/v1/appointments/\(appointment)/reschedule", ["slot": slotID]),
            Request("POST", "/v1/appointments/\(appointment)/confirm", [:]),
            Request("POST", "/v1/appointments/\(appointment)/complete", [:]),
            Request("GET", "/v1/events?appointment=\(appointment)"),
        ]
        try await Self.expectRefused(bob, aliceRecords, port: node.apiPort)
        let bobDiagnoses = try await cli(["diagnosis", "list", "--json"], as: bob).checked().json()
        #expect(bobDiagnoses.array.isEmpty, "bob sees diagnoses: \(bobDiagnoses)")
        let bobAppointments = try await cli(["appointment", "list", "--json"], as: bob).checked().json()
        #expect(bobAppointments.array.isEmpty, "bob sees appointments: \(bobAppointments)")
        // Asking for alice's lists by name gets bob a refusal or nothing of hers.
        for path in ["/v1/diagnoses?patient=\(alice.name)", "/v1/appointments?patient=\(alice.name)"] {
            let reply = try await HTTP.call("GET", port: node.apiPort, path, token: bob.token)
            #expect(reply.status == 403 || reply.status == 404 || (reply.status == 200 && reply.json?.array.isEmpty == true),
                    "bob: GET \(path) -> \(reply)")
        }
        let bobShow = try await cli(["diagnosis", "show", diagnosis.id], as: bob)
        #expect(!bobShow.succeeded && !bobShow.stdout.contains(canary), "\(bobShow)")

        // kill -9, restart: every acknowledged record is still there (sessions included).
        node.killHard()
        try await node.start(["--gossip-interval", "0.3"])
        let users = try await cli(["user", "list", "--json"]).checked().json()
        for someone in [doctor, alice, bob] {
            #expect(users.array.contains { $0["name"].string == someone.name }, "\(someone.name) lost: \(users)")
        }
        let shown = try await cli(["diagnosis", "show", diagnosis.id, "--json"], as: doctor).checked().json()
        #expect(shown["review_state"].string == "released" && shown["patient_name"].string == alice.name, "\(shown)")
        #expect(shown["probabilities"].description == diagnosis.probabilities.description, "\(shown) vs \(diagnosis.probabilities)")
        let afterAppointments = try await cli(["appointment", "list", "--json"], as: alice).checked().json()
        #expect(afterAppointments.array.contains { $0["id"].string == appointment && $0["state"].string == "confirmed" },
                "\(afterAppointments)")
        let thread = try await cli(["message", "list", appointment, "--json"], as: doctor).checked().json()
        #expect(thread.array.contains { $0["id"].string == messageID && $0["body"].string == text }, "\(thread)")
        let slots = try await cli(["slot", "list", "--json"], as: doctor).checked().json()
        #expect(slots.array.contains { $0["id"].string == slotID && $0["booked"] .description == "true" }, "\(slots)")
        try await Self.expectRefused(bob, aliceRecords.prefix(2), port: node.apiPort)

        // The audit chain verifies.
        let verified = try await cli(["audit", "verify", "--json"]).checked().json()
        #expect(verified["ok"].description == "true" && (verified["entries"].int ?? 0) > 10, "\(verified)")

        // Stopped, the database files hold none of the clinical text in the clear.
        try await node.stop()
        let secrets = [canary, alice.name, bob.name, "follow-up of", "discussed at the visit"]
        let found = try Self.plaintextHits(secrets, under: node.dataDir + "/db")
        #expect(found.isEmpty, "found in the raw database files: \(found)")

        // Someone with the node's key edits one audit entry and re-encrypts it: verify must fail.
        let edited = try Self.tamperWithAuditEntry(dataDir: node.dataDir)
        try await node.start(["--gossip-interval", "0.3"])
        let tampered = try await cli(["audit", "verify"])
        #expect(tampered.status == 1, "audit verify passed a tampered log: \(tampered)")
        #expect(tampered.stdout.contains("TAMPERED") && tampered.stdout.contains("entry \(edited)"), "\(tampered)")
        try await node.stop()
    }

    struct Diagnosis {
        var id: String
        var appointmentID: String?
        var probabilities: JSON
    }

    /// `leuknode diagnose --patient NAME IMAGE --json` with the doctor's session: the running node
    /// classifies the image with its current model, stores the diagnosis and proposes a follow-up.
    static func diagnose(scratch: Scratch, node: TestNode, doctor: Person, patient: String, image: String) async throws -> Diagnosis {
        let report = try await scratch.run(["diagnose", "--patient", patient, image, "--json", "--data-dir", node.dataDir],
                                           environment: doctor.environment).checked().json()
        let result = try #require(report["results"].array.first, "\(report)")
        let id = try #require(result["diagnosis_id"].string, "\(report)")
        #expect(report["patient"].string == patient && report["model_sha256"].string?.count == 64, "\(report)")
        return Diagnosis(id: id, appointmentID: result["appointment"]["id"].string, probabilities: result["probabilities"])
    }

    struct Request {
        var method: String
        var path: String
        var body: [String: String]?
        init(_ method: String, _ path: String, _ body: [String: String]? = nil) {
            self.method = method
            self.path = path
            self.body = body
        }
    }

    static func expectRefused<C: Collection>(_ someone: Person, _ requests: C, port: Int) async throws where C.Element == Request {
        for request in requests {
            let reply = try await HTTP.call(request.method, port: port, request.path, token: someone.token, json: request.body)
            #expect(reply.status == 403 || reply.status == 404, "\(someone.name): \(request.method) \(request.path) -> \(reply)")
        }
    }

    /// Which of `needles` occur in the bytes of any file under `directory`.
    static func plaintextHits(_ needles: [String], under directory: String) throws -> [String] {
        let files = try FileManager.default.subpathsOfDirectory(atPath: directory)
        #expect(!files.isEmpty)
        var hits: [String] = []
        for file in files {
            let path = directory + "/" + file
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            for needle in needles where data.range(of: Data(needle.utf8)) != nil { hits.append("\(needle) in \(file)") }
        }
        return hits
    }

    /// Opens the stopped node's database with its key file, rewrites the detail of one audit entry in
    /// the middle of the chain (sealed again under the node's data key, so the record itself is
    /// well-formed) and returns its sequence number.
    static func tamperWithAuditEntry(dataDir: String) throws -> UInt64 {
        let identity = try KeyFile.read(from: dataDir + "/node.key", passphrase: nil)
        let database = try Database(path: dataDir + "/db", createIfMissing: false)
        defer { database.close() }
        let store = try RecordStore(database: database, identity: identity)
        let audit = Keyspace("clinic-audit", sensitive: true)
        let entries = try store.all(AuditEntryLayout.self, in: audit)
        #expect(entries.count > 4)
        let (id, original) = entries[entries.count / 2]
        var changed = original
        changed.detail += " (edited)"
        changed.outcome = original.outcome == "ok" ? "denied" : "ok"
        try store.put(changed, in: audit, id: id, sync: true)
        return original.seq
    }
}

/// The stored layout of an audit entry (LeukClinic's `AuditRecord`), for the tampering step. If that
/// layout changes, decoding here fails and the test says so, rather than tampering with nothing.
struct AuditEntryLayout: StoreRecord {
    static let formatVersion: UInt8 = 1
    var seq: UInt64
    var time: UInt64
    var actorID: String
    var actorRole: String
    var action: String
    var patientID: String
    var targetID: String
    var outcome: String
    var detail: String
    var previousHash: [UInt8]
    var hash: [UInt8]

    func encode(to writer: inout BinaryWriter) {
        writer.write(seq)
        writer.write(time)
        for text in [actorID, actorRole, action, patientID, targetID, outcome, detail] { writer.writeString(text) }
        writer.writeFixed(previousHash)
        writer.writeFixed(hash)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        seq = try reader.readUInt64("seq")
        time = try reader.readUInt64("time")
        actorID = try reader.readString("actor_id", limit: 1 << 20)
        actorRole = try reader.readString("actor_role", limit: 1 << 20)
        action = try reader.readString("action", limit: 1 << 20)
        patientID = try reader.readString("patient_id", limit: 1 << 20)
        targetID = try reader.readString("target_id", limit: 1 << 20)
        outcome = try reader.readString("outcome", limit: 1 << 20)
        detail = try reader.readString("detail", limit: 1 << 20)
        previousHash = try reader.readFixed(32, "previous_hash")
        hash = try reader.readFixed(32, "hash")
    }
}

extension Date {
    /// This time rounded up to the next multiple of `minutes` (slots start on the half hour).
    func rounded(toMinutes minutes: Int) -> Date {
        let step = Double(minutes * 60)
        return Date(timeIntervalSince1970: (timeIntervalSince1970 / step).rounded(.up) * step)
    }
}

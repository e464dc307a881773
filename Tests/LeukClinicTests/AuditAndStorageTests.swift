import Foundation
import Testing
import ClinicTestSupport
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukClinic

@Suite struct AuditAndStorageTests {
    /// A clinic with some history: users, a diagnosis, an appointment, messages, denied reads.
    func populated() async throws -> ClinicFixture {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let bob = try await f.user("bob", .patient)
        _ = try await f.slot(doctor, hoursAhead: 2)
        let outcome = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 240), fileName: "c.rgb")
        let appointment = try #require(outcome.appointment)
        _ = try await f.clinic.sendMessage(by: ana, appointment: appointment.id, body: "hello")
        _ = await errorKind { _ = try await f.clinic.diagnosis(by: bob, id: outcome.diagnosis.id) }
        return f
    }

    func auditKeys(_ store: RecordStore) throws -> [[UInt8]] {
        try store.database.scan(prefix: Array("clinic-audit/".utf8)).map(\.key)
    }

    @Test func everyAccessIsChainedAndVerifies() async throws {
        let f = try await populated()
        let log = try await f.clinic.auditLog(by: f.operatorCaller, limit: 1000)
        let actions = Set(log.map(\.action))
        for expected in ["user.create", "login", "slot.create", "diagnosis.create", "appointment.propose", "message.send", "diagnosis.read"] {
            #expect(actions.contains(expected), "missing \(expected)")
        }
        #expect(log.contains { $0.action == "diagnosis.read" && $0.outcome == "denied" })
        #expect(log.map(\.seq) == Array(1...UInt64(log.count)))
        let result = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(result.ok, "\(result.problems)")
        #expect(result.entries == UInt64(log.count))
        let patient = try await f.user("carl", .patient)
        #expect(await errorKind { _ = try await f.clinic.verifyAudit(by: patient) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.auditLog(by: patient) } == .forbidden)
    }

    @Test func verifyDetectsAnEditedEntryEvenWhenReEncrypted() async throws {
        let f = try await populated()
        let store = f.storage.store
        // An attacker with the node's key rewrites entry 3 cleanly (valid encryption, same key).
        let id = AuditRecord.key(3)
        var entry = try #require(try store.get(AuditRecord.self, in: Spaces.audit, id: id))
        entry.detail = "nothing to see here"
        try store.put(entry, in: Spaces.audit, id: id, sync: true)
        let result = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(!result.ok)
        #expect(result.problems.contains { $0.contains("entry 3") && $0.contains("changed") })
    }

    @Test func verifyDetectsAFlippedByteInTheDatabase() async throws {
        let f = try await populated()
        let store = f.storage.store
        let key = try auditKeys(store)[4]
        var raw = try #require(try store.database.get(key))
        raw[raw.count / 2] ^= 0x01
        try store.database.put(key, raw, sync: true)
        let result = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(!result.ok)
        #expect(result.problems.contains { $0.contains("unreadable") })
    }

    @Test func verifyDetectsADeletedEntry() async throws {
        let f = try await populated()
        let store = f.storage.store
        try store.database.delete(try auditKeys(store)[2], sync: true)
        let result = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(!result.ok)
        #expect(result.problems.contains { $0.contains("missing") && $0.contains("3") })
    }

    @Test func verifyDetectsTruncationOfTheNewestEntries() async throws {
        let f = try await populated()
        let store = f.storage.store
        let keys = try auditKeys(store)
        try store.database.delete(keys[keys.count - 1], sync: true)
        try store.database.delete(keys[keys.count - 2], sync: true)
        let result = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(!result.ok)
        #expect(result.problems.contains { $0.contains("newest entries were deleted") })
    }

    @Test func aCanaryMessageIsNowhereInTheRawDatabaseFiles() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let slot = try await f.slot(doctor, hoursAhead: 2)
        let appointment = try await f.clinic.book(by: ana, slotID: slot.id, reason: "CANARY-REASON-5d1c")
        let canary = "CANARY-7f3a9c1e-leukemia-canary"
        _ = try await f.clinic.sendMessage(by: ana, appointment: appointment.id, body: "my note: \(canary)")
        // The message is really stored (so the check below can fail) ...
        #expect(try await f.clinic.messages(by: doctor, appointment: appointment.id).first?.body.contains(canary) == true)
        // ... and after closing, no file of the database holds it, nor the patient's name, nor the reason.
        f.storage.store.database.close()
        let directory = f.storage.directory + "/db"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!files.isEmpty)
        var scanned = 0
        for file in files {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + file))
            scanned += bytes.count
            for needle in [canary, "CANARY-REASON-5d1c", "dr.grey", "correct horse"] {
                #expect(bytes.range(of: Data(needle.utf8)) == nil, "'\(needle)' found in \(file)")
            }
        }
        #expect(scanned > 0)
    }

    @Test func recordsRoundTripThroughTheirBinaryForm() throws {
        let storage = try TemporaryStore()
        let store = storage.store
        let diagnosis = DiagnosisRecord(
            id: "dgn_1", patientID: "usr_p", doctorID: "usr_d", createdAt: Timestamp(secondsSinceEpoch: 5), imageSHA256: "00",
            imageFileName: "x.png", imageByteCount: 10,
            probabilities: [ClassProbability(label: "all", probability: 0.25), ClassProbability(label: "hem", probability: 0.75)],
            predicted: "hem", modelSHA256: "ff", modelVersion: 3, responseTimeMs: 1.5, followUp: .review)
        try store.put(diagnosis, in: Spaces.diagnoses, id: diagnosis.id, sync: true)
        #expect(try store.get(DiagnosisRecord.self, in: Spaces.diagnoses, id: diagnosis.id) == diagnosis)
        let appointment = AppointmentRecord(id: "apt_1", patientID: "usr_p", doctorID: "usr_d", slotID: "slt_1", state: .rescheduled,
                                            followUp: .urgent, reason: "r", diagnosisID: "dgn_1", createdAt: Timestamp(secondsSinceEpoch: 9),
                                            deadline: Timestamp(secondsSinceEpoch: 99), lastChangedBy: "system")
        try store.put(appointment, in: Spaces.appointments, id: appointment.id, sync: true)
        #expect(try store.get(AppointmentRecord.self, in: Spaces.appointments, id: appointment.id) == appointment)
        // A truncated record is reported with its field, not a crash.
        var writer = BinaryWriter()
        diagnosis.encode(to: &writer)
        var reader = BinaryReader(Array(writer.bytes.prefix(20)))
        #expect(throws: BinaryDecodingError.self) { _ = try DiagnosisRecord(decoding: &reader, version: 1) }
    }
}

import Foundation
import Testing
import ClinicTestSupport
import LeukCore
import LeukStore
@testable import LeukClinic

/// The clinic on a full disk (the injected write-error layer beneath `Database`): every request that must
/// write is refused with `.diskFull` (HTTP 507) and changes nothing, what was acknowledged stays, and the
/// clinic works again, with its audit chain intact, once space returns.
@Suite struct DiskFullClinicTests {
    @Test func refusesWithDiskFullLosesNothingAndResumes() async throws {
        let faults = WriteFaults()
        let f = try ClinicFixture(faults: faults)
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let first = try await f.slot(doctor, hoursAhead: 2)
        let second = try await f.slot(doctor, hoursAhead: 3)
        let booked = try await f.clinic.book(by: ana, slotID: first.id)
        let sent = try await f.clinic.sendMessage(by: ana, appointment: booked.id, body: "acknowledged before the disk filled")

        faults.set(.diskFull)
        #expect(await errorKind { _ = try await f.clinic.book(by: ana, slotID: second.id) } == .diskFull)
        #expect(await errorKind { _ = try await f.clinic.sendMessage(by: ana, appointment: booked.id, body: "lost?") } == .diskFull)
        // A read of patient data writes its audit entry first, so it is refused too: no unaudited access.
        #expect(await errorKind { _ = try await f.clinic.messages(by: doctor, appointment: booked.id) } == .diskFull)
        #expect(await errorKind { _ = try await f.clinic.login(name: "ana", password: "correct horse") } == .diskFull)
        do {
            let start = Date(timeIntervalSince1970: f.clock.now().secondsSinceEpoch + 5 * 3600)
            _ = try await f.clinic.addSlot(by: doctor, start: start, end: start.addingTimeInterval(1800))
            Issue.record("a slot was added on a full disk")
        } catch {
            #expect(error.kind == .diskFull)
            #expect(error.description.contains("disk is full") && error.hint?.contains("Nothing acknowledged was lost") == true, "\(error)")
            #expect(!error.description.contains(f.storage.directory), "the refusal shows the server's path: \(error)")
        }

        faults.set(.none)
        let messages = try await f.clinic.messages(by: doctor, appointment: booked.id)
        #expect(messages.map(\.id) == [sent.id])
        // The slot the refused booking asked for is still free.
        let later = try await f.clinic.book(by: ana, slotID: second.id)
        #expect(later.slotID == second.id)
        let verification = try await f.clinic.verifyAudit(by: f.operatorCaller)
        #expect(verification.ok, "\(verification.problems)")
    }

    /// A booking whose record reached LevelDB's log before the disk filled up was refused, and LevelDB's
    /// recovery replays it when the database reopens. It must not come back: another patient books the slot
    /// meanwhile, and after a restart exactly one appointment holds it.
    @Test func aRefusedBookingDoesNotComeBackAsADoubleBooking() async throws {
        let faults = WriteFaults()
        let f = try ClinicFixture(faults: faults)
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let bob = try await f.user("bob", .patient)
        let slot = try await f.slot(doctor, hoursAhead: 2)

        faults.set(.diskFullAfterLogging)
        #expect(await errorKind { _ = try await f.clinic.book(by: ana, slotID: slot.id) } == .diskFull)
        faults.set(.none)
        let bobs = try await f.clinic.book(by: bob, slotID: slot.id)

        let reopened = try f.storage.reopen()
        let restarted = try Clinic(store: reopened, classifier: MeanRedClassifier(), clock: f.clock,
                                   configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: f.token)
        let holders = try await restarted.listAppointments(by: doctor).filter { $0.slotID == slot.id && $0.state != .cancelled }
        #expect(holders.map(\.id) == [bobs.id])
        let verification = try await restarted.verifyAudit(by: f.operatorCaller)
        #expect(verification.ok, "\(verification.problems)")
    }
}

import Foundation
import Testing
import ClinicTestSupport
@testable import LeukClinic

@Suite struct SlotRemovalTests {
    @Test func aDoctorWithdrawsOwnFreeSlotsOnlyAndEachAttemptIsAudited() async throws {
        let f = try ClinicFixture()
        let grey = try await f.user("dr.grey", .doctor)
        let yang = try await f.user("dr.yang", .doctor)
        let ana = try await f.user("ana", .patient)
        let free = try await f.slot(grey, hoursAhead: 2)
        let booked = try await f.slot(grey, hoursAhead: 4)
        let freed = try await f.slot(grey, hoursAhead: 6)
        let appointment = try await f.clinic.book(by: ana, slotID: booked.id)
        let cancelled = try await f.clinic.book(by: ana, slotID: freed.id)
        _ = try await f.clinic.cancel(by: ana, appointment: cancelled.id)

        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: yang, slotID: free.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: ana, slotID: free.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: f.operatorCaller, slotID: free.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: grey, slotID: "slt_nope") } == .notFound)
        // Booked: the patient keeps the appointment. Freed by a cancellation: the cancelled appointment keeps its time.
        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: grey, slotID: booked.id) } == .conflict)
        #expect(await errorKind { _ = try await f.clinic.removeSlot(by: grey, slotID: freed.id) } == .conflict)
        #expect(try await f.clinic.appointment(by: ana, id: appointment.id).start == booked.start)

        let removed = try await f.clinic.removeSlot(by: grey, slotID: free.id)
        #expect(removed.id == free.id)
        #expect(try await f.clinic.listSlots(by: grey).map(\.id) == [booked.id, freed.id])
        #expect(await errorKind { _ = try await f.clinic.book(by: ana, slotID: free.id) } == .notFound)

        let log = try await f.clinic.auditLog(by: f.operatorCaller, limit: 1000).filter { $0.action == "slot.delete" }
        #expect(log.filter { $0.outcome == "denied" }.count == 3)
        #expect(log.filter { $0.outcome == "ok" }.map(\.targetID) == [free.id])

        // The withdrawal survives a restart: the clinic reloads without the slot.
        let reopened = try Clinic(store: f.storage.store, classifier: MeanRedClassifier(), clock: f.clock,
                                  configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: f.token)
        #expect(try await reopened.listSlots(by: grey).map(\.id) == [booked.id, freed.id])
    }
}

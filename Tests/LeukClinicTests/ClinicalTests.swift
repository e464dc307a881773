import Foundation
import Testing
import ClinicTestSupport
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukClinic

@Suite struct DiagnosisAndAppointmentTests {
    @Test func followUpPolicyThresholds() {
        let policy = FollowUpPolicy()
        #expect(policy.followUp(forPositiveProbability: 0.97) == .urgent)
        #expect(policy.followUp(forPositiveProbability: 0.5) == .urgent)
        #expect(policy.followUp(forPositiveProbability: 0.49) == .review)
        #expect(policy.followUp(forPositiveProbability: 0.2) == .review)
        #expect(policy.followUp(forPositiveProbability: 0.19) == .routine)
        let custom = FollowUpPolicy(urgentThreshold: 0.8, reviewThreshold: 0.1)
        #expect(custom.followUp(forPositiveProbability: 0.6) == .review)
        let t = Timestamp(secondsSinceEpoch: 1000)
        #expect(policy.deadline(for: .urgent, after: t) == Timestamp(secondsSinceEpoch: 1000 + 48 * 3600))
        #expect(policy.deadline(for: .review, after: t) == Timestamp(secondsSinceEpoch: 1000 + 7 * 24 * 3600))
        #expect(policy.deadline(for: .routine, after: t) == nil)
    }

    @Test func urgentOutcomeProposesTheEarliestFreeSlotOfTheDoctor() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let other = try await f.user("dr.yang", .doctor)
        let patient = try await f.user("ana", .patient)
        _ = try await f.slot(other, hoursAhead: 1)          // earlier, but another doctor's
        let later = try await f.slot(doctor, hoursAhead: 30)
        let earliest = try await f.slot(doctor, hoursAhead: 5)

        let outcome = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 230), fileName: "cell.rgb")
        let diagnosis = outcome.diagnosis
        #expect(diagnosis.followUp == .urgent)
        #expect(abs(diagnosis.probabilities["all"]! - 230.0 / 255) < 1e-9)
        #expect(diagnosis.probabilities.count == 2)
        #expect(diagnosis.modelVersion == 7 && diagnosis.modelSHA256 == String(repeating: "ab", count: 32))
        #expect(diagnosis.imageSHA256 == Hex.encode(SHA256Hasher.hash(rgbImage(red: 230))))
        #expect(diagnosis.reviewState == .pendingReview)
        let appointment = try #require(outcome.appointment)
        #expect(appointment.slotID == earliest.id)
        #expect(appointment.slotID != later.id)
        #expect(appointment.state == .requested)
        #expect(appointment.withinDeadline == true)
        #expect(appointment.patientID == patient.userID)

        // The doctor confirms; the patient sees the confirmed appointment.
        let confirmed = try await f.clinic.confirm(by: doctor, appointment: appointment.id)
        #expect(confirmed.state == .confirmed)
        let mine = try await f.clinic.listAppointments(by: patient)
        #expect(mine.map(\.id) == [appointment.id])
        #expect(mine[0].state == .confirmed)
    }

    @Test func reviewAndRoutineOutcomes() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        _ = try await f.user("ana", .patient)
        let review = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 80), fileName: "a.rgb")
        #expect(review.diagnosis.followUp == .review)
        #expect(review.appointment == nil)     // no slot anywhere: the doctor is told
        #expect(review.warning?.contains("no doctor has a free slot") == true)
        let routine = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 10), fileName: "b.rgb")
        #expect(routine.diagnosis.followUp == .routine)
        #expect(routine.appointment == nil && routine.warning == nil)
    }

    @Test func badImagesAndUnknownPatientsAreRefused() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        _ = try await f.user("ana", .patient)
        #expect(await errorKind { _ = try await f.clinic.diagnose(by: doctor, patient: "ana", image: [1, 2], fileName: "x.rgb") } == .invalid)
        #expect(await errorKind { _ = try await f.clinic.diagnose(by: doctor, patient: "ana", image: [], fileName: "x.rgb") } == .invalid)
        #expect(await errorKind { _ = try await f.clinic.diagnose(by: doctor, patient: "nobody", image: rgbImage(red: 1), fileName: "x.rgb") } == .notFound)
        #expect(await errorKind { _ = try await f.clinic.diagnose(by: doctor, patient: "dr.grey", image: rgbImage(red: 1), fileName: "x.rgb") } == .notFound)
    }

    @Test func patientsSeeOnlyTheirReleasedDiagnoses() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let bob = try await f.user("bob", .patient)
        let stranger = try await f.user("dr.strange", .doctor)
        let outcome = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 20), fileName: "cell.rgb")
        let id = outcome.diagnosis.id

        #expect(try await f.clinic.listDiagnoses(by: ana).isEmpty)
        #expect(await errorKind { _ = try await f.clinic.diagnosis(by: ana, id: id) } == .notFound)
        #expect(await errorKind { _ = try await f.clinic.diagnosis(by: bob, id: id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.diagnosis(by: stranger, id: id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.releaseDiagnosis(by: stranger, id: id, note: nil) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.releaseDiagnosis(by: ana, id: id, note: nil) } == .forbidden)

        let reviewed = try await f.clinic.reviewDiagnosis(by: doctor, id: id, note: "benign lymphocyte")
        #expect(reviewed.reviewState == .reviewed)
        let released = try await f.clinic.releaseDiagnosis(by: doctor, id: id, note: nil)
        #expect(released.reviewState == .released && released.note == "benign lymphocyte")
        #expect(await errorKind { _ = try await f.clinic.releaseDiagnosis(by: doctor, id: id, note: nil) } == .conflict)

        #expect(try await f.clinic.listDiagnoses(by: ana).map(\.id) == [id])
        #expect(try await f.clinic.diagnosis(by: ana, id: id).note == "benign lymphocyte")
        #expect(try await f.clinic.diagnosisImage(by: ana, id: id).bytes == rgbImage(red: 20))
        #expect(try await f.clinic.listDiagnoses(by: bob).isEmpty)
        #expect(try await f.clinic.listDiagnoses(by: stranger).isEmpty)
        #expect(await errorKind { _ = try await f.clinic.listDiagnoses(by: bob, patient: "ana") } == .forbidden)
    }

    @Test func adminsReadClinicalContentOnlyUnderLoggedBreakGlass() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        _ = try await f.user("ana", .patient)
        let admin = try await f.user("root", .admin)
        let id = try await f.clinic.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 20), fileName: "cell.rgb").diagnosis.id
        #expect(await errorKind { _ = try await f.clinic.diagnosis(by: admin, id: id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.listDiagnoses(by: admin) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.breakGlass(by: admin, patient: "ana", reason: "short") } == .invalid)
        #expect(await errorKind { _ = try await f.clinic.breakGlass(by: doctor, patient: "ana", reason: "I want to look at it") } == .forbidden)

        let grant = try await f.clinic.breakGlass(by: admin, patient: "ana", reason: "patient unconscious in the ER")
        #expect(grant.reason == "patient unconscious in the ER")
        #expect(try await f.clinic.diagnosis(by: admin, id: id).id == id)
        #expect(try await f.clinic.listDiagnoses(by: admin, patient: "ana").count == 1)
        // Still no writes under break-glass.
        #expect(await errorKind { _ = try await f.clinic.releaseDiagnosis(by: admin, id: id, note: nil) } == .forbidden)

        let log = try await f.clinic.auditLog(by: f.operatorCaller, limit: 1000)
        #expect(log.contains { $0.action == "break_glass" && $0.actorID == admin.userID && $0.detail == "patient unconscious in the ER" })
        #expect(log.contains { $0.action == "diagnosis.read" && $0.actorID == admin.userID && $0.detail.hasPrefix("break-glass") })

        f.clock.advance(.seconds(15 * 60 + 1))
        #expect(await errorKind { _ = try await f.clinic.diagnosis(by: admin, id: id) } == .forbidden)
    }

    @Test func appointmentLifecycleAndSlotReuse() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let bob = try await f.user("bob", .patient)
        let first = try await f.slot(doctor, hoursAhead: 2)
        let second = try await f.slot(doctor, hoursAhead: 4)
        #expect(await errorKind { _ = try await f.slot(doctor, hoursAhead: 2.25) } == .conflict)     // overlaps
        #expect(await errorKind { _ = try await f.slot(doctor, hoursAhead: -1) } == .invalid)        // in the past
        #expect(await errorKind { _ = try await f.slot(ana, hoursAhead: 9) } == .forbidden)

        let booked = try await f.clinic.book(by: ana, slotID: first.id, reason: "check-up")
        #expect(booked.state == .requested)
        #expect(await errorKind { _ = try await f.clinic.book(by: bob, slotID: first.id) } == .conflict)
        #expect(await errorKind { _ = try await f.clinic.book(by: bob, slotID: first.id, patient: "ana") } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.confirm(by: ana, appointment: booked.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.complete(by: doctor, appointment: booked.id) } == .conflict)
        _ = try await f.clinic.confirm(by: doctor, appointment: booked.id)

        // The patient moves it; the old slot is free again, the new one taken, and the doctor confirms.
        let moved = try await f.clinic.reschedule(by: ana, appointment: booked.id, toSlot: second.id)
        #expect(moved.state == .rescheduled && moved.slotID == second.id)
        let free = try await f.clinic.listSlots(by: bob, freeOnly: true)
        #expect(free.map(\.id) == [first.id])
        #expect(await errorKind { _ = try await f.clinic.reschedule(by: bob, appointment: booked.id, toSlot: first.id) } == .forbidden)
        _ = try await f.clinic.confirm(by: doctor, appointment: booked.id)
        let done = try await f.clinic.complete(by: doctor, appointment: booked.id)
        #expect(done.state == .completed)
        #expect(await errorKind { _ = try await f.clinic.cancel(by: ana, appointment: booked.id) } == .conflict)

        // Bob books the first slot; cancels; the slot is free again.
        let bobs = try await f.clinic.book(by: bob, slotID: first.id)
        let cancelled = try await f.clinic.cancel(by: bob, appointment: bobs.id, reason: "travelling")
        #expect(cancelled.state == .cancelled)
        #expect(try await f.clinic.listSlots(by: ana, freeOnly: true).map(\.id) == [first.id])
        #expect(await errorKind { _ = try await f.clinic.appointment(by: ana, id: bobs.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.appointment(by: ana, id: "apt_nope") } == .notFound)
    }

    @Test func concurrentBookingsOfOneSlotHaveExactlyOneWinner() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        var patients: [Caller] = []
        for i in 0..<24 { patients.append(try await f.user("patient\(i)", .patient)) }
        let slot = try await f.slot(doctor, hoursAhead: 3)
        let clinic = f.clinic
        let results = await withTaskGroup(of: ClinicError.Kind?.self) { group in
            for patient in patients {
                group.addTask { await errorKind { _ = try await clinic.book(by: patient, slotID: slot.id) } }
            }
            var all: [ClinicError.Kind?] = []
            for await result in group { all.append(result) }
            return all
        }
        #expect(results.filter { $0 == nil }.count == 1)
        #expect(results.filter { $0 == .conflict }.count == patients.count - 1)
        let booked = try await f.clinic.listAppointments(by: doctor)
        #expect(booked.count == 1)
        // Also true after a restart: the database holds one appointment for the slot.
        let stored = try f.storage.store.all(AppointmentRecord.self, in: Spaces.appointments)
        #expect(stored.filter { $0.record.slotID == slot.id }.count == 1)
    }

    @Test func messagesStayInTheThreadAndReachTheOtherSideLive() async throws {
        let f = try ClinicFixture()
        let doctor = try await f.user("dr.grey", .doctor)
        let ana = try await f.user("ana", .patient)
        let bob = try await f.user("bob", .patient)
        let slot = try await f.slot(doctor, hoursAhead: 2)
        let appointment = try await f.clinic.book(by: ana, slotID: slot.id)

        let stream = f.clinic.events.subscribe(userID: doctor.userID)
        let sent = try await f.clinic.sendMessage(by: ana, appointment: appointment.id, body: "  Can I eat before?  ")
        #expect(sent.body == "Can I eat before?")
        var iterator = stream.makeAsyncIterator()
        let event = try #require(await iterator.next())
        #expect(event.type == .message && event.message == sent)

        _ = try await f.clinic.sendMessage(by: doctor, appointment: appointment.id, body: "Yes.")
        let thread = try await f.clinic.messages(by: ana, appointment: appointment.id)
        #expect(thread.map(\.body) == ["Can I eat before?", "Yes."])
        #expect(thread.map(\.senderName) == ["ana", "dr.grey"])
        #expect(await errorKind { _ = try await f.clinic.messages(by: bob, appointment: appointment.id) } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.sendMessage(by: bob, appointment: appointment.id, body: "hi") } == .forbidden)
        #expect(await errorKind { _ = try await f.clinic.sendMessage(by: ana, appointment: appointment.id, body: "   ") } == .invalid)
    }

    @Test func everythingAcknowledgedIsThereAfterARestart() async throws {
        let storage = try TemporaryStore()
        let clock = ManualClock()
        let configuration = ClinicConfiguration(passwordHasher: cheapHasher)
        let admin = Caller(userID: "operator", name: "operator", role: .admin, isOperator: true, sessionKey: nil)
        var clinic: Clinic? = try Clinic(store: storage.store, classifier: MeanRedClassifier(), clock: clock, configuration: configuration, operatorToken: nil)
        _ = try await clinic!.createUser(by: admin, name: "dr.grey", role: .doctor, password: "password-d")
        _ = try await clinic!.createUser(by: admin, name: "ana", role: .patient, password: "password-a")
        let doctor = try await clinic!.authenticate(bearer: clinic!.login(name: "dr.grey", password: "password-d").token)
        let ana = try await clinic!.authenticate(bearer: clinic!.login(name: "ana", password: "password-a").token)
        let start = Date(timeIntervalSince1970: clock.now().secondsSinceEpoch + 7200)
        let slot = try await clinic!.addSlot(by: doctor, start: start, end: start.addingTimeInterval(900))
        let outcome = try await clinic!.diagnose(by: doctor, patient: "ana", image: rgbImage(red: 200), fileName: "c.rgb")
        let appointment = try #require(outcome.appointment)
        _ = try await clinic!.confirm(by: doctor, appointment: appointment.id)
        _ = try await clinic!.sendMessage(by: ana, appointment: appointment.id, body: "see you")
        clinic = nil

        let reopened = try Clinic(store: storage.reopen(), classifier: MeanRedClassifier(), clock: clock, configuration: configuration, operatorToken: nil)
        let doctorAgain = try await reopened.authenticate(bearer: reopened.login(name: "dr.grey", password: "password-d").token)
        #expect(try await reopened.listDiagnoses(by: doctorAgain).map(\.id) == [outcome.diagnosis.id])
        let appointments = try await reopened.listAppointments(by: doctorAgain)
        #expect(appointments.map(\.state) == [.confirmed])
        #expect(appointments[0].slotID == slot.id)
        #expect(try await reopened.messages(by: doctorAgain, appointment: appointment.id).map(\.body) == ["see you"])
        #expect(try await reopened.listSlots(by: doctorAgain, freeOnly: true).isEmpty)
        #expect(try await reopened.verifyAudit(by: admin).ok)
    }
}

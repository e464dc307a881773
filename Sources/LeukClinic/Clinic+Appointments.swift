import LeukCore
import LeukCrypto
import LeukStore
public import Foundation

extension Clinic {
    // MARK: - Slots

    /// A doctor publishes a time they are available. Slots of one doctor may not overlap.
    public func addSlot(by caller: Caller, start: Date, end: Date) throws(ClinicError) -> SlotInfo {
        guard caller.role == .doctor else {
            throw denied(.forbidden("only doctors publish availability slots"), action: "slot.create", by: caller)
        }
        let startTime = try Self.timestamp(start, field: "start")
        let endTime = try Self.timestamp(end, field: "end")
        let now = clock.now()
        guard startTime < now.adding(.seconds(Self.schedulingHorizonDays * 86400)) else {
            throw .invalid("the slot starts more than \(Self.schedulingHorizonDays) days ahead (\(Self.iso(start)))")
        }
        guard startTime > now else { throw .invalid("the slot starts in the past (\(Self.iso(start)))", hint: "give a future start time") }
        guard endTime > startTime else { throw .invalid("the slot ends (\(Self.iso(end))) before it starts (\(Self.iso(start)))") }
        guard endTime.since(startTime) <= .seconds(12 * 3600) else { throw .invalid("a slot may last at most 12 hours") }
        if let clash = slots.values.first(where: { $0.doctorID == caller.userID && $0.start < endTime && startTime < $0.end }) {
            throw ClinicError(.conflict, "the slot overlaps your slot \(clash.id) (\(Self.iso(Date(clash.start))) to \(Self.iso(Date(clash.end))))")
        }
        let slot = SlotRecord(id: RecordID.make("slt"), doctorID: caller.userID, start: startTime, end: endTime, createdAt: now)
        try commit(AuditEvent(action: "slot.create", targetID: slot.id), by: caller) {
            $0.put(slot, in: Spaces.slots, id: slot.id)
        }
        slots[slot.id] = slot
        return info(slot)
    }

    /// A doctor withdraws one of their own slots. A slot an appointment holds stays (cancel or move the
    /// appointment first, so no patient loses a booking unasked), and so does one a cancelled appointment
    /// names: that appointment shows its time from the slot.
    public func removeSlot(by caller: Caller, slotID: String) throws(ClinicError) -> SlotInfo {
        guard caller.role == .doctor else {
            throw denied(.forbidden("only doctors withdraw their availability slots"), action: "slot.delete", targetID: slotID, by: caller)
        }
        guard let slot = slots[slotID] else { throw .notFound("slot", slotID) }
        guard slot.doctorID == caller.userID else {
            throw denied(.forbidden("slot \(slotID) belongs to another doctor"), action: "slot.delete", targetID: slotID, by: caller)
        }
        if let holder = slotHolder[slotID] {
            throw ClinicError(.conflict, "slot \(slotID) is booked (appointment \(holder))",
                              hint: "cancel or reschedule that appointment first; then the slot can go")
        }
        if let past = appointments.values.first(where: { $0.slotID == slotID }) {
            throw ClinicError(.conflict, "slot \(slotID) keeps the time of the cancelled appointment \(past.id), so it stays",
                              hint: "a freed slot stays bookable; patients see only its time")
        }
        try commit(AuditEvent(action: "slot.delete", targetID: slotID), by: caller) {
            $0.delete(in: Spaces.slots, id: slotID)
        }
        slots[slotID] = nil
        return info(slot)
    }

    /// Slots in time order, optionally one doctor's, only free ones, only from a time on. Any signed-in
    /// user may list them (they say when a doctor is free, not with whom they are booked).
    public func listSlots(by caller: Caller, doctor reference: String? = nil, freeOnly: Bool = false, from: Date? = nil) throws(ClinicError) -> [SlotInfo] {
        var doctorID: String?
        if let reference {
            guard let doctor = resolveUser(reference), doctor.role == .doctor else {
                throw ClinicError(.notFound, "no doctor named or with id '\(reference)'")
            }
            doctorID = doctor.id
        }
        let fromTime = try from.map { date throws(ClinicError) in try Self.timestamp(date, field: "from") }
        return slots.values
            .filter { doctorID == nil || $0.doctorID == doctorID }
            .filter { !freeOnly || slotHolder[$0.id] == nil }
            .filter { fromTime == nil || $0.start >= fromTime! }
            .sorted { ($0.start, $0.id) < ($1.start, $1.id) }
            .map(info)
    }

    func earliestFreeSlot(preferring doctorID: String, after now: Timestamp) -> SlotRecord? {
        let free = slots.values.filter { $0.start > now && slotHolder[$0.id] == nil }
        let byTime: (SlotRecord, SlotRecord) -> Bool = { ($0.start, $0.id) < ($1.start, $1.id) }
        return free.filter { $0.doctorID == doctorID }.min(by: byTime) ?? free.min(by: byTime)
    }

    // MARK: - Appointments

    /// Books a free slot. A patient books for themselves; a doctor books one of their own slots for a
    /// patient. The appointment starts as `requested`, for the doctor to confirm.
    ///
    /// The check that the slot is free and the write that takes it happen without suspending the
    /// actor, so of many concurrent requests for one slot exactly one succeeds.
    public func book(by caller: Caller, slotID: String, patient reference: String? = nil, reason: String? = nil) throws(ClinicError) -> AppointmentInfo {
        let patient: UserRecord
        switch caller.role {
        case .patient:
            if let reference, resolveUser(reference)?.id != caller.userID {
                throw denied(.forbidden("patients book appointments for themselves only"), action: "appointment.book", by: caller)
            }
            guard let me = users[caller.userID] else { throw ClinicError(.unauthenticated, "your account no longer exists") }
            patient = me
        case .doctor:
            guard let reference else { throw .invalid("say which patient the appointment is for (`patient`)") }
            patient = try requirePatient(reference)
        case .admin:
            throw denied(.forbidden("admins do not book appointments"), action: "appointment.book", by: caller)
        }
        guard let slot = slots[slotID] else { throw .notFound("slot", slotID) }
        if caller.role == .doctor && slot.doctorID != caller.userID {
            throw denied(ClinicError(.forbidden, "slot \(slotID) belongs to another doctor",
                                     hint: "doctors book their own slots; list them with `leuknode slot list --doctor YOU`"),
                         action: "appointment.book", patientID: patient.id, by: caller)
        }
        let reason = (reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try checkNote(reason)
        let now = clock.now()
        try checkFree(slot, now: now)
        let appointment = AppointmentRecord(
            id: RecordID.make("apt"), patientID: patient.id, doctorID: slot.doctorID, slotID: slot.id, state: .requested,
            followUp: .routine, reason: reason.isEmpty ? Self.reason(for: .routine) : reason, diagnosisID: "",
            createdAt: now, deadline: nil, lastChangedBy: caller.userID)
        try commit(AuditEvent(action: "appointment.book", patientID: patient.id, targetID: appointment.id, detail: "slot \(slot.id)"), by: caller) {
            $0.put(appointment, in: Spaces.appointments, id: appointment.id)
        }
        appointments[appointment.id] = appointment
        slotHolder[slot.id] = appointment.id
        care.insert(CareKey(doctorID: slot.doctorID, patientID: patient.id))
        let result = info(appointment)
        publish(appointment: result)
        return result
    }

    /// The doctor confirms a requested or rescheduled appointment.
    public func confirm(by caller: Caller, appointment id: String) throws(ClinicError) -> AppointmentInfo {
        var appointment = try participantAppointment(by: caller, id: id, action: "appointment.confirm", doctorOnly: true)
        guard appointment.state == .requested || appointment.state == .rescheduled else {
            throw ClinicError(.conflict, "appointment \(id) is \(appointment.state.rawValue); only requested or rescheduled appointments are confirmed")
        }
        appointment.state = .confirmed
        return try save(appointment, by: caller, action: "appointment.confirm")
    }

    /// Moves an appointment to another free slot of the same doctor. A patient's reschedule (or a
    /// doctor's) leaves it `rescheduled` until the doctor confirms.
    public func reschedule(by caller: Caller, appointment id: String, toSlot slotID: String) throws(ClinicError) -> AppointmentInfo {
        var appointment = try participantAppointment(by: caller, id: id, action: "appointment.reschedule", doctorOnly: false)
        guard appointment.state.isOpen else {
            throw ClinicError(.conflict, "appointment \(id) is \(appointment.state.rawValue) and cannot be rescheduled", hint: "book a new one")
        }
        guard let slot = slots[slotID] else { throw .notFound("slot", slotID) }
        guard slot.doctorID == appointment.doctorID else {
            throw .invalid("slot \(slotID) belongs to another doctor", hint: "pick a free slot of \(name(of: appointment.doctorID))")
        }
        guard slot.id != appointment.slotID else { throw .invalid("the appointment is already in slot \(slotID)") }
        try checkFree(slot, now: clock.now())
        let oldSlot = appointment.slotID
        appointment.slotID = slot.id
        appointment.state = .rescheduled
        let result = try save(appointment, by: caller, action: "appointment.reschedule", detail: "slot \(oldSlot) -> \(slot.id)")
        slotHolder[oldSlot] = nil
        slotHolder[slot.id] = appointment.id
        return result
    }

    /// The patient or the doctor cancels; the slot is free again.
    public func cancel(by caller: Caller, appointment id: String, reason: String? = nil) throws(ClinicError) -> AppointmentInfo {
        var appointment = try participantAppointment(by: caller, id: id, action: "appointment.cancel", doctorOnly: false)
        guard appointment.state.isOpen else {
            throw ClinicError(.conflict, "appointment \(id) is already \(appointment.state.rawValue)")
        }
        if let reason { try checkNote(reason) }
        appointment.state = .cancelled
        let result = try save(appointment, by: caller, action: "appointment.cancel", detail: reason ?? "")
        slotHolder[appointment.slotID] = nil
        return result
    }

    /// The doctor marks a confirmed appointment as held.
    public func complete(by caller: Caller, appointment id: String) throws(ClinicError) -> AppointmentInfo {
        var appointment = try participantAppointment(by: caller, id: id, action: "appointment.complete", doctorOnly: true)
        guard appointment.state == .confirmed else {
            throw ClinicError(.conflict, "appointment \(id) is \(appointment.state.rawValue); only confirmed appointments are completed",
                              hint: appointment.state == .requested || appointment.state == .rescheduled ? "confirm it first" : nil)
        }
        appointment.state = .completed
        return try save(appointment, by: caller, action: "appointment.complete")
    }

    /// Patients see their own appointments, doctors theirs, admins one patient's under break-glass.
    public func listAppointments(by caller: Caller, patient reference: String? = nil) throws(ClinicError) -> [AppointmentInfo] {
        var detail = ""
        var patientID = ""
        let visible: [AppointmentRecord]
        switch caller.role {
        case .patient:
            patientID = caller.userID
            visible = appointments.values.filter { $0.patientID == caller.userID }
        case .doctor:
            visible = appointments.values.filter { $0.doctorID == caller.userID }
        case .admin:
            guard let reference, let patient = resolveUser(reference),
                  case let .breakGlass(reason)? = access(caller, toPatient: patient.id) else {
                throw denied(.forbidden("admins read appointments only under break-glass access to one patient"),
                             action: "appointment.list", by: caller)
            }
            patientID = patient.id
            detail = "break-glass: " + reason
            visible = appointments.values.filter { $0.patientID == patient.id }
        }
        var list = visible
        if caller.role == .doctor, let reference {
            let patient = try requirePatient(reference)
            patientID = patient.id
            list = list.filter { $0.patientID == patient.id }
        }
        list.sort { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        try commit(AuditEvent(action: "appointment.list", patientID: patientID,
                              detail: ([detail, "\(list.count) appointments"].filter { !$0.isEmpty }).joined(separator: "; ")), by: caller)
        return list.map(info)
    }

    public func appointment(by caller: Caller, id: String) throws(ClinicError) -> AppointmentInfo {
        let (record, basis) = try readableAppointment(by: caller, id: id, action: "appointment.read")
        try commit(AuditEvent(action: "appointment.read", patientID: record.patientID, targetID: id, detail: basis), by: caller)
        return info(record)
    }

    // MARK: - Messages

    /// Adds a message to an appointment's thread; only its patient and its doctor may write there.
    public func sendMessage(by caller: Caller, appointment id: String, body: String) throws(ClinicError) -> MessageInfo {
        let appointment = try participantAppointment(by: caller, id: id, action: "message.send", doctorOnly: false)
        let text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .invalid("the message is empty") }
        guard text.count <= configuration.maxMessageLength else {
            throw .invalid("the message has \(text.count) characters, more than the limit of \(configuration.maxMessageLength)")
        }
        let now = clock.now()
        // Keys sort by send order within the thread: a stamp that follows the clock but never repeats
        // or goes back within this process; the random tail keeps keys unique across restarts.
        lastMessageStamp = max(now.nanosecondsSinceEpoch, lastMessageStamp + 1)
        let sequence = AuditRecord.key(lastMessageStamp) + "-" + Hex.encode(randomBytes(4))
        let key = appointment.id + "/" + sequence
        let message = MessageRecord(id: RecordID.make("msg"), appointmentID: appointment.id, senderID: caller.userID, sentAt: now, body: text)
        try commit(AuditEvent(action: "message.send", patientID: appointment.patientID, targetID: message.id,
                              detail: "appointment \(appointment.id)"), by: caller) {
            $0.put(message, in: Spaces.messages, id: key)
        }
        let result = info(message)
        events.publish(ClinicEvent(type: .message, appointmentID: appointment.id, message: result, appointment: nil),
                       to: [appointment.patientID, appointment.doctorID])
        return result
    }

    /// The thread of an appointment, oldest first.
    public func messages(by caller: Caller, appointment id: String) throws(ClinicError) -> [MessageInfo] {
        let (appointment, basis) = try readableAppointment(by: caller, id: id, action: "message.list")
        let rows: [(id: String, record: MessageRecord)]
        do {
            rows = try store.all(MessageRecord.self, in: Spaces.messages, idPrefix: appointment.id + "/")
        } catch {
            throw .storage(error)
        }
        try commit(AuditEvent(action: "message.list", patientID: appointment.patientID, targetID: appointment.id,
                              detail: ([basis, "\(rows.count) messages"].filter { !$0.isEmpty }).joined(separator: "; ")), by: caller)
        return rows.map { info($0.record) }
    }

    /// Whether `caller` may subscribe to an appointment's events (its participants).
    public func canWatch(_ caller: Caller, appointment id: String) throws(ClinicError) {
        _ = try participantAppointment(by: caller, id: id, action: "event.watch", doctorOnly: false)
    }

    // MARK: - Helpers

    func checkFree(_ slot: SlotRecord, now: Timestamp) throws(ClinicError) {
        guard slot.start > now else { throw .invalid("slot \(slot.id) has already begun", hint: "pick a future slot") }
        if slotHolder[slot.id] != nil {
            throw ClinicError(.conflict, "slot \(slot.id) is already booked",
                              hint: "pick another free slot (`leuknode slot list --free`)")
        }
    }

    /// An appointment the caller takes part in (as its patient or, with `doctorOnly`, only as its doctor).
    func participantAppointment(by caller: Caller, id: String, action: String, doctorOnly: Bool) throws(ClinicError) -> AppointmentRecord {
        guard let appointment = appointments[id] else { throw .notFound("appointment", id) }
        let isDoctor = caller.role == .doctor && caller.userID == appointment.doctorID
        let isPatient = caller.role == .patient && caller.userID == appointment.patientID
        guard isDoctor || (!doctorOnly && isPatient) else {
            let why = doctorOnly ? "only the appointment's doctor can do this" : "appointment \(id) is not yours"
            throw denied(.forbidden(why), action: action, patientID: appointment.patientID, targetID: id, by: caller)
        }
        return appointment
    }

    func readableAppointment(by caller: Caller, id: String, action: String) throws(ClinicError) -> (AppointmentRecord, String) {
        guard let appointment = appointments[id] else { throw .notFound("appointment", id) }
        if (caller.role == .doctor && caller.userID == appointment.doctorID) || (caller.role == .patient && caller.userID == appointment.patientID) {
            return (appointment, "")
        }
        if caller.role == .admin, case let .breakGlass(reason)? = access(caller, toPatient: appointment.patientID) {
            return (appointment, "break-glass: " + reason)
        }
        throw denied(.forbidden("appointment \(id) is not yours"), action: action, patientID: appointment.patientID, targetID: id, by: caller)
    }

    func save(_ appointment: AppointmentRecord, by caller: Caller, action: String, detail: String = "") throws(ClinicError) -> AppointmentInfo {
        var updated = appointment
        updated.updatedAt = clock.now()
        updated.lastChangedBy = caller.userID
        let record = updated
        try commit(AuditEvent(action: action, patientID: record.patientID, targetID: record.id, detail: detail), by: caller) {
            $0.put(record, in: Spaces.appointments, id: record.id)
        }
        appointments[record.id] = record
        let result = info(record)
        publish(appointment: result)
        return result
    }

    func publish(appointment: AppointmentInfo) {
        events.publish(ClinicEvent(type: .appointment, appointmentID: appointment.id, message: nil, appointment: appointment),
                       to: [appointment.patientID, appointment.doctorID])
    }

    func info(_ slot: SlotRecord) -> SlotInfo {
        SlotInfo(id: slot.id, doctorID: slot.doctorID, doctorName: name(of: slot.doctorID), start: Date(slot.start),
                 end: Date(slot.end), booked: slotHolder[slot.id] != nil)
    }

    func info(_ appointment: AppointmentRecord) -> AppointmentInfo {
        let slot = slots[appointment.slotID]
        let start = slot.map { Date($0.start) } ?? Date(timeIntervalSince1970: 0)
        let within: Bool? = appointment.deadline.flatMap { deadline in slot.map { $0.start <= deadline } }
        return AppointmentInfo(
            id: appointment.id, patientID: appointment.patientID, patientName: name(of: appointment.patientID),
            doctorID: appointment.doctorID, doctorName: name(of: appointment.doctorID), slotID: appointment.slotID,
            start: start, end: slot.map { Date($0.end) } ?? start, state: appointment.state, followUp: appointment.followUp,
            reason: appointment.reason, diagnosisID: appointment.diagnosisID.isEmpty ? nil : appointment.diagnosisID,
            deadline: appointment.deadline.map(Date.init), withinDeadline: within, createdAt: Date(appointment.createdAt),
            updatedAt: Date(appointment.updatedAt))
    }

    func info(_ message: MessageRecord) -> MessageInfo {
        MessageInfo(id: message.id, appointmentID: message.appointmentID, senderID: message.senderID,
                    senderName: name(of: message.senderID), sentAt: Date(message.sentAt), body: message.body)
    }

    /// How far ahead slots may be published: far enough for any clinic, near enough to catch typos.
    static let schedulingHorizonDays = 2 * 366

    /// A date from a request as a `Timestamp`, refusing what a timestamp cannot hold (before 1970,
    /// after 2500, not finite) instead of trapping on the conversion.
    static func timestamp(_ date: Date, field: String) throws(ClinicError) -> Timestamp {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds >= 0, seconds < 16_725_225_600 else {
            throw .invalid("'\(field)' (\(iso(date))) is outside the years 1970 to 2499")
        }
        return Timestamp(secondsSinceEpoch: seconds)
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

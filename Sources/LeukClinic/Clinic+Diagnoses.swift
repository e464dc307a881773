import LeukCore
import LeukCrypto
import LeukStore
import Foundation

extension Clinic {
    /// A doctor submits a cell image for a patient. The node's model classifies it; the diagnosis (with
    /// every class probability, the model's digest and version, the image's SHA-256 and the image
    /// itself, encrypted) is stored; and when the outcome calls for a follow-up, an appointment is
    /// proposed in the earliest free slot (the doctor's own first, else any doctor's), for the doctor to
    /// confirm.
    public func diagnose(by caller: Caller, patient reference: String, image: [UInt8], fileName: String) async throws(ClinicError) -> DiagnosisOutcome {
        guard caller.role == .doctor else {
            throw denied(.forbidden("only doctors submit images for diagnosis"), action: "diagnosis.create", by: caller)
        }
        guard !image.isEmpty else { throw .invalid("the image is empty") }
        guard image.count <= configuration.maxImageBytes else {
            throw .invalid("the image has \(image.count) bytes, more than the limit of \(configuration.maxImageBytes)")
        }
        let fileName = (fileName as NSString).lastPathComponent
        guard (1...255).contains(fileName.utf8.count) else { throw .invalid("the image file name must have 1 to 255 bytes") }
        let patient = try requirePatient(reference)

        let classification: Classification
        do {
            classification = try await classifier.classify(imageBytes: image, fileName: fileName)
        } catch let error as ClassificationError {
            switch error {
            case .unreadableImage: throw ClinicError(.invalid, error.description, hint: error.hint)
            case .modelUnavailable: throw ClinicError(.unavailable, error.description, hint: error.hint)
            }
        } catch let error as any LeukUserFacingError {
            throw ClinicError(.unavailable, "the model failed: \(error.description)", hint: error.hint)
        } catch {
            throw ClinicError(.unavailable, "the model failed: \(error)")
        }
        let policy = configuration.followUp
        guard !classification.probabilities.isEmpty,
              classification.probabilities.values.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }),
              classification.responseTimeMs.isFinite, classification.responseTimeMs >= 0 else {
            throw ClinicError(.unavailable, "the model returned invalid probabilities")
        }
        guard let positive = classification.probabilities[policy.positiveClass] else {
            let classes = classification.probabilities.keys.sorted().joined(separator: ", ")
            throw ClinicError(.unavailable, "the model has no class '\(policy.positiveClass)' (it has \(classes))",
                              hint: "use a binary all/hem model for screening, or configure the positive class")
        }

        // From here on nothing suspends: the slot chosen below is still free when it is written.
        let now = clock.now()
        let followUp = policy.followUp(forPositiveProbability: positive)
        var diagnosis = DiagnosisRecord(
            id: RecordID.make("dgn"), patientID: patient.id, doctorID: caller.userID, createdAt: now,
            imageSHA256: Hex.encode(SHA256Hasher.hash(image)), imageFileName: fileName, imageByteCount: UInt64(image.count),
            probabilities: classification.probabilities.map { ClassProbability(label: $0.key, probability: $0.value) }
                .sorted { $0.label < $1.label },
            predicted: classification.predicted, modelSHA256: classification.modelSHA256,
            modelVersion: classification.modelVersion, responseTimeMs: classification.responseTimeMs, followUp: followUp)
        var appointment: AppointmentRecord?
        var warning: String?
        var audits = [AuditEvent(action: "diagnosis.create", patientID: patient.id, targetID: diagnosis.id,
                                 detail: "P(\(policy.positiveClass))=\(String(format: "%.4f", positive)), follow-up \(followUp.rawValue), model v\(classification.modelVersion) \(classification.modelSHA256.prefix(16))")]
        if followUp.needsAppointment {
            if let slot = earliestFreeSlot(preferring: caller.userID, after: now) {
                let proposal = AppointmentRecord(
                    id: RecordID.make("apt"), patientID: patient.id, doctorID: slot.doctorID, slotID: slot.id,
                    state: .requested, followUp: followUp, reason: Self.reason(for: followUp), diagnosisID: diagnosis.id,
                    createdAt: now, deadline: policy.deadline(for: followUp, after: now), lastChangedBy: "system")
                diagnosis.appointmentID = proposal.id
                appointment = proposal
                audits.append(AuditEvent(action: "appointment.propose", patientID: patient.id, targetID: proposal.id,
                                         detail: "slot \(slot.id) for \(followUp.rawValue) follow-up"))
            } else {
                warning = "the outcome calls for a \(followUp.rawValue) follow-up, but no doctor has a free slot: add slots " +
                    "(`leuknode slot add`) and book one (`leuknode appointment book`)"
            }
        }
        let record = diagnosis
        try commit(audits, by: caller) {
            $0.put(record, in: Spaces.diagnoses, id: record.id)
            $0.put(ImageRecord(bytes: image), in: Spaces.images, id: record.id)
            if let appointment { $0.put(appointment, in: Spaces.appointments, id: appointment.id) }
        }
        diagnoses[record.id] = record
        care.insert(CareKey(doctorID: caller.userID, patientID: patient.id))
        var appointmentInfo: AppointmentInfo?
        if let appointment {
            appointments[appointment.id] = appointment
            slotHolder[appointment.slotID] = appointment.id
            care.insert(CareKey(doctorID: appointment.doctorID, patientID: patient.id))
            let info = self.info(appointment)
            appointmentInfo = info
            publish(appointment: info)
        }
        return DiagnosisOutcome(diagnosis: info(record), appointment: appointmentInfo, warning: warning)
    }

    /// Patients see their own released diagnoses; doctors their patients'; admins one patient's under
    /// break-glass (`patient` is then required).
    public func listDiagnoses(by caller: Caller, patient reference: String? = nil) throws(ClinicError) -> [DiagnosisInfo] {
        var patientFilter: String?
        if let reference {
            let patient = try requirePatient(reference)
            guard access(caller, toPatient: patient.id) != nil else {
                throw denied(.forbidden("you may not read \(patient.name)'s diagnoses"), action: "diagnosis.list",
                             patientID: patient.id, by: caller)
            }
            patientFilter = patient.id
        }
        let visible: [DiagnosisRecord]
        var detail = ""
        switch caller.role {
        case .patient:
            visible = diagnoses.values.filter { $0.patientID == caller.userID && $0.reviewState == .released }
        case .doctor:
            visible = diagnoses.values.filter { care.contains(CareKey(doctorID: caller.userID, patientID: $0.patientID)) }
        case .admin:
            guard let patientFilter, case let .breakGlass(reason)? = access(caller, toPatient: patientFilter) else {
                throw denied(.forbidden("admins read diagnoses only under break-glass access to one patient"),
                             action: "diagnosis.list", by: caller)
            }
            detail = "break-glass: " + reason
            visible = Array(diagnoses.values)
        }
        let list = visible.filter { patientFilter == nil || $0.patientID == patientFilter }.sorted { $0.createdAt < $1.createdAt }
        try commit(AuditEvent(action: "diagnosis.list", patientID: patientFilter ?? (caller.role == .patient ? caller.userID : ""),
                              detail: ([detail, "\(list.count) diagnoses"].filter { !$0.isEmpty }).joined(separator: "; ")), by: caller)
        return list.map(info)
    }

    public func diagnosis(by caller: Caller, id: String) throws(ClinicError) -> DiagnosisInfo {
        let (record, basis) = try readableDiagnosis(by: caller, id: id, action: "diagnosis.read")
        try commit(AuditEvent(action: "diagnosis.read", patientID: record.patientID, targetID: id, detail: basis.auditDetail), by: caller)
        return info(record)
    }

    /// The submitted image's bytes (decrypted), for whoever may read the diagnosis.
    public func diagnosisImage(by caller: Caller, id: String) throws(ClinicError) -> (fileName: String, bytes: [UInt8]) {
        let (record, basis) = try readableDiagnosis(by: caller, id: id, action: "diagnosis.image.read")
        let image: ImageRecord?
        do {
            image = try store.get(ImageRecord.self, in: Spaces.images, id: id)
        } catch {
            throw .storage(error)
        }
        guard let image else { throw ClinicError(.storage, "the image of diagnosis \(id) is missing from the database") }
        try commit(AuditEvent(action: "diagnosis.image.read", patientID: record.patientID, targetID: id, detail: basis.auditDetail), by: caller)
        return (record.imageFileName, image.bytes)
    }

    /// The doctor's review: sets the note, and moves a pending diagnosis to `reviewed`.
    public func reviewDiagnosis(by caller: Caller, id: String, note: String) throws(ClinicError) -> DiagnosisInfo {
        var record = try writableDiagnosis(by: caller, id: id, action: "diagnosis.review")
        try checkNote(note)
        record.note = note
        if record.reviewState == .pendingReview {
            record.reviewState = .reviewed
            record.reviewedAt = clock.now()
        }
        let updated = record
        try commit(AuditEvent(action: "diagnosis.review", patientID: record.patientID, targetID: id), by: caller) {
            $0.put(updated, in: Spaces.diagnoses, id: id)
        }
        diagnoses[id] = updated
        return info(updated)
    }

    /// Releases the result to the patient (optionally with a final note); from then on they see it.
    public func releaseDiagnosis(by caller: Caller, id: String, note: String?) throws(ClinicError) -> DiagnosisInfo {
        var record = try writableDiagnosis(by: caller, id: id, action: "diagnosis.release")
        guard record.reviewState != .released else {
            throw ClinicError(.conflict, "diagnosis \(id) is already released")
        }
        if let note {
            try checkNote(note)
            record.note = note
        }
        let now = clock.now()
        if record.reviewedAt == nil { record.reviewedAt = now }
        record.reviewState = .released
        record.releasedAt = now
        let updated = record
        try commit(AuditEvent(action: "diagnosis.release", patientID: record.patientID, targetID: id), by: caller) {
            $0.put(updated, in: Spaces.diagnoses, id: id)
        }
        diagnoses[id] = updated
        return info(updated)
    }

    // MARK: - Helpers

    func readableDiagnosis(by caller: Caller, id: String, action: String) throws(ClinicError) -> (DiagnosisRecord, AccessBasis) {
        guard let record = diagnoses[id] else { throw .notFound("diagnosis", id) }
        guard let basis = access(caller, toPatient: record.patientID) else {
            throw denied(.forbidden("diagnosis \(id) belongs to a patient you do not care for"), action: action,
                         patientID: record.patientID, targetID: id, by: caller)
        }
        if caller.role == .patient && record.reviewState != .released {
            // Until the doctor releases it, the diagnosis does not exist for the patient.
            throw ClinicError(.notFound, "no released diagnosis with id '\(id)'", hint: "your doctor releases results after review")
        }
        return (record, basis)
    }

    func writableDiagnosis(by caller: Caller, id: String, action: String) throws(ClinicError) -> DiagnosisRecord {
        guard let record = diagnoses[id] else { throw .notFound("diagnosis", id) }
        guard caller.role == .doctor, care.contains(CareKey(doctorID: caller.userID, patientID: record.patientID)) else {
            throw denied(.forbidden("only a doctor caring for the patient can review or release diagnosis \(id)"),
                         action: action, patientID: record.patientID, targetID: id, by: caller)
        }
        return record
    }

    func checkNote(_ note: String) throws(ClinicError) {
        guard note.count <= configuration.maxMessageLength else {
            throw .invalid("the note has \(note.count) characters, more than the limit of \(configuration.maxMessageLength)")
        }
    }

    func info(_ record: DiagnosisRecord) -> DiagnosisInfo {
        DiagnosisInfo(
            id: record.id, patientID: record.patientID, patientName: name(of: record.patientID), doctorID: record.doctorID,
            doctorName: name(of: record.doctorID), createdAt: Date(record.createdAt), imageSHA256: record.imageSHA256,
            imageFileName: record.imageFileName, imageBytes: record.imageByteCount,
            probabilities: Dictionary(record.probabilities.map { ($0.label, $0.probability) }, uniquingKeysWith: { first, _ in first }),
            predicted: record.predicted, modelSHA256: record.modelSHA256, modelVersion: record.modelVersion,
            responseTimeMs: record.responseTimeMs, followUp: record.followUp, reviewState: record.reviewState, note: record.note,
            reviewedAt: record.reviewedAt.map(Date.init), releasedAt: record.releasedAt.map(Date.init),
            appointmentID: record.appointmentID.isEmpty ? nil : record.appointmentID)
    }

    static func reason(for followUp: FollowUp) -> String {
        switch followUp {
        case .urgent: return "urgent hematology follow-up"
        case .review: return "review of a screening result"
        case .routine: return "routine visit"
        }
    }
}

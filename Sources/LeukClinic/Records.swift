import LeukCore
public import LeukStore

/// Where each kind of record lives. Everything that names or describes a patient is in a sensitive
/// (encrypted at rest) keyspace; only slots (a doctor's published availability) are plain.
enum Spaces {
    static let users = Keyspace("clinic-users", sensitive: true)
    static let sessions = Keyspace("clinic-sessions", sensitive: true)
    static let diagnoses = Keyspace("clinic-diagnoses", sensitive: true)
    static let images = Keyspace("clinic-images", sensitive: true)
    static let slots = Keyspace("clinic-slots", sensitive: false)
    static let appointments = Keyspace("clinic-appointments", sensitive: true)
    static let messages = Keyspace("clinic-messages", sensitive: true)
    static let audit = Keyspace("clinic-audit", sensitive: true)
    static let auditHead = Keyspace("clinic-audit-head", sensitive: true)
}

/// Every record type the clinic stores, with its keyspace, for code that reads a clinic's database
/// without a `Clinic`. The record types are internal; `leukfuzz` (target `store-records`) reaches their
/// decoders through this list alone.
public enum ClinicRecordKinds {
    public static var all: [(name: String, keyspace: Keyspace, type: any StoreRecord.Type)] {
        [("user", Spaces.users, UserRecord.self), ("session", Spaces.sessions, SessionRecord.self),
         ("diagnosis", Spaces.diagnoses, DiagnosisRecord.self), ("image", Spaces.images, ImageRecord.self),
         ("slot", Spaces.slots, SlotRecord.self), ("appointment", Spaces.appointments, AppointmentRecord.self),
         ("message", Spaces.messages, MessageRecord.self), ("audit", Spaces.audit, AuditRecord.self),
         ("audit-head", Spaces.auditHead, AuditHeadRecord.self)]
    }
}

/// Upper bounds applied when reading records back, so a corrupt length cannot allocate gigabytes.
enum Limits {
    static let name = 256
    static let text = 64 * 1024
    static let hash = 512
    static let image = 64 << 20
    static let classes = 64
}

extension Timestamp {
    /// `0` stands for "not set" in records, since the epoch itself is never a real event time here.
    static func optional(_ raw: UInt64) -> Timestamp? { raw == 0 ? nil : Timestamp(nanosecondsSinceEpoch: raw) }
}

extension Optional where Wrapped == Timestamp {
    var raw: UInt64 { self?.nanosecondsSinceEpoch ?? 0 }
}

struct UserRecord: StoreRecord, Equatable {
    /// 2 added `disabled`; a version-1 record reads as enabled.
    static let formatVersion: UInt8 = 2
    var id: String
    var name: String
    var role: Role
    var passwordHash: String
    var createdAt: Timestamp
    /// Consecutive failed logins since the last success.
    var failedLogins: UInt32
    /// Logins are refused until then (lockout with back-off).
    var lockedUntil: Timestamp?
    /// An admin disabled the account: no login, no session, until an admin enables it again.
    var disabled = false

    init(id: String, name: String, role: Role, passwordHash: String, createdAt: Timestamp) {
        self.id = id
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        failedLogins = 0
        lockedUntil = nil
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(id)
        writer.writeString(name)
        writer.writeString(role.rawValue)
        writer.writeString(passwordHash)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.write(failedLogins)
        writer.write(lockedUntil.raw)
        writer.write(disabled)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        id = try reader.readString("user.id", limit: Limits.name)
        name = try reader.readString("user.name", limit: Limits.name)
        let roleText = try reader.readString("user.role", limit: Limits.name)
        guard let role = Role(rawValue: roleText) else {
            throw BinaryDecodingError(field: "user.role", reason: .invalid("unknown role '\(roleText)'"))
        }
        self.role = role
        passwordHash = try reader.readString("user.password_hash", limit: Limits.hash)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("user.created_at"))
        failedLogins = try reader.readUInt32("user.failed_logins")
        lockedUntil = .optional(try reader.readUInt64("user.locked_until"))
        disabled = version >= 2 ? try reader.readBool("user.disabled") : false
    }
}

struct SessionRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    var userID: String
    var createdAt: Timestamp
    var lastUsedAt: Timestamp

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(userID)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.write(lastUsedAt.nanosecondsSinceEpoch)
    }

    init(userID: String, createdAt: Timestamp, lastUsedAt: Timestamp) {
        self.userID = userID
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        userID = try reader.readString("session.user_id", limit: Limits.name)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("session.created_at"))
        lastUsedAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("session.last_used_at"))
    }
}

/// Where a diagnosis stands: the doctor reviews it, then releases it to the patient.
public enum ReviewState: String, Sendable, Codable, CaseIterable {
    case pendingReview = "pending_review"
    case reviewed
    case released
}

struct DiagnosisRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    var id: String
    var patientID: String
    var doctorID: String
    var createdAt: Timestamp
    var imageSHA256: String
    var imageFileName: String
    var imageByteCount: UInt64
    /// Every class probability, sorted by class name so the encoding is canonical.
    var probabilities: [ClassProbability]
    var predicted: String
    var modelSHA256: String
    var modelVersion: UInt64
    var responseTimeMs: Double
    var followUp: FollowUp
    var reviewState: ReviewState
    var note: String
    var reviewedAt: Timestamp?
    var releasedAt: Timestamp?
    /// The appointment proposed from this outcome, or "" when none was (routine, or no free slot).
    var appointmentID: String

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(id)
        writer.writeString(patientID)
        writer.writeString(doctorID)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.writeString(imageSHA256)
        writer.writeString(imageFileName)
        writer.write(imageByteCount)
        writer.write(UInt32(probabilities.count))
        for p in probabilities {
            writer.writeString(p.label)
            writer.write(p.probability)
        }
        writer.writeString(predicted)
        writer.writeString(modelSHA256)
        writer.write(modelVersion)
        writer.write(responseTimeMs)
        writer.writeString(followUp.rawValue)
        writer.writeString(reviewState.rawValue)
        writer.writeString(note)
        writer.write(reviewedAt.raw)
        writer.write(releasedAt.raw)
        writer.writeString(appointmentID)
    }

    init(id: String, patientID: String, doctorID: String, createdAt: Timestamp, imageSHA256: String, imageFileName: String,
         imageByteCount: UInt64, probabilities: [ClassProbability], predicted: String, modelSHA256: String, modelVersion: UInt64,
         responseTimeMs: Double, followUp: FollowUp) {
        self.id = id
        self.patientID = patientID
        self.doctorID = doctorID
        self.createdAt = createdAt
        self.imageSHA256 = imageSHA256
        self.imageFileName = imageFileName
        self.imageByteCount = imageByteCount
        self.probabilities = probabilities
        self.predicted = predicted
        self.modelSHA256 = modelSHA256
        self.modelVersion = modelVersion
        self.responseTimeMs = responseTimeMs
        self.followUp = followUp
        reviewState = .pendingReview
        note = ""
        reviewedAt = nil
        releasedAt = nil
        appointmentID = ""
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        id = try reader.readString("diagnosis.id", limit: Limits.name)
        patientID = try reader.readString("diagnosis.patient_id", limit: Limits.name)
        doctorID = try reader.readString("diagnosis.doctor_id", limit: Limits.name)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("diagnosis.created_at"))
        imageSHA256 = try reader.readString("diagnosis.image_sha256", limit: Limits.name)
        imageFileName = try reader.readString("diagnosis.image_file_name", limit: Limits.name)
        imageByteCount = try reader.readUInt64("diagnosis.image_bytes")
        let count = Int(try reader.readUInt32("diagnosis.probabilities.count"))
        guard count <= Limits.classes else {
            throw BinaryDecodingError(field: "diagnosis.probabilities", reason: .tooLarge(length: count, limit: Limits.classes))
        }
        var probabilities: [ClassProbability] = []
        for _ in 0..<count {
            let label = try reader.readString("diagnosis.probabilities.label", limit: Limits.name)
            probabilities.append(ClassProbability(label: label, probability: try reader.readDouble("diagnosis.probabilities.value")))
        }
        self.probabilities = probabilities
        predicted = try reader.readString("diagnosis.predicted", limit: Limits.name)
        modelSHA256 = try reader.readString("diagnosis.model_sha256", limit: Limits.name)
        modelVersion = try reader.readUInt64("diagnosis.model_version")
        responseTimeMs = try reader.readDouble("diagnosis.response_time_ms")
        let followText = try reader.readString("diagnosis.follow_up", limit: Limits.name)
        guard let followUp = FollowUp(rawValue: followText) else {
            throw BinaryDecodingError(field: "diagnosis.follow_up", reason: .invalid("unknown follow-up '\(followText)'"))
        }
        self.followUp = followUp
        let stateText = try reader.readString("diagnosis.review_state", limit: Limits.name)
        guard let state = ReviewState(rawValue: stateText) else {
            throw BinaryDecodingError(field: "diagnosis.review_state", reason: .invalid("unknown state '\(stateText)'"))
        }
        reviewState = state
        note = try reader.readString("diagnosis.note", limit: Limits.text)
        reviewedAt = .optional(try reader.readUInt64("diagnosis.reviewed_at"))
        releasedAt = .optional(try reader.readUInt64("diagnosis.released_at"))
        appointmentID = try reader.readString("diagnosis.appointment_id", limit: Limits.name)
    }
}

/// The submitted image, kept apart from the diagnosis so listing diagnoses never decrypts images.
struct ImageRecord: StoreRecord {
    static let formatVersion: UInt8 = 1
    var bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    func encode(to writer: inout BinaryWriter) { writer.writeBytes(bytes) }
    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        bytes = try reader.readBytes("image.bytes", limit: Limits.image)
    }
}

struct SlotRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    var id: String
    var doctorID: String
    var start: Timestamp
    var end: Timestamp
    var createdAt: Timestamp

    init(id: String, doctorID: String, start: Timestamp, end: Timestamp, createdAt: Timestamp) {
        self.id = id
        self.doctorID = doctorID
        self.start = start
        self.end = end
        self.createdAt = createdAt
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(id)
        writer.writeString(doctorID)
        writer.write(start.nanosecondsSinceEpoch)
        writer.write(end.nanosecondsSinceEpoch)
        writer.write(createdAt.nanosecondsSinceEpoch)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        id = try reader.readString("slot.id", limit: Limits.name)
        doctorID = try reader.readString("slot.doctor_id", limit: Limits.name)
        start = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("slot.start"))
        end = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("slot.end"))
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("slot.created_at"))
    }
}

/// An appointment's life: requested (proposed or asked for), confirmed by the doctor, possibly
/// rescheduled (awaiting confirmation again), and finally cancelled or completed.
public enum AppointmentState: String, Sendable, Codable, CaseIterable {
    case requested
    case confirmed
    case rescheduled
    case cancelled
    case completed

    /// Still to happen: it can be confirmed, moved or cancelled.
    public var isOpen: Bool {
        switch self {
        case .requested, .confirmed, .rescheduled: return true
        case .cancelled, .completed: return false
        }
    }

    /// Whether the appointment keeps its slot. Only cancelling gives a slot back: a completed
    /// appointment used it up.
    public var holdsSlot: Bool { self != .cancelled }
}

struct AppointmentRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    var id: String
    var patientID: String
    var doctorID: String
    var slotID: String
    var state: AppointmentState
    var followUp: FollowUp
    var reason: String
    var diagnosisID: String
    var createdAt: Timestamp
    var updatedAt: Timestamp
    /// The latest time the follow-up should happen (48 h for urgent, 7 days for review), if any.
    var deadline: Timestamp?
    /// Who asked for the last change (a user id, or "system" for a proposal from a diagnosis).
    var lastChangedBy: String

    init(id: String, patientID: String, doctorID: String, slotID: String, state: AppointmentState, followUp: FollowUp,
         reason: String, diagnosisID: String, createdAt: Timestamp, deadline: Timestamp?, lastChangedBy: String) {
        self.id = id
        self.patientID = patientID
        self.doctorID = doctorID
        self.slotID = slotID
        self.state = state
        self.followUp = followUp
        self.reason = reason
        self.diagnosisID = diagnosisID
        self.createdAt = createdAt
        updatedAt = createdAt
        self.deadline = deadline
        self.lastChangedBy = lastChangedBy
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(id)
        writer.writeString(patientID)
        writer.writeString(doctorID)
        writer.writeString(slotID)
        writer.writeString(state.rawValue)
        writer.writeString(followUp.rawValue)
        writer.writeString(reason)
        writer.writeString(diagnosisID)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.write(updatedAt.nanosecondsSinceEpoch)
        writer.write(deadline.raw)
        writer.writeString(lastChangedBy)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        id = try reader.readString("appointment.id", limit: Limits.name)
        patientID = try reader.readString("appointment.patient_id", limit: Limits.name)
        doctorID = try reader.readString("appointment.doctor_id", limit: Limits.name)
        slotID = try reader.readString("appointment.slot_id", limit: Limits.name)
        let stateText = try reader.readString("appointment.state", limit: Limits.name)
        guard let state = AppointmentState(rawValue: stateText) else {
            throw BinaryDecodingError(field: "appointment.state", reason: .invalid("unknown state '\(stateText)'"))
        }
        self.state = state
        let followText = try reader.readString("appointment.follow_up", limit: Limits.name)
        guard let followUp = FollowUp(rawValue: followText) else {
            throw BinaryDecodingError(field: "appointment.follow_up", reason: .invalid("unknown follow-up '\(followText)'"))
        }
        self.followUp = followUp
        reason = try reader.readString("appointment.reason", limit: Limits.text)
        diagnosisID = try reader.readString("appointment.diagnosis_id", limit: Limits.name)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("appointment.created_at"))
        updatedAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("appointment.updated_at"))
        deadline = .optional(try reader.readUInt64("appointment.deadline"))
        lastChangedBy = try reader.readString("appointment.last_changed_by", limit: Limits.name)
    }
}

struct MessageRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    var id: String
    var appointmentID: String
    var senderID: String
    var sentAt: Timestamp
    var body: String

    init(id: String, appointmentID: String, senderID: String, sentAt: Timestamp, body: String) {
        self.id = id
        self.appointmentID = appointmentID
        self.senderID = senderID
        self.sentAt = sentAt
        self.body = body
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(id)
        writer.writeString(appointmentID)
        writer.writeString(senderID)
        writer.write(sentAt.nanosecondsSinceEpoch)
        writer.writeString(body)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        id = try reader.readString("message.id", limit: Limits.name)
        appointmentID = try reader.readString("message.appointment_id", limit: Limits.name)
        senderID = try reader.readString("message.sender_id", limit: Limits.name)
        sentAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("message.sent_at"))
        body = try reader.readString("message.body", limit: Limits.text)
    }
}

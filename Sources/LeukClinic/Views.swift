public import Foundation
import LeukCore

// What the clinic returns: plain Codable values with the JSON keys of the API (snake_case), so the
// HTTP layer encodes them as they are and the CLI decodes the very same types. Optional fields are
// left out of the JSON when empty.

public struct UserInfo: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    public var createdAt: Date
    /// Set while the account is locked out after failed logins.
    public var lockedUntil: Date?
    /// True while an admin has disabled the account (left out of the JSON otherwise).
    public var disabled: Bool?

    enum CodingKeys: String, CodingKey {
        case id, name, role, createdAt = "created_at", lockedUntil = "locked_until", disabled
    }
}

public struct LoginResult: Sendable, Codable {
    /// The bearer token: send it as `Authorization: Bearer <token>`. Shown once; the node keeps only its hash.
    public var token: String
    public var user: UserInfo
    /// The session ends after this many seconds without a request.
    public var idleTimeoutSeconds: Int

    enum CodingKeys: String, CodingKey {
        case token, user, idleTimeoutSeconds = "idle_timeout_seconds"
    }
}

public struct DiagnosisInfo: Sendable, Codable, Equatable {
    public var id: String
    public var patientID: String
    public var patientName: String
    public var doctorID: String
    public var doctorName: String
    public var createdAt: Date
    public var imageSHA256: String
    public var imageFileName: String
    public var imageBytes: UInt64
    /// Every class's probability.
    public var probabilities: [String: Double]
    public var predicted: String
    public var modelSHA256: String
    public var modelVersion: UInt64
    public var responseTimeMs: Double
    public var followUp: FollowUp
    public var reviewState: ReviewState
    public var note: String
    public var reviewedAt: Date?
    public var releasedAt: Date?
    public var appointmentID: String?

    enum CodingKeys: String, CodingKey {
        case id, patientID = "patient_id", patientName = "patient_name", doctorID = "doctor_id", doctorName = "doctor_name"
        case createdAt = "created_at", imageSHA256 = "image_sha256", imageFileName = "image_file_name"
        case imageBytes = "image_bytes", probabilities, predicted, modelSHA256 = "model_sha256"
        case modelVersion = "model_version", responseTimeMs = "response_time_ms", followUp = "follow_up"
        case reviewState = "review_state", note, reviewedAt = "reviewed_at", releasedAt = "released_at"
        case appointmentID = "appointment_id"
    }
}

/// A diagnosis as its doctor receives it when submitting: the record and the appointment it led to.
public struct DiagnosisOutcome: Sendable, Codable, Equatable {
    public var diagnosis: DiagnosisInfo
    /// The proposed follow-up appointment, when the outcome calls for one and a slot was free.
    public var appointment: AppointmentInfo?
    /// Why no appointment was proposed although one is needed (no free slot), for the doctor to act on.
    public var warning: String?
}

public struct SlotInfo: Sendable, Codable, Equatable {
    public var id: String
    public var doctorID: String
    public var doctorName: String
    public var start: Date
    public var end: Date
    public var booked: Bool

    enum CodingKeys: String, CodingKey {
        case id, doctorID = "doctor_id", doctorName = "doctor_name", start, end, booked
    }
}

public struct AppointmentInfo: Sendable, Codable, Equatable {
    public var id: String
    public var patientID: String
    public var patientName: String
    public var doctorID: String
    public var doctorName: String
    public var slotID: String
    public var start: Date
    public var end: Date
    public var state: AppointmentState
    public var followUp: FollowUp
    public var reason: String
    public var diagnosisID: String?
    /// When the follow-up should have happened by (urgent: 48 h, review: 7 days after the diagnosis).
    public var deadline: Date?
    /// False when the earliest free slot is later than the deadline: the doctor should find an earlier time.
    public var withinDeadline: Bool?
    public var createdAt: Date
    public var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, patientID = "patient_id", patientName = "patient_name", doctorID = "doctor_id", doctorName = "doctor_name"
        case slotID = "slot_id", start, end, state, followUp = "follow_up", reason, diagnosisID = "diagnosis_id"
        case deadline, withinDeadline = "within_deadline", createdAt = "created_at", updatedAt = "updated_at"
    }
}

public struct MessageInfo: Sendable, Codable, Equatable {
    public var id: String
    public var appointmentID: String
    public var senderID: String
    public var senderName: String
    public var sentAt: Date
    public var body: String

    enum CodingKeys: String, CodingKey {
        case id, appointmentID = "appointment_id", senderID = "sender_id", senderName = "sender_name", sentAt = "sent_at", body
    }
}

public struct AuditEntryInfo: Sendable, Codable, Equatable {
    public var seq: UInt64
    public var time: Date
    public var actorID: String
    public var actorRole: String
    public var action: String
    public var patientID: String?
    public var targetID: String?
    public var outcome: String
    public var detail: String
    /// This entry's chain hash (hex).
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, time, actorID = "actor_id", actorRole = "actor_role", action, patientID = "patient_id"
        case targetID = "target_id", outcome, detail, hash
    }
}

public struct AuditVerification: Sendable, Codable, Equatable {
    /// True when every entry is present, readable and chained to its predecessor.
    public var ok: Bool
    public var entries: UInt64
    /// What is wrong, entry by entry; empty when `ok`.
    public var problems: [String]
}

public struct BreakGlassGrant: Sendable, Codable, Equatable {
    public var patientID: String
    public var reason: String
    public var expiresAt: Date

    enum CodingKeys: String, CodingKey {
        case patientID = "patient_id", reason, expiresAt = "expires_at"
    }
}

/// A change pushed to a participant in real time (`GET /v1/events`).
public struct ClinicEvent: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case message
        case appointment
    }
    public var type: Kind
    public var appointmentID: String
    public var message: MessageInfo?
    public var appointment: AppointmentInfo?

    enum CodingKeys: String, CodingKey {
        case type, appointmentID = "appointment_id", message, appointment
    }
}

extension Date {
    init(_ timestamp: Timestamp) { self.init(timeIntervalSince1970: timestamp.secondsSinceEpoch) }
}

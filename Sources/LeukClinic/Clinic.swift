public import LeukCore
public import LeukCrypto
public import LeukStore
import Foundation

/// Settings of the clinic. The defaults are the production values; tests lower the password-hashing
/// cost explicitly (and a test checks the default stays at or above libsodium's interactive preset).
public struct ClinicConfiguration: Sendable {
    /// Argon2id cost for new and upgraded password hashes.
    public var passwordHasher: PasswordHasher
    /// A session ends after this long without a request (automatic log-off).
    public var sessionIdleTimeout: Duration
    /// Failed logins in a row before the account locks.
    public var lockoutThreshold: Int
    /// The first lock lasts this long; each further failure doubles it, up to `lockoutMaximum`.
    public var lockoutBase: Duration
    public var lockoutMaximum: Duration
    public var followUp: FollowUpPolicy
    /// How long an admin's emergency access to one patient lasts.
    public var breakGlassDuration: Duration
    public var maxImageBytes: Int
    public var minimumPasswordLength: Int
    public var maxMessageLength: Int

    public init(passwordHasher: PasswordHasher = .interactive, sessionIdleTimeout: Duration = .seconds(15 * 60),
                lockoutThreshold: Int = 5, lockoutBase: Duration = .seconds(30), lockoutMaximum: Duration = .seconds(3600),
                followUp: FollowUpPolicy = FollowUpPolicy(), breakGlassDuration: Duration = .seconds(15 * 60),
                maxImageBytes: Int = 16 << 20, minimumPasswordLength: Int = 8, maxMessageLength: Int = 4000) {
        self.passwordHasher = passwordHasher
        self.sessionIdleTimeout = sessionIdleTimeout
        self.lockoutThreshold = lockoutThreshold
        self.lockoutBase = lockoutBase
        self.lockoutMaximum = lockoutMaximum
        self.followUp = followUp
        self.breakGlassDuration = breakGlassDuration
        self.maxImageBytes = maxImageBytes
        self.minimumPasswordLength = minimumPasswordLength
        self.maxMessageLength = maxMessageLength
    }
}

/// The clinic: users and sessions, diagnoses, slots, appointments, messages and the audit log, kept in
/// the node's `RecordStore`.
///
/// Every method takes the `Caller` and enforces who may do what: patients reach only their own
/// records, doctors their own patients' (a doctor's patients are those they diagnosed or have an
/// appointment with), admins manage users and read clinical content only through logged break-glass
/// access. Every read and write of patient data appends to the hash-chained audit log, in the same
/// synced LevelDB batch as the data it describes, so what the clinic acknowledges survives a crash.
///
/// The actor runs on a dedicated store thread (`ThreadExecutor.clinicStore`): writes block there, not on the
/// cooperative pool, and since no method suspends between a check and its write, checks such as "this
/// slot is free" and the write that takes the slot are atomic.
public actor Clinic {
    public nonisolated var unownedExecutor: UnownedSerialExecutor { ThreadExecutor.clinicStore.asUnownedSerialExecutor() }

    let store: RecordStore
    let clock: any WallClock
    let classifier: any CellClassifier
    public nonisolated let configuration: ClinicConfiguration
    /// Real-time events for participants; the API streams them as server-sent events.
    public nonisolated let events: EventHub
    let operatorDigest: [UInt8]?

    struct LiveSession {
        var record: SessionRecord
        var persistedAt: Timestamp
    }

    struct CareKey: Hashable {
        let doctorID: String
        let patientID: String
    }

    struct Grant {
        let until: Timestamp
        let reason: String
    }

    var users: [String: UserRecord] = [:]
    var userIDByName: [String: String] = [:]
    var sessions: [String: LiveSession] = [:]
    var slots: [String: SlotRecord] = [:]
    var appointments: [String: AppointmentRecord] = [:]
    /// slot id -> the appointment holding it (requested, confirmed or rescheduled).
    var slotHolder: [String: String] = [:]
    var diagnoses: [String: DiagnosisRecord] = [:]
    var care: Set<CareKey> = []
    /// admin id -> patient id -> emergency access grant (in memory only: it lapses on restart).
    var grants: [String: [String: Grant]] = [:]
    var audit: AuditChain
    /// The newest message key stamp handed out (see `sendMessage`).
    var lastMessageStamp: UInt64 = 0
    var dummyHash: String?

    /// Opens the clinic on `store`, loading users, sessions, slots, appointments and diagnosis
    /// metadata into memory (images and messages stay on disk). Blocking: call it once at startup.
    ///
    /// - Parameters:
    ///   - classifier: the node's current model, used by `diagnose`.
    ///   - clock: wall-clock time, injected so tests control expiry and lockout.
    ///   - operatorToken: the token in `DATA_DIR/admin.token`; requests bearing it act as admin.
    public init(store: RecordStore, classifier: any CellClassifier, clock: any WallClock = SystemWallClock(),
                configuration: ClinicConfiguration = ClinicConfiguration(), operatorToken: OperatorToken?) throws(ClinicError) {
        self.store = store
        self.classifier = classifier
        self.clock = clock
        self.configuration = configuration
        self.events = EventHub()
        self.operatorDigest = operatorToken?.digest
        do {
            audit = try AuditChain(store: store)
            for (_, user) in try store.all(UserRecord.self, in: Spaces.users) {
                users[user.id] = user
                userIDByName[user.name.lowercased()] = user.id
            }
            for (key, session) in try store.all(SessionRecord.self, in: Spaces.sessions) {
                sessions[key] = LiveSession(record: session, persistedAt: session.lastUsedAt)
            }
            for (_, slot) in try store.all(SlotRecord.self, in: Spaces.slots) { slots[slot.id] = slot }
            for (_, appointment) in try store.all(AppointmentRecord.self, in: Spaces.appointments) {
                appointments[appointment.id] = appointment
                if appointment.state.holdsSlot { slotHolder[appointment.slotID] = appointment.id }
                care.insert(CareKey(doctorID: appointment.doctorID, patientID: appointment.patientID))
            }
            for (_, diagnosis) in try store.all(DiagnosisRecord.self, in: Spaces.diagnoses) {
                diagnoses[diagnosis.id] = diagnosis
                care.insert(CareKey(doctorID: diagnosis.doctorID, patientID: diagnosis.patientID))
            }
        } catch {
            throw .storage(error)
        }
    }

    // MARK: - Writing

    /// Writes `build`'s records together with one audit entry per event, as one synced batch, and
    /// advances the audit chain only once the batch is on disk.
    func commit(_ events: [AuditEvent], by caller: Caller?, _ build: (inout RecordStore.Batch) -> Void = { _ in }) throws(ClinicError) {
        var batch = store.batch()
        build(&batch)
        var chain = audit
        let now = clock.now()
        for event in events {
            let entry = chain.entry(event, caller: caller, time: now)
            AuditChain.add(entry, to: &batch)
            chain.advance(to: entry)
        }
        do {
            try store.commit(batch, sync: true)
        } catch {
            throw .storage(error)
        }
        audit = chain
    }

    func commit(_ event: AuditEvent, by caller: Caller?, _ build: (inout RecordStore.Batch) -> Void = { _ in }) throws(ClinicError) {
        try commit([event], by: caller, build)
    }

    /// Records a refused access in the audit log and returns the error to throw.
    func denied(_ error: ClinicError, action: String, patientID: String = "", targetID: String = "", by caller: Caller?) -> ClinicError {
        // If even the audit write fails, the refusal still stands; the storage failure shows on the next write.
        try? commit(AuditEvent(action: action, patientID: patientID, targetID: targetID, outcome: .denied,
                               detail: error.description), by: caller)
        return error
    }

    // MARK: - Access rules

    /// Why `caller` may read `patientID`'s clinical records, or `nil` when they may not.
    enum AccessBasis {
        case own
        case careTeam
        case breakGlass(String)

        var auditDetail: String {
            switch self {
            case .own: return ""
            case .careTeam: return ""
            case let .breakGlass(reason): return "break-glass: " + reason
            }
        }
    }

    func access(_ caller: Caller, toPatient patientID: String) -> AccessBasis? {
        switch caller.role {
        case .patient:
            return caller.userID == patientID ? .own : nil
        case .doctor:
            return care.contains(CareKey(doctorID: caller.userID, patientID: patientID)) ? .careTeam : nil
        case .admin:
            guard let grant = grants[caller.userID]?[patientID], grant.until > clock.now() else { return nil }
            return .breakGlass(grant.reason)
        }
    }

    func user(_ id: String) -> UserRecord? { users[id] }

    /// A user by id, or else by name (case-insensitive).
    func resolveUser(_ reference: String) -> UserRecord? {
        if let user = users[reference] { return user }
        guard let id = userIDByName[reference.lowercased()] else { return nil }
        return users[id]
    }

    func name(of userID: String) -> String { users[userID]?.name ?? userID }

    func requirePatient(_ reference: String) throws(ClinicError) -> UserRecord {
        guard let user = resolveUser(reference), user.role == .patient else {
            throw ClinicError(.notFound, "no patient named or with id '\(reference)'",
                              hint: "check the spelling; an admin creates patients with `leuknode user add --role patient`")
        }
        return user
    }
}

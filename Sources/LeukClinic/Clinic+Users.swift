import LeukCore
import LeukCrypto
import LeukStore
import Foundation

extension Clinic {
    static let sessionPersistInterval: Duration = .seconds(60)

    // MARK: - Users

    /// Creates a user. Admins (and the operator) only. Names are unique, case-insensitively.
    public func createUser(by caller: Caller, name: String, role: Role, password: String) async throws(ClinicError) -> UserInfo {
        guard caller.isAdministrator else {
            throw denied(.forbidden("only an admin can create users"), action: "user.create", by: caller)
        }
        let name = name.trimmingCharacters(in: .whitespaces)
        guard (1...64).contains(name.count),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "._-@".unicodeScalars.contains($0) }) else {
            throw .invalid("user name '\(name)' is not allowed", hint: "use 1 to 64 letters, digits, '.', '_', '-' or '@'")
        }
        guard name.lowercased() != Caller.operatorID else { throw .invalid("'\(name)' is reserved for the operator") }
        guard password.count >= configuration.minimumPasswordLength, password.utf8.count <= 1024 else {
            throw .invalid("the password must have \(configuration.minimumPasswordLength) to 1024 characters")
        }
        guard userIDByName[name.lowercased()] == nil else {
            throw ClinicError(.conflict, "a user named '\(name)' already exists", hint: "pick another name")
        }
        let hasher = configuration.passwordHasher
        let hashed = await offload { () -> Result<String, CryptoError> in
            do throws(CryptoError) { return .success(try hasher.hash(password)) } catch { return .failure(error) }
        }
        let hash: String
        switch hashed {
        case let .success(value): hash = value
        case let .failure(error): throw ClinicError(.unavailable, error.description)
        }
        // Checked again: another request may have taken the name while the hash was computed.
        guard userIDByName[name.lowercased()] == nil else {
            throw ClinicError(.conflict, "a user named '\(name)' already exists", hint: "pick another name")
        }
        let record = UserRecord(id: RecordID.make("usr"), name: name, role: role, passwordHash: hash, createdAt: clock.now())
        try commit(AuditEvent(action: "user.create", targetID: record.id, detail: "role \(role.rawValue), name \(name)"), by: caller) {
            $0.put(record, in: Spaces.users, id: record.id)
        }
        users[record.id] = record
        userIDByName[name.lowercased()] = record.id
        return info(record)
    }

    /// Admins see every user; doctors see their own patients; patients may not list users.
    public func listUsers(by caller: Caller) throws(ClinicError) -> [UserInfo] {
        switch caller.role {
        case .admin:
            return users.values.sorted { $0.createdAt < $1.createdAt }.map(info)
        case .doctor:
            let mine = Set(care.filter { $0.doctorID == caller.userID }.map(\.patientID))
            let list = users.values.filter { mine.contains($0.id) }.sorted { $0.name < $1.name }.map(info)
            try commit(AuditEvent(action: "patient.list", detail: "\(list.count) patients"), by: caller)
            return list
        case .patient:
            throw denied(.forbidden("patients cannot list users"), action: "user.list", by: caller)
        }
    }

    public func me(_ caller: Caller) -> UserInfo {
        if let user = users[caller.userID] { return info(user) }
        return UserInfo(id: caller.userID, name: caller.name, role: caller.role, createdAt: Date(timeIntervalSince1970: 0), lockedUntil: nil,
                        disabled: nil)
    }

    func info(_ user: UserRecord) -> UserInfo {
        let locked = user.lockedUntil.flatMap { $0 > clock.now() ? Date($0) : nil }
        return UserInfo(id: user.id, name: user.name, role: user.role, createdAt: Date(user.createdAt), lockedUntil: locked,
                        disabled: user.disabled ? true : nil)
    }

    // MARK: - Login and sessions

    /// Checks a name and password and opens a session. After `lockoutThreshold` failures in a row the
    /// account locks for `lockoutBase`, doubling with each further failure (up to `lockoutMaximum`);
    /// while locked, the password is not even checked. A hash made with weaker parameters than the
    /// configured ones is replaced on success.
    public func login(name: String, password: String) async throws(ClinicError) -> LoginResult {
        let now = clock.now()
        sweepExpiredSessions(now: now)
        let wrong = ClinicError(.unauthenticated, "wrong user name or password", hint: "check both; the account locks after \(configuration.lockoutThreshold) failures in a row")
        guard let id = userIDByName[name.lowercased()], let user = users[id] else {
            // Spend the same time as for a real user, so timing does not reveal which names exist.
            let reference = await referenceHash()
            _ = await offload { PasswordHasher.verify(password, against: reference) }
            try commit(AuditEvent(action: "login", outcome: .failed, detail: "unknown user name '\(String(name.prefix(64)))'"), by: nil)
            throw wrong
        }
        if user.disabled {
            throw denied(ClinicError(.unauthenticated, "the account '\(user.name)' is disabled", hint: "ask an admin to enable it"),
                         action: "login", targetID: user.id, by: callerFor(user, sessionKey: nil))
        }
        if let until = user.lockedUntil, until > now {
            let caller = callerFor(user, sessionKey: nil)
            throw denied(lockedError(until: until, now: now), action: "login", targetID: user.id, by: caller)
        }
        let stored = user.passwordHash
        let matches = await offload { PasswordHasher.verify(password, against: stored) }
        guard var current = users[id] else { throw wrong }
        let caller = callerFor(current, sessionKey: nil)
        let after = clock.now()
        guard matches else {
            current.failedLogins += 1
            var detail = "wrong password (\(current.failedLogins) in a row)"
            var error = wrong
            if current.failedLogins >= UInt32(configuration.lockoutThreshold) {
                let until = after.adding(lockoutDuration(failures: Int(current.failedLogins)))
                current.lockedUntil = until
                detail += "; locked until \(until)"
                error = lockedError(until: until, now: after)
            }
            let record = current
            try commit(AuditEvent(action: "login", targetID: current.id, outcome: .failed, detail: detail), by: caller) {
                $0.put(record, in: Spaces.users, id: record.id)
            }
            users[id] = current
            throw error
        }
        current.failedLogins = 0
        current.lockedUntil = nil
        var rehashed = false
        let hasher = configuration.passwordHasher
        if hasher.needsRehash(current.passwordHash) {
            if let upgraded = await offload({ try? hasher.hash(password) }) {
                current = users[id] ?? current
                current.passwordHash = upgraded
                current.failedLogins = 0
                current.lockedUntil = nil
                rehashed = true
            }
        }
        let token = "lks_" + Hex.encode(randomBytes(32))
        let key = Self.sessionKey(token)
        let session = SessionRecord(userID: id, createdAt: after, lastUsedAt: after)
        let record = current
        try commit(AuditEvent(action: "login", targetID: id, detail: rehashed ? "password hash upgraded" : ""), by: caller) {
            $0.put(record, in: Spaces.users, id: record.id)
            $0.put(session, in: Spaces.sessions, id: key)
        }
        users[id] = current
        sessions[key] = LiveSession(record: session, persistedAt: after)
        return LoginResult(token: token, user: info(current),
                           idleTimeoutSeconds: Int(configuration.sessionIdleTimeout.components.seconds))
    }

    /// The caller behind a bearer token: the operator token, or a live session, whose idle timer it
    /// resets. Expired sessions are removed.
    public func authenticate(bearer token: String) throws(ClinicError) -> Caller {
        let digest = SHA256Hasher.hash(Array(token.utf8))
        if let operatorDigest, constantTimeEquals(operatorDigest, digest) {
            return Caller(userID: Caller.operatorID, name: Caller.operatorID, role: .admin, isOperator: true, sessionKey: nil)
        }
        let key = Hex.encode(digest)
        let now = clock.now()
        guard var session = sessions[key], let user = users[session.record.userID], !user.disabled else {
            throw ClinicError(.unauthenticated, "the session token is not valid (logged out, revoked or expired)",
                              hint: "log in again with `leuknode login --name NAME`")
        }
        if now.since(session.record.lastUsedAt) > configuration.sessionIdleTimeout {
            sessions[key] = nil
            try? store.delete(in: Spaces.sessions, id: key, sync: false)
            let minutes = configuration.sessionIdleTimeout.components.seconds / 60
            throw ClinicError(.unauthenticated, "the session expired after \(minutes) minutes without activity",
                              hint: "log in again with `leuknode login --name \(user.name)`")
        }
        session.record.lastUsedAt = now
        // The idle timer is kept in memory; it reaches the disk (unsynced) at most once a minute, so a
        // restarted node may end a session up to a minute early, never late.
        if now.since(session.persistedAt) > Self.sessionPersistInterval {
            try? store.put(session.record, in: Spaces.sessions, id: key, sync: false)
            session.persistedAt = now
        }
        sessions[key] = session
        return callerFor(user, sessionKey: key)
    }

    /// Whether the caller's session is still open (not logged out, revoked or idle past the timeout),
    /// without counting as activity. Long-lived event streams check it, so an unattended `watch`
    /// ends with its session instead of showing clinical content indefinitely.
    public func sessionIsLive(_ caller: Caller) -> Bool {
        if caller.isOperator { return true }
        guard let key = caller.sessionKey, let session = sessions[key] else { return false }
        return clock.now().since(session.record.lastUsedAt) <= configuration.sessionIdleTimeout
    }

    /// Ends the caller's own session.
    public func logout(_ caller: Caller) throws(ClinicError) {
        guard let key = caller.sessionKey else { return }
        try commit(AuditEvent(action: "logout", targetID: caller.userID), by: caller) {
            $0.delete(in: Spaces.sessions, id: key)
        }
        sessions[key] = nil
    }

    /// Ends every session of a user (admins only), and closes their event streams. Returns how many.
    public func revokeSessions(by caller: Caller, userID reference: String) throws(ClinicError) -> Int {
        guard caller.isAdministrator else {
            throw denied(.forbidden("only an admin can revoke sessions"), action: "session.revoke", targetID: reference, by: caller)
        }
        guard let user = resolveUser(reference) else { throw .notFound("user", reference) }
        let keys = sessions.filter { $0.value.record.userID == user.id }.map(\.key)
        try commit(AuditEvent(action: "session.revoke", targetID: user.id, detail: "\(keys.count) sessions"), by: caller) {
            for key in keys { $0.delete(in: Spaces.sessions, id: key) }
        }
        for key in keys { sessions[key] = nil }
        events.closeAll(userID: user.id)
        return keys.count
    }

    /// Disables an account (admins only): no login, every session ended and its event streams closed, in one
    /// audited, synced batch; or enables it again. The record stays, so the audit log keeps naming the person.
    public func setDisabled(by caller: Caller, userID reference: String, disabled: Bool) throws(ClinicError) -> UserInfo {
        let action = disabled ? "user.disable" : "user.enable"
        guard caller.isAdministrator else {
            throw denied(.forbidden("only an admin can disable or enable accounts"), action: action, targetID: reference, by: caller)
        }
        guard var user = resolveUser(reference) else { throw .notFound("user", reference) }
        guard user.id != caller.userID else {
            throw .invalid("you cannot disable your own account", hint: "ask another admin, or use the operator token")
        }
        let keys = disabled ? sessions.filter { $0.value.record.userID == user.id }.map(\.key) : []
        user.disabled = disabled
        let record = user
        try commit(AuditEvent(action: action, targetID: user.id, detail: disabled ? "\(keys.count) sessions ended" : ""), by: caller) {
            $0.put(record, in: Spaces.users, id: record.id)
            for key in keys { $0.delete(in: Spaces.sessions, id: key) }
        }
        users[user.id] = user
        for key in keys { sessions[key] = nil }
        if disabled { events.closeAll(userID: user.id) }
        return info(user)
    }

    /// Emergency access: lets an admin read one patient's clinical records for `breakGlassDuration`.
    /// The grant and every read under it are in the audit log with the stated reason.
    public func breakGlass(by caller: Caller, patient reference: String, reason: String) throws(ClinicError) -> BreakGlassGrant {
        guard caller.isAdministrator else {
            throw denied(.forbidden("break-glass access is for admins; doctors and patients use their normal access"),
                         action: "break_glass", by: caller)
        }
        let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard reason.count >= 10, reason.count <= 1000 else {
            throw .invalid("break-glass access needs a reason of 10 to 1000 characters", hint: "say why, for the audit")
        }
        let patient = try requirePatient(reference)
        let until = clock.now().adding(configuration.breakGlassDuration)
        try commit(AuditEvent(action: "break_glass", patientID: patient.id, detail: reason), by: caller)
        grants[caller.userID, default: [:]][patient.id] = Grant(until: until, reason: reason)
        return BreakGlassGrant(patientID: patient.id, reason: reason, expiresAt: Date(until))
    }

    static func sessionKey(_ token: String) -> String { Hex.encode(SHA256Hasher.hash(Array(token.utf8))) }

    func callerFor(_ user: UserRecord, sessionKey: String?) -> Caller {
        Caller(userID: user.id, name: user.name, role: user.role, isOperator: false, sessionKey: sessionKey)
    }

    func lockoutDuration(failures: Int) -> Duration {
        let doublings = min(max(0, failures - configuration.lockoutThreshold), 30)
        let base = configuration.lockoutBase.nanoseconds
        let maximum = configuration.lockoutMaximum.nanoseconds
        let (scaled, overflow) = base.multipliedReportingOverflow(by: UInt64(1) << UInt64(doublings))
        return .nanoseconds(Int64(min(overflow ? maximum : scaled, maximum)))
    }

    func lockedError(until: Timestamp, now: Timestamp) -> ClinicError {
        let seconds = now.secondsUntil(until)
        return ClinicError(.locked, "the account is locked after repeated failed logins; try again in \(seconds) s",
                           hint: "wait, or ask an admin if you forgot the password", retryAfterSeconds: seconds)
    }

    /// A hash to verify unknown names against, made once with the configured cost.
    func referenceHash() async -> String {
        if let dummyHash { return dummyHash }
        let hasher = configuration.passwordHasher
        let made = await offload { (try? hasher.hash(Hex.encode(randomBytes(16)))) ?? "" }
        dummyHash = made
        return made
    }

    func sweepExpiredSessions(now: Timestamp) {
        let expired = sessions.filter { now.since($0.value.record.lastUsedAt) > configuration.sessionIdleTimeout }.map(\.key)
        guard !expired.isEmpty else { return }
        var batch = store.batch()
        for key in expired {
            sessions[key] = nil
            batch.delete(in: Spaces.sessions, id: key)
        }
        try? store.commit(batch, sync: false)
    }
}

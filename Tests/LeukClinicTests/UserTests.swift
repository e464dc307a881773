import Foundation
import Testing
import ClinicTestSupport
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukClinic

@Suite struct UserAndSessionTests {
    @Test func productionHasherIsAtLeastInteractiveAndAboveOWASPFloor() {
        let hasher = ClinicConfiguration().passwordHasher
        #expect(hasher.opsLimit >= PasswordHasher.interactive.opsLimit)
        #expect(hasher.memLimit >= PasswordHasher.interactive.memLimit)
        #expect(hasher.opsLimit >= 2 && hasher.memLimit >= 19 << 20)
        #expect(ClinicConfiguration().sessionIdleTimeout == .seconds(15 * 60))
    }

    @Test func onlyAdminsCreateUsersAndNamesAreUnique() async throws {
        let fixture = try ClinicFixture()
        let doctor = try await fixture.user("dr.house", .doctor)
        #expect(await errorKind { _ = try await fixture.clinic.createUser(by: doctor, name: "eve", role: .admin, password: "12345678") } == .forbidden)
        #expect(await errorKind { _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "DR.HOUSE", role: .patient, password: "12345678") } == .conflict)
        #expect(await errorKind { _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "bad name!", role: .patient, password: "12345678") } == .invalid)
        #expect(await errorKind { _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "short", role: .patient, password: "1234") } == .invalid)
        let users = try await fixture.clinic.listUsers(by: fixture.operatorCaller)
        #expect(users.map(\.name) == ["dr.house"])
        #expect(users[0].id.hasPrefix("usr_"))
    }

    @Test func passwordsAreStoredAsArgon2idStrings() async throws {
        let fixture = try ClinicFixture()
        let user = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "s3cret-pass")
        let record = try #require(try fixture.storage.store.get(UserRecord.self, in: Spaces.users, id: user.id))
        #expect(record.passwordHash.hasPrefix("$argon2id$"))
        #expect(!record.passwordHash.contains("s3cret-pass"))
    }

    @Test func loginRehashesWhenTheConfiguredCostGrows() async throws {
        let storage = try TemporaryStore()
        let clock = ManualClock()
        let weak = try Clinic(store: storage.store, classifier: MeanRedClassifier(), clock: clock,
                              configuration: ClinicConfiguration(passwordHasher: cheapHasher), operatorToken: nil)
        let admin = Caller(userID: "operator", name: "operator", role: .admin, isOperator: true, sessionKey: nil)
        let user = try await weak.createUser(by: admin, name: "ana", role: .patient, password: "password-1")
        let before = try #require(try storage.store.get(UserRecord.self, in: Spaces.users, id: user.id)).passwordHash

        let stronger = PasswordHasher(opsLimit: 2, memLimit: 1 << 20)
        #expect(stronger.needsRehash(before))
        let store = try storage.reopen()
        let upgraded = try Clinic(store: store, classifier: MeanRedClassifier(), clock: clock,
                                  configuration: ClinicConfiguration(passwordHasher: stronger), operatorToken: nil)
        _ = try await upgraded.login(name: "ana", password: "password-1")
        let after = try #require(try store.get(UserRecord.self, in: Spaces.users, id: user.id)).passwordHash
        #expect(after != before)
        #expect(!stronger.needsRehash(after))
        #expect(PasswordHasher.verify("password-1", against: after))
        // The upgrade is in the audit log.
        let log = try await upgraded.auditLog(by: admin, limit: 100)
        #expect(log.contains { $0.action == "login" && $0.detail.contains("upgraded") })
    }

    @Test func lockoutWithBackOffAfterRepeatedFailures() async throws {
        let fixture = try ClinicFixture()
        _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "right-password")
        for _ in 0..<4 {
            #expect(await errorKind { _ = try await fixture.clinic.login(name: "ana", password: "wrong") } == .unauthenticated)
        }
        // The fifth failure locks the account for 30 s...
        #expect(await errorKind { _ = try await fixture.clinic.login(name: "ana", password: "wrong") } == .locked)
        // ...during which even the right password is refused.
        do {
            _ = try await fixture.clinic.login(name: "ana", password: "right-password")
            Issue.record("login succeeded on a locked account")
        } catch {
            #expect(error.kind == .locked)
            #expect(error.retryAfterSeconds == 30)
        }
        fixture.clock.advance(.seconds(31))
        // One more failure after the lock lapses doubles it (60 s).
        do {
            _ = try await fixture.clinic.login(name: "ana", password: "still wrong")
            Issue.record("wrong password accepted")
        } catch {
            #expect(error.kind == .locked)
            #expect(error.retryAfterSeconds == 60)
        }
        fixture.clock.advance(.seconds(61))
        let result = try await fixture.clinic.login(name: "ana", password: "right-password")
        #expect(result.user.lockedUntil == nil)
        // Success resets the counter: four new failures do not lock.
        for _ in 0..<4 {
            #expect(await errorKind { _ = try await fixture.clinic.login(name: "ana", password: "wrong") } == .unauthenticated)
        }
        let failed = try await fixture.clinic.auditLog(by: fixture.operatorCaller, limit: 1000).filter { $0.action == "login" && $0.outcome == "failed" }
        #expect(failed.count == 10)
    }

    @Test func unknownNamesFailLikeWrongPasswordsAndAreAudited() async throws {
        let fixture = try ClinicFixture()
        #expect(await errorKind { _ = try await fixture.clinic.login(name: "nobody", password: "whatever1") } == .unauthenticated)
        let log = try await fixture.clinic.auditLog(by: fixture.operatorCaller)
        #expect(log.contains { $0.action == "login" && $0.outcome == "failed" && $0.detail.contains("nobody") })
    }

    @Test func sessionsExpireAfterFifteenIdleMinutes() async throws {
        let fixture = try ClinicFixture()
        _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "right-password")
        let login = try await fixture.clinic.login(name: "ana", password: "right-password")
        #expect(login.idleTimeoutSeconds == 900)
        fixture.clock.advance(.seconds(14 * 60))
        _ = try await fixture.clinic.authenticate(bearer: login.token)   // activity resets the idle timer
        fixture.clock.advance(.seconds(14 * 60))
        _ = try await fixture.clinic.authenticate(bearer: login.token)
        fixture.clock.advance(.seconds(15 * 60 + 1))
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: login.token) } == .unauthenticated)
        // Gone for good, even if the clock went back.
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: login.token) } == .unauthenticated)
    }

    @Test func tokensAreStoredHashedAndSurviveARestart() async throws {
        let storage = try TemporaryStore()
        let clock = ManualClock()
        let configuration = ClinicConfiguration(passwordHasher: cheapHasher)
        let clinic = try Clinic(store: storage.store, classifier: MeanRedClassifier(), clock: clock, configuration: configuration, operatorToken: nil)
        let admin = Caller(userID: "operator", name: "operator", role: .admin, isOperator: true, sessionKey: nil)
        _ = try await clinic.createUser(by: admin, name: "ana", role: .patient, password: "right-password")
        let login = try await clinic.login(name: "ana", password: "right-password")
        let stored = try storage.store.all(SessionRecord.self, in: Spaces.sessions)
        #expect(stored.count == 1)
        #expect(stored[0].id == Hex.encode(SHA256Hasher.hash(Array(login.token.utf8))))
        #expect(stored[0].id != login.token)

        let reopened = try Clinic(store: storage.reopen(), classifier: MeanRedClassifier(), clock: clock, configuration: configuration, operatorToken: nil)
        let caller = try await reopened.authenticate(bearer: login.token)
        #expect(caller.name == "ana")
    }

    @Test func logoutAndAdminRevocationEndSessions() async throws {
        let fixture = try ClinicFixture()
        _ = try await fixture.clinic.createUser(by: fixture.operatorCaller, name: "ana", role: .patient, password: "right-password")
        let first = try await fixture.clinic.login(name: "ana", password: "right-password")
        let second = try await fixture.clinic.login(name: "ana", password: "right-password")
        let third = try await fixture.clinic.login(name: "ana", password: "right-password")
        let caller = try await fixture.clinic.authenticate(bearer: first.token)
        try await fixture.clinic.logout(caller)
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: first.token) } == .unauthenticated)
        _ = try await fixture.clinic.authenticate(bearer: second.token)

        #expect(await errorKind { _ = try await fixture.clinic.revokeSessions(by: caller, userID: "ana") } == .forbidden)
        let revoked = try await fixture.clinic.revokeSessions(by: fixture.operatorCaller, userID: "ana")
        #expect(revoked == 2)
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: second.token) } == .unauthenticated)
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: third.token) } == .unauthenticated)
    }

    @Test func operatorTokenFileIsPrivateAndAuthenticatesAsAdmin() async throws {
        let fixture = try ClinicFixture()
        let path = OperatorToken.path(inDataDirectory: fixture.storage.directory)
        let mode = try #require((FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
        #expect(mode == 0o600)
        // Loading again returns the same token instead of replacing it.
        #expect(try OperatorToken.loadOrCreate(inDataDirectory: fixture.storage.directory).value == fixture.token.value)
        let caller = try await fixture.clinic.authenticate(bearer: fixture.token.value)
        #expect(caller.isOperator && caller.role == .admin)
        #expect(await errorKind { _ = try await fixture.clinic.authenticate(bearer: fixture.token.value + "x") } == .unauthenticated)
        // A token file others can read is refused, with the fix.
        chmod(path, 0o644)
        #expect(throws: OperatorTokenError.tooOpen(path, 0o644)) { try OperatorToken.read(path: path) }
    }
}

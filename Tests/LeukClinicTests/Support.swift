import Foundation
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukClinic
import ClinicTestSupport

/// A fresh node database in a temporary directory.
final class TemporaryStore {
    let directory: String
    let identity: NodeIdentity
    private(set) var store: RecordStore

    /// - Parameter faults: write faults injected beneath the database (a full disk), if any.
    init(faults: WriteFaults? = nil) throws {
        directory = NSTemporaryDirectory() + "leukclinic-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        identity = NodeIdentity.generate()
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true, faults: faults, minimumFreeBytes: 1),
                                identity: identity)
    }

    /// Closes and reopens the database, as a restarted node would.
    func reopen() throws -> RecordStore {
        store.database.close()
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: false), identity: identity)
        return store
    }

    deinit {
        store.database.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A clinic with an operator token, a test clock and the cheap hasher.
struct ClinicFixture {
    let storage: TemporaryStore
    let clock: ManualClock
    let clinic: Clinic
    let operatorCaller: Caller
    let token: OperatorToken

    init(configuration: ClinicConfiguration = ClinicConfiguration(passwordHasher: cheapHasher), faults: WriteFaults? = nil) throws {
        storage = try TemporaryStore(faults: faults)
        clock = ManualClock()
        token = try OperatorToken.loadOrCreate(inDataDirectory: storage.directory)
        clinic = try Clinic(store: storage.store, classifier: MeanRedClassifier(), clock: clock, configuration: configuration,
                            operatorToken: token)
        operatorCaller = Caller(userID: Caller.operatorID, name: Caller.operatorID, role: .admin, isOperator: true, sessionKey: nil)
    }

    /// Creates a user and returns the caller of a fresh session of theirs.
    func user(_ name: String, _ role: Role, password: String = "correct horse") async throws -> Caller {
        _ = try await clinic.createUser(by: operatorCaller, name: name, role: role, password: password)
        let login = try await clinic.login(name: name, password: password)
        return try await clinic.authenticate(bearer: login.token)
    }

    /// A future slot of `doctor`, `hoursAhead` from the test clock's now.
    func slot(_ doctor: Caller, hoursAhead: Double) async throws -> SlotInfo {
        let start = Date(timeIntervalSince1970: clock.now().secondsSinceEpoch + hoursAhead * 3600)
        return try await clinic.addSlot(by: doctor, start: start, end: start.addingTimeInterval(1800))
    }
}

/// Runs `body` and returns the clinic error kind it threw, or nil if it succeeded.
func errorKind(_ body: () async throws -> Void) async -> ClinicError.Kind? {
    do {
        try await body()
        return nil
    } catch let error as ClinicError {
        return error.kind
    } catch {
        return .storage
    }
}

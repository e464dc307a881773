import Foundation
import LeukCore
import LeukCrypto
import LeukStore
@testable import LeukClinic

/// A clock the test moves by hand, for idle expiry and lockout.
final class ManualClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Timestamp

    init(start: Timestamp = Timestamp(secondsSinceEpoch: 1_800_000_000)) { current = start }

    func now() -> Timestamp {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func advance(_ duration: Duration) {
        lock.lock()
        current = current.adding(duration)
        lock.unlock()
    }
}

/// Test double of the node's model (an injected dependency): a real, deterministic function of the
/// image bytes. The bytes are read as raw RGB triples and P(all) is the mean red intensity / 255, so
/// a test picks the outcome by choosing the red level of the "image" it sends.
struct MeanRedClassifier: CellClassifier {
    func classify(imageBytes: [UInt8], fileName: String) async throws -> Classification {
        guard imageBytes.count >= 3, imageBytes.count % 3 == 0 else {
            throw ClassificationError.unreadableImage("\(fileName) is not raw RGB (\(imageBytes.count) bytes)")
        }
        var sum = 0.0
        var index = 0
        while index < imageBytes.count {
            sum += Double(imageBytes[index])
            index += 3
        }
        let pAll = sum / Double(imageBytes.count / 3) / 255
        return Classification(probabilities: ["all": pAll, "hem": 1 - pAll], predicted: pAll >= 0.5 ? "all" : "hem",
                              modelSHA256: String(repeating: "ab", count: 32), modelVersion: 7, responseTimeMs: 0.5)
    }
}

/// A raw RGB "image" of `pixels` pixels whose red channel is `red` (so P(all) = red / 255).
func rgbImage(red: UInt8, pixels: Int = 64) -> [UInt8] {
    var bytes: [UInt8] = []
    for i in 0..<pixels { bytes += [red, UInt8(i % 200), 90] }
    return bytes
}

/// Argon2id at libsodium's minimum cost, so tests hash in microseconds; a separate test checks
/// that the production default is at least the interactive preset.
let cheapHasher = PasswordHasher(opsLimit: 1, memLimit: 8192)

/// A fresh node database in a temporary directory.
final class TemporaryStore {
    let directory: String
    let identity: NodeIdentity
    private(set) var store: RecordStore

    init() throws {
        directory = NSTemporaryDirectory() + "leukclinic-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        identity = NodeIdentity.generate()
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true), identity: identity)
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

    init(configuration: ClinicConfiguration = ClinicConfiguration(passwordHasher: cheapHasher)) throws {
        storage = try TemporaryStore()
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

import Foundation
import LeukClinic
import LeukCore
import LeukCrypto
import LeukData
import LeukMetrics
import LeukModel
import LeukNode
import LeukStore

/// The stored records: what a node reads back from its database after a crash, a restore from backup, or a
/// disk that lied. Every record type of the node layer and the clinic, through `RecordStore.decodeValue`.
enum StoreTargets {
    /// Every stored record type, node layer first; the input's first byte picks one.
    static let kinds: [(name: String, keyspace: Keyspace, type: any StoreRecord.Type)] = NodeRecordKinds.all + ClinicRecordKinds.all

    /// A store with no database traffic at all: `decodeValue` only reads the bytes it is given. One per
    /// process, in a temporary folder, without the node key (sealed values are refused as locked, which is
    /// the only thing a forger could reach without the data key).
    static let store: RecordStore = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("leukfuzz-store-\(getpid())").path
        return try! RecordStore(database: Database(path: folder, createIfMissing: true), identity: nil)
    }()

    /// Plain keyspace the fuzzed values are read in: the envelope's version and flag bytes, then the record.
    static let space = Keyspace("fuzz", sensitive: false)

    /// `RecordStore.decodeValue` as the kind the first byte names; an accepted record must encode to a value
    /// that decodes and encodes to the same bytes again.
    static let records = FuzzTarget(
        name: "store-records", summary: "a stored record of the node or the clinic, read back (RecordStore.decodeValue)",
        run: { bytes in
            guard let control = bytes.first else { return .refused("empty input") }
            let kind = kinds[Int(control) % kinds.count]
            return roundTrip(kind.type, Array(bytes.dropFirst()))
        },
        seeds: { await seedValues() })

    static func roundTrip<R: StoreRecord>(_ type: R.Type, _ value: [UInt8]) -> FuzzOutcome {
        do {
            let record = try store.decodeValue(value, as: R.self, in: space, id: "record")
            let encoded = store.encodeValue(record, in: space, id: "record")
            let again = try store.decodeValue(encoded, as: R.self, in: space, id: "record")
            precondition(store.encodeValue(again, in: space, id: "record") == encoded, "a decoded record does not encode stably")
            return .accepted
        } catch {
            return .of(error)
        }
    }

    /// Real records, written by the node's and the clinic's own code into a temporary database with the node
    /// key (a model promoted and served, a doctor and a patient, a login, a slot booked and confirmed, a
    /// message, a diagnosis of a small image through the served model, the audit trail of all that), read
    /// back and re-encoded into the plain fuzz keyspace, each prefixed with its kind's byte.
    static func seedValues() async -> [FuzzSeed] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("leukfuzz-seed-store-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let database = try! Database(path: folder, createIfMissing: true)
        defer { database.close() }
        let keyed = try! RecordStore(database: database, identity: Fixtures.responder)
        await runClinic(keyed)
        var seeds: [FuzzSeed] = []
        for (index, kind) in kinds.enumerated() {
            let raw = try! database.scan(prefix: kind.keyspace.prefix)
            var count = 0
            // Two of each kind, and none of the served model's 110 KB snapshots: the small one below stands for them.
            for (key, value) in raw where count < 2 && value.count <= 4096 {
                let id = String(decoding: key.dropFirst(kind.keyspace.prefix.count), as: UTF8.self)
                guard let plain = reencode(kind.type, value, from: keyed, in: kind.keyspace, id: id) else { continue }
                seeds.append(FuzzSeed("\(kind.name)-\(count)", [UInt8(index)] + plain))
                count += 1
            }
        }
        return seeds
    }

    /// The value as the fuzz keyspace stores it, or nil when it is another kind sharing the keyspace.
    static func reencode<R: StoreRecord>(_ type: R.Type, _ value: [UInt8], from keyed: RecordStore, in space: Keyspace, id: String) -> [UInt8]? {
        guard let record = try? keyed.decodeValue(value, as: R.self, in: space, id: id) else { return nil }
        return store.encodeValue(record, in: self.space, id: "record")
    }

    static func runClinic(_ store: RecordStore) async {
        let clock = SystemWallClock()
        let serving = try! ModelServing(store: store, gate: PromotionGate())
        let model = try! Model(architecture: .leuknetS, classes: ["hem", "all"], inputSize: 8, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        let snapshot = ModelSnapshot(version: 1, round: 3, architecture: "leuknet-s", classes: ["hem", "all"], inputSize: 8,
                                     mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], parameters: model.parameters, weight: 1,
                                     sampleCount: 40, contributors: [], createdAt: clock.now(), validationAccuracy: 0.75, validationLoss: 0.5)
        _ = try! await serving.promote(snapshot, figures: nil, force: true, actor: "fuzz")
        try! store.put(ModelSnapshot(version: 2, round: 4, architecture: "leuknet-s", classes: ["hem", "all"], inputSize: 8,
                                     mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], parameters: [0.25, -1, 2, 0], weight: 0.5,
                                     sampleCount: 40, contributors: [], createdAt: clock.now(), validationAccuracy: 0.75, validationLoss: 0.5),
                       in: NodeKeyspaces.models, id: "snapshot/small", sync: false)
        let registry = PeerRegistry(store: store)
        _ = try! registry.add(Contact(identity: Fixtures.initiator.publicIdentity, host: "10.0.0.7", port: 7400), selfID: Fixtures.responder.id)
        try! registry.recordStranger(fingerprint: Fixtures.author.publicIdentity.fingerprint.description, address: "10.0.0.9:7400")
        try! store.put(ModelHistoryEntry(version: 1, round: 3, sha256: String(repeating: "ab", count: 32), architecture: "leuknet-s",
                                         sampleCount: 40, contributors: [], createdAt: clock.now(), validationAccuracy: 0.75, validationLoss: 0.5),
                       in: NodeKeyspaces.models, id: "history/1", sync: false)
        try! store.put(GossipStateRecord(newestVersionByAuthor: [Fixtures.initiator.id: 4], scores: [:]),
                       in: NodeKeyspaces.nodeState, id: "gossip", sync: false)

        let token = "fuzz-operator-token-0123456789abcdef"
        let clinic = try! Clinic(store: store, classifier: NodeClassifier(diagnoser: ModelDiagnoser(serving: serving, threads: 1)),
                                 configuration: ClinicConfiguration(passwordHasher: PasswordHasher(opsLimit: 1, memLimit: 8192)),
                                 operatorToken: OperatorToken(value: token))
        do {
            let admin = try await clinic.authenticate(bearer: token)
            _ = try await clinic.createUser(by: admin, name: "dr-ada", role: .doctor, password: "correct horse")
            _ = try await clinic.createUser(by: admin, name: "pat-bob", role: .patient, password: "battery staple")
            let doctor = try await clinic.authenticate(bearer: try await clinic.login(name: "dr-ada", password: "correct horse").token)
            let patient = try await clinic.authenticate(bearer: try await clinic.login(name: "pat-bob", password: "battery staple").token)
            let start = Date(timeIntervalSinceNow: 86_400)
            let slot = try await clinic.addSlot(by: doctor, start: start, end: start.addingTimeInterval(1800))
            let appointment = try await clinic.book(by: patient, slotID: slot.id, reason: "follow-up of a smear")
            _ = try await clinic.confirm(by: doctor, appointment: appointment.id)
            _ = try await clinic.sendMessage(by: patient, appointment: appointment.id, body: "See you then.")
            let image = RGBImage(width: 8, height: 8, pixels: (0..<192).map { UInt8(truncatingIfNeeded: $0 * 13) })
            _ = try await clinic.diagnose(by: doctor, patient: "pat-bob", image: try ImageEncoder.png(image), fileName: "smear.png")
        } catch {
            preconditionFailure("the seed clinic failed: \(error)")
        }
    }
}

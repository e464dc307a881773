public import LeukCore
import LeukCrypto
public import LeukStore

/// Who contributed to a model: an author's node id and the newest of its update versions mixed in.
public struct Contribution: Hashable, Sendable, Codable {
    public var author: NodeID
    public var version: UInt64

    public init(author: NodeID, version: UInt64) {
        self.author = author
        self.version = version
    }
}

extension Contribution {
    static let listLimit = 10_000

    static func encode(_ list: [Contribution], to writer: inout BinaryWriter) {
        writer.write(UInt32(list.count))
        for c in list {
            writer.writeFixed(c.author.bytes)
            writer.write(c.version)
        }
    }

    static func decodeList(from reader: inout BinaryReader) throws(BinaryDecodingError) -> [Contribution] {
        let count = Int(try reader.readUInt32("contributors.count"))
        guard count <= listLimit else {
            throw BinaryDecodingError(field: "contributors", reason: .tooLarge(length: count, limit: listLimit))
        }
        var list: [Contribution] = []
        list.reserveCapacity(count)
        for _ in 0..<count {
            let bytes = try reader.readFixed(32, "contributors.author")
            list.append(Contribution(author: NodeID(bytes: bytes)!, version: try reader.readUInt64("contributors.version")))
        }
        return list
    }
}

/// The node's current model with everything needed to resume, diagnose and explain it.
public struct ModelSnapshot: StoreRecord, Equatable {
    public static let formatVersion: UInt8 = 1
    static let parameterLimit = 64 << 20

    /// Grows by one each time this node stores a new model.
    public var version: UInt64
    public var round: UInt64
    public var architecture: String
    public var classes: [String]
    public var inputSize: Int
    public var mean: [Float]
    public var std: [Float]
    public var parameters: [Float]
    /// Push-sum weight of `parameters` (1 for a plain model).
    public var weight: Double
    /// Training samples behind this model: the node's own plus what gossip mixed in.
    public var sampleCount: UInt64
    /// The newest update version of each author mixed into this model (the node itself included).
    public var contributors: [Contribution]
    public var createdAt: Timestamp
    public var validationAccuracy: Double
    public var validationLoss: Double

    public init(version: UInt64, round: UInt64, architecture: String, classes: [String], inputSize: Int, mean: [Float], std: [Float],
                parameters: [Float], weight: Double, sampleCount: UInt64, contributors: [Contribution], createdAt: Timestamp,
                validationAccuracy: Double, validationLoss: Double) {
        self.version = version
        self.round = round
        self.architecture = architecture
        self.classes = classes
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.parameters = parameters
        self.weight = weight
        self.sampleCount = sampleCount
        self.contributors = contributors
        self.createdAt = createdAt
        self.validationAccuracy = validationAccuracy
        self.validationLoss = validationLoss
    }

    /// SHA-256 of the parameters as little-endian float32 bytes: the digest diagnoses name.
    public var sha256: String { Hex.encode(Self.digest(of: parameters)) }

    public static func digest(of parameters: [Float]) -> [UInt8] {
        parameters.withUnsafeBytes { SHA256Hasher.hash($0) }
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.write(version)
        writer.write(round)
        writer.writeString(architecture)
        writer.writeString(classes.joined(separator: ","))
        writer.write(UInt32(inputSize))
        writer.writeFloats(mean)
        writer.writeFloats(std)
        writer.writeFloats(parameters)
        writer.write(weight)
        writer.write(sampleCount)
        Contribution.encode(contributors, to: &writer)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.write(validationAccuracy)
        writer.write(validationLoss)
    }

    public init(decoding reader: inout BinaryReader, version recordVersion: UInt8) throws(BinaryDecodingError) {
        version = try reader.readUInt64("version")
        round = try reader.readUInt64("round")
        architecture = try reader.readString("architecture", limit: 64)
        classes = try reader.readString("classes", limit: 1024).split(separator: ",").map(String.init)
        inputSize = Int(try reader.readUInt32("input_size"))
        mean = try reader.readFloats("mean", limit: 16)
        std = try reader.readFloats("std", limit: 16)
        parameters = try reader.readFloats("parameters", limit: Self.parameterLimit)
        weight = try reader.readDouble("weight")
        sampleCount = try reader.readUInt64("sample_count")
        contributors = try Contribution.decodeList(from: &reader)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("created_at"))
        validationAccuracy = try reader.readDouble("validation_accuracy")
        validationLoss = try reader.readDouble("validation_loss")
    }

    /// The history entry for this model (everything but the parameters).
    public var historyEntry: ModelHistoryEntry {
        ModelHistoryEntry(version: version, round: round, sha256: sha256, architecture: architecture, sampleCount: sampleCount,
                          contributors: contributors, createdAt: createdAt, validationAccuracy: validationAccuracy,
                          validationLoss: validationLoss)
    }
}

/// One line of `leuknode model history`: a model version and where it came from.
public struct ModelHistoryEntry: StoreRecord, Equatable, Codable {
    public static let formatVersion: UInt8 = 1
    public var version: UInt64
    public var round: UInt64
    public var sha256: String
    public var architecture: String
    public var sampleCount: UInt64
    public var contributors: [Contribution]
    public var createdAt: Timestamp
    public var validationAccuracy: Double
    public var validationLoss: Double

    public func encode(to writer: inout BinaryWriter) {
        writer.write(version)
        writer.write(round)
        writer.writeString(sha256)
        writer.writeString(architecture)
        writer.write(sampleCount)
        Contribution.encode(contributors, to: &writer)
        writer.write(createdAt.nanosecondsSinceEpoch)
        writer.write(validationAccuracy)
        writer.write(validationLoss)
    }

    public init(version: UInt64, round: UInt64, sha256: String, architecture: String, sampleCount: UInt64, contributors: [Contribution],
                createdAt: Timestamp, validationAccuracy: Double, validationLoss: Double) {
        self.version = version
        self.round = round
        self.sha256 = sha256
        self.architecture = architecture
        self.sampleCount = sampleCount
        self.contributors = contributors
        self.createdAt = createdAt
        self.validationAccuracy = validationAccuracy
        self.validationLoss = validationLoss
    }

    public init(decoding reader: inout BinaryReader, version recordVersion: UInt8) throws(BinaryDecodingError) {
        version = try reader.readUInt64("version")
        round = try reader.readUInt64("round")
        sha256 = try reader.readString("sha256", limit: 64)
        architecture = try reader.readString("architecture", limit: 64)
        sampleCount = try reader.readUInt64("sample_count")
        contributors = try Contribution.decodeList(from: &reader)
        createdAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("created_at"))
        validationAccuracy = try reader.readDouble("validation_accuracy")
        validationLoss = try reader.readDouble("validation_loss")
    }

    enum CodingKeys: String, CodingKey {
        case version, round, sha256, architecture
        case sampleCount = "sample_count", contributors, createdAt = "created_at"
        case validationAccuracy = "validation_accuracy", validationLoss = "validation_loss"
    }

    /// JSON carries `created_at` as ISO 8601, like every other date the node prints.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(round, forKey: .round)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(sampleCount, forKey: .sampleCount)
        try c.encode(contributors, forKey: .contributors)
        try c.encode(createdAt.iso8601, forKey: .createdAt)
        try c.encode(validationAccuracy, forKey: .validationAccuracy)
        try c.encode(validationLoss, forKey: .validationLoss)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(UInt64.self, forKey: .version)
        round = try c.decode(UInt64.self, forKey: .round)
        sha256 = try c.decode(String.self, forKey: .sha256)
        architecture = try c.decode(String.self, forKey: .architecture)
        sampleCount = try c.decode(UInt64.self, forKey: .sampleCount)
        contributors = try c.decode([Contribution].self, forKey: .contributors)
        let created = try c.decode(String.self, forKey: .createdAt)
        guard let date = Timestamp(iso8601: created) else {
            throw DecodingError.dataCorruptedError(forKey: .createdAt, in: c, debugDescription: "not an ISO 8601 date: \(created)")
        }
        createdAt = date
        validationAccuracy = try c.decode(Double.self, forKey: .validationAccuracy)
        validationLoss = try c.decode(Double.self, forKey: .validationLoss)
    }
}

/// Models in the node's database: the current one in full, and a history entry per version, written
/// together in one batch so history never names a model that was not stored.
public struct ModelRepository: Sendable {
    let store: RecordStore
    static let currentID = "current"
    static func historyID(_ version: UInt64) -> String { "history/" + padded(version) }

    /// A number zero-padded to 20 digits, so that key order is numeric order (`UInt64.max` has 20).
    static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    public init(store: RecordStore) { self.store = store }

    public func current() throws(StoreError) -> ModelSnapshot? {
        try store.get(ModelSnapshot.self, in: NodeKeyspaces.models, id: Self.currentID)
    }

    /// Stores a new current model and its history entry atomically. `sync` for models a diagnosis may name.
    public func save(_ snapshot: ModelSnapshot, sync: Bool) throws(StoreError) {
        var batch = store.batch()
        batch.put(snapshot, in: NodeKeyspaces.models, id: Self.currentID)
        batch.put(snapshot.historyEntry, in: NodeKeyspaces.models, id: Self.historyID(snapshot.version))
        try store.commit(batch, sync: sync)
    }

    /// History, newest first.
    public func history(limit: Int = 100) throws(StoreError) -> [ModelHistoryEntry] {
        try store.all(ModelHistoryEntry.self, in: NodeKeyspaces.models, idPrefix: "history/").map(\.record).reversed().prefix(limit).map { $0 }
    }
}

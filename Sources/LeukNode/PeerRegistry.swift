public import LeukCore
public import LeukCrypto
public import LeukStore

/// One admitted peer, as the allowlist keeps it. Admission is mutual (as in WireGuard): this record
/// says *we* admit the peer; the peer must add us too before any channel opens.
public struct PeerRecord: StoreRecord, Equatable {
    public static let formatVersion: UInt8 = 1
    public var contact: String
    public var addedAt: Timestamp
    /// Gossip score, kept across reconnects (gossipsub v1.1): a peer cannot wash a bad record by redialling.
    public var score: Double
    public var lastSeen: Timestamp?
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var rejected: [String: UInt64]

    public init(contact: String, addedAt: Timestamp) {
        self.contact = contact
        self.addedAt = addedAt
        score = 0
        lastSeen = nil
        bytesIn = 0
        bytesOut = 0
        rejected = [:]
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.writeString(contact)
        writer.write(addedAt.nanosecondsSinceEpoch)
        writer.write(score)
        writer.write(lastSeen?.nanosecondsSinceEpoch ?? 0)
        writer.write(bytesIn)
        writer.write(bytesOut)
        writer.write(UInt32(rejected.count))
        for (reason, count) in rejected.sorted(by: { $0.key < $1.key }) {
            writer.writeString(reason)
            writer.write(count)
        }
    }

    public init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        contact = try reader.readString("contact", limit: 1024)
        addedAt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("added_at"))
        score = try reader.readDouble("score")
        let seen = try reader.readUInt64("last_seen")
        lastSeen = seen == 0 ? nil : Timestamp(nanosecondsSinceEpoch: seen)
        bytesIn = try reader.readUInt64("bytes_in")
        bytesOut = try reader.readUInt64("bytes_out")
        let count = try reader.readUInt32("rejected.count")
        guard count <= 64 else { throw BinaryDecodingError(field: "rejected", reason: .tooLarge(length: Int(count), limit: 64)) }
        rejected = [:]
        for _ in 0..<count {
            let reason = try reader.readString("rejected.reason", limit: 128)
            rejected[reason] = try reader.readUInt64("rejected.count")
        }
    }

    public func parsedContact() throws(ContactError) -> Contact { try Contact(parsing: contact) }
}

/// A connection attempt from a key nobody admitted: counted and shown so an operator sees who knocked.
public struct StrangerRecord: StoreRecord, Equatable {
    public static let formatVersion: UInt8 = 1
    public var fingerprint: String
    public var lastAddress: String
    public var attempts: UInt64
    public var lastAttempt: Timestamp

    public init(fingerprint: String, lastAddress: String, attempts: UInt64, lastAttempt: Timestamp) {
        self.fingerprint = fingerprint
        self.lastAddress = lastAddress
        self.attempts = attempts
        self.lastAttempt = lastAttempt
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.writeString(fingerprint)
        writer.writeString(lastAddress)
        writer.write(attempts)
        writer.write(lastAttempt.nanosecondsSinceEpoch)
    }

    public init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        fingerprint = try reader.readString("fingerprint", limit: 64)
        lastAddress = try reader.readString("last_address", limit: 300)
        attempts = try reader.readUInt64("attempts")
        lastAttempt = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("last_attempt"))
    }
}

/// The allowlist, stored in the node's database under `peers/<node id hex>`.
public struct PeerRegistry: Sendable {
    let store: RecordStore
    let clock: any WallClock

    public init(store: RecordStore, clock: any WallClock = SystemWallClock()) {
        self.store = store
        self.clock = clock
    }

    /// Admits a peer (or updates its address). Refuses our own key.
    @discardableResult
    public func add(_ contact: Contact, selfID: NodeID) throws(PeerRegistryError) -> PeerRecord {
        guard contact.identity.id != selfID else { throw .cannotAddSelf }
        var record = (try? store.get(PeerRecord.self, in: NodeKeyspaces.peers, id: contact.identity.id.hex))
            ?? PeerRecord(contact: contact.description, addedAt: clock.now())
        record.contact = contact.description
        do { try store.put(record, in: NodeKeyspaces.peers, id: contact.identity.id.hex, sync: true) } catch {
            throw .store(error)
        }
        return record
    }

    /// Revokes a peer by node id (hex, or an unambiguous prefix of at least 8 digits) or fingerprint.
    @discardableResult
    public func remove(_ reference: String) throws(PeerRegistryError) -> (NodeID, PeerRecord) {
        let (id, record) = try resolve(reference)
        do { try store.delete(in: NodeKeyspaces.peers, id: id.hex, sync: true) } catch { throw .store(error) }
        return (id, record)
    }

    public func all() throws(PeerRegistryError) -> [(id: NodeID, record: PeerRecord)] {
        do {
            return try store.all(PeerRecord.self, in: NodeKeyspaces.peers).compactMap { row in
                NodeID(hex: row.id).map { ($0, row.record) }
            }
        } catch { throw .store(error) }
    }

    public func get(_ id: NodeID) throws(PeerRegistryError) -> PeerRecord? {
        do { return try store.get(PeerRecord.self, in: NodeKeyspaces.peers, id: id.hex) } catch { throw .store(error) }
    }

    public func update(_ id: NodeID, _ change: (inout PeerRecord) -> Void) throws(PeerRegistryError) {
        guard var record = try get(id) else { return }
        change(&record)
        do { try store.put(record, in: NodeKeyspaces.peers, id: id.hex, sync: false) } catch { throw .store(error) }
    }

    public func resolve(_ reference: String) throws(PeerRegistryError) -> (NodeID, PeerRecord) {
        let needle = reference.lowercased()
        let matches = try all().filter { row in
            let fingerprint = (try? row.record.parsedContact().fingerprint.text) ?? ""
            return fingerprint == needle || (needle.count >= 8 && row.id.hex.hasPrefix(needle))
        }
        guard let first = matches.first else { throw .unknownPeer(reference) }
        guard matches.count == 1 else { throw .ambiguous(reference, matches.count) }
        return (first.id, first.record)
    }

    /// Strangers kept: those who knocked most recently. A stranger can make a fresh key for every
    /// attempt, so without a bound anyone could grow the database, and every `status`, without limit
    /// (200 fresh keys made 200 records before this bound).
    public static let strangerLimit = 100

    public func recordStranger(fingerprint: String, address: String) throws(PeerRegistryError) {
        do {
            let known = try store.get(StrangerRecord.self, in: NodeKeyspaces.strangers, id: fingerprint)
            var record = known ?? StrangerRecord(fingerprint: fingerprint, lastAddress: address, attempts: 0, lastAttempt: clock.now())
            record.attempts += 1
            record.lastAddress = address
            record.lastAttempt = clock.now()
            guard known == nil else {
                try store.put(record, in: NodeKeyspaces.strangers, id: fingerprint, sync: false)
                return
            }
            // A new stranger: the one whose last attempt is oldest makes room (the table is small, so
            // reading it whole is cheap).
            var batch = store.batch()
            batch.put(record, in: NodeKeyspaces.strangers, id: fingerprint)
            let others = try store.all(StrangerRecord.self, in: NodeKeyspaces.strangers)
            let excess = others.count + 1 - Self.strangerLimit
            if excess > 0 {
                for old in others.sorted(by: { ($0.record.lastAttempt, $0.id) < ($1.record.lastAttempt, $1.id) }).prefix(excess) {
                    batch.delete(in: NodeKeyspaces.strangers, id: old.id)
                }
            }
            try store.commit(batch, sync: false)
        } catch { throw .store(error) }
    }

    public func strangers() throws(PeerRegistryError) -> [StrangerRecord] {
        do { return try store.all(StrangerRecord.self, in: NodeKeyspaces.strangers).map(\.record) } catch { throw .store(error) }
    }
}

public enum PeerRegistryError: LeukUserFacingError, Equatable {
    case cannotAddSelf
    case unknownPeer(String)
    case ambiguous(String, Int)
    case store(StoreError)

    public var description: String {
        switch self {
        case .cannotAddSelf: return "that contact is this node's own"
        case let .unknownPeer(r): return "no admitted peer matches '\(r)'"
        case let .ambiguous(r, n): return "'\(r)' matches \(n) peers"
        case let .store(e): return e.description
        }
    }

    public var hint: String? {
        switch self {
        case .cannotAddSelf: return "add the other institution's contact (they print it with `leuknode id`)"
        case .unknownPeer, .ambiguous: return "use the fingerprint or a longer id prefix from `leuknode peer list`"
        case let .store(e): return e.hint
        }
    }
}

public import LeukCore
public import LeukCrypto

/// A value with a versioned binary encoding. `formatVersion` is written before the payload, so a
/// reader knows which layout it holds and an older binary refuses a newer record instead of misreading it.
public protocol StoreRecord: Sendable {
    static var formatVersion: UInt8 { get }
    func encode(to writer: inout BinaryWriter)
    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError)
}

/// A named key prefix. Keys are `<name>/<key>`, so each keyspace iterates on its own and no two
/// collide. `sensitive` keyspaces are encrypted at rest.
public struct Keyspace: Hashable, Sendable {
    public let name: String
    public let sensitive: Bool

    public init(_ name: String, sensitive: Bool) {
        precondition(!name.contains("/"), "keyspace names are single path segments")
        self.name = name
        self.sensitive = sensitive
    }

    public var prefix: [UInt8] { Array((name + "/").utf8) }
    public func key(_ id: String) -> [UInt8] { prefix + Array(id.utf8) }
}

/// The node's typed, optionally encrypted view of its database.
///
/// Sensitive values are sealed with XChaCha20-Poly1305 under a random data key; the data key is kept in
/// the database itself, sealed to the node's X25519 key, so the database files alone reveal nothing and
/// a backup of them is useless without the key file. Each ciphertext is bound to its own database key
/// (associated data), so swapping two records' values is detected.
public final class RecordStore: Sendable {
    public let database: Database
    /// `nil` when opened without the node's secret key: plain keyspaces work, sensitive ones refuse.
    private let dataKey: SymmetricKey?
    static let dataKeyKey = Array("meta/data-key".utf8)

    /// Envelope flags: the byte after the record's version.
    enum Envelope: UInt8 {
        case plain = 0
        case sealed = 1
    }

    /// Opens the store, creating and sealing a data key on first use. Without an identity (a CLI that
    /// only lists peers of a passphrase-protected node, say) sensitive keyspaces stay locked.
    public init(database: Database, identity: NodeIdentity?) throws(StoreError) {
        self.database = database
        guard let identity else {
            dataKey = nil
            return
        }
        if let sealed = try database.get(Self.dataKeyKey) {
            do {
                var raw = try SealedBox.open(sealed, with: identity.agreement, what: "the database's data key")
                defer { wipe(&raw) }
                dataKey = try SymmetricKey(bytes: raw)
            } catch {
                throw .recordCorrupt(key: "meta/data-key", detail: "\(error) (is this the key file that created the database?)")
            }
        } else {
            let key = SymmetricKey()
            var raw = key.copyBytes()
            defer { wipe(&raw) }
            try database.put(Self.dataKeyKey, SealedBox.seal(raw, to: identity.agreement.publicKey), sync: true)
            dataKey = key
        }
    }

    public func encodeValue<R: StoreRecord>(_ record: R, in space: Keyspace, id: String) -> [UInt8] {
        var writer = BinaryWriter()
        record.encode(to: &writer)
        if space.sensitive {
            guard let dataKey else { preconditionFailure("sensitive keyspace '\(space.name)' written without the node key") }
            var plain = writer.bytes
            defer { wipe(&plain) }
            return [R.formatVersion, Envelope.sealed.rawValue] + dataKey.seal(plain, associatedData: space.key(id))
        }
        return [R.formatVersion, Envelope.plain.rawValue] + writer.bytes
    }

    public func decodeValue<R: StoreRecord>(_ bytes: [UInt8], as type: R.Type, in space: Keyspace, id: String) throws(StoreError) -> R {
        let name = space.name + "/" + id
        guard bytes.count >= 2 else { throw .recordCorrupt(key: name, detail: "shorter than its header") }
        let version = bytes[0]
        guard version <= R.formatVersion else { throw .unsupportedRecordVersion(key: name, version: Int(version)) }
        var payload: [UInt8]
        switch Envelope(rawValue: bytes[1]) {
        case .plain?:
            guard !space.sensitive else { throw .recordCorrupt(key: name, detail: "stored unencrypted in an encrypted keyspace") }
            payload = Array(bytes[2...])
        case .sealed?:
            guard let dataKey else { throw .locked(key: name) }
            do { payload = try dataKey.open(Array(bytes[2...]), associatedData: space.key(id), what: name) } catch {
                throw .recordCorrupt(key: name, detail: error.description)
            }
        case nil:
            throw .recordCorrupt(key: name, detail: "unknown envelope \(bytes[1])")
        }
        defer { if space.sensitive { wipe(&payload) } }
        var reader = BinaryReader(payload)
        do {
            let record = try R(decoding: &reader, version: version)
            try reader.expectEnd(after: "record")
            return record
        } catch {
            throw .recordCorrupt(key: name, detail: error.description)
        }
    }

    public func get<R: StoreRecord>(_ type: R.Type, in space: Keyspace, id: String) throws(StoreError) -> R? {
        guard let bytes = try database.get(space.key(id)) else { return nil }
        return try decodeValue(bytes, as: type, in: space, id: id)
    }

    /// Writes one record. `sync: true` for anything acknowledged to a person.
    public func put<R: StoreRecord>(_ record: R, in space: Keyspace, id: String, sync: Bool) throws(StoreError) {
        try database.put(space.key(id), encodeValue(record, in: space, id: id), sync: sync)
    }

    public func delete(in space: Keyspace, id: String, sync: Bool) throws(StoreError) {
        try database.delete(space.key(id), sync: sync)
    }

    /// Every record of a keyspace whose id starts with `idPrefix`, in id order.
    public func all<R: StoreRecord>(_ type: R.Type, in space: Keyspace, idPrefix: String = "", limit: Int = .max) throws(StoreError) -> [(id: String, record: R)] {
        let rows = try database.scan(prefix: space.key(idPrefix), limit: limit)
        var out: [(id: String, record: R)] = []
        out.reserveCapacity(rows.count)
        for row in rows {
            let id = String(decoding: row.key.dropFirst(space.prefix.count), as: UTF8.self)
            out.append((id, try decodeValue(row.value, as: type, in: space, id: id)))
        }
        return out
    }

    /// Collects puts and deletes of typed records for one atomic write.
    public struct Batch: Sendable {
        public fileprivate(set) var raw = WriteBatch()
        let store: RecordStore

        public mutating func put<R: StoreRecord>(_ record: R, in space: Keyspace, id: String) {
            raw.put(space.key(id), store.encodeValue(record, in: space, id: id))
        }
        public mutating func delete(in space: Keyspace, id: String) { raw.delete(space.key(id)) }
    }

    public func batch() -> Batch { Batch(store: self) }

    public func commit(_ batch: Batch, sync: Bool) throws(StoreError) {
        try database.write(batch.raw, sync: sync)
    }
}

import LeukCore
import LeukCrypto
import LeukStore
import Foundation

/// One entry of the append-only audit log. Its `hash` covers its own fields and the previous
/// entry's hash, so changing or removing any entry breaks every later link.
struct AuditRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    static let hashContext = Array("leuknode/v1/audit-entry".utf8)

    var seq: UInt64
    var time: Timestamp
    var actorID: String
    var actorRole: String
    var action: String
    var patientID: String
    var targetID: String
    var outcome: String
    var detail: String
    var previousHash: [UInt8]
    var hash: [UInt8]

    /// The bytes the chain hash covers: a context string, the previous hash and every field.
    func chainInput() -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeFixed(Self.hashContext)
        writer.writeFixed(previousHash)
        encodeFields(to: &writer)
        return writer.bytes
    }

    func computedHash() -> [UInt8] { SHA256Hasher.hash(chainInput()) }

    private func encodeFields(to writer: inout BinaryWriter) {
        writer.write(seq)
        writer.write(time.nanosecondsSinceEpoch)
        writer.writeString(actorID)
        writer.writeString(actorRole)
        writer.writeString(action)
        writer.writeString(patientID)
        writer.writeString(targetID)
        writer.writeString(outcome)
        writer.writeString(detail)
    }

    func encode(to writer: inout BinaryWriter) {
        encodeFields(to: &writer)
        writer.writeFixed(previousHash)
        writer.writeFixed(hash)
    }

    init(seq: UInt64, time: Timestamp, actorID: String, actorRole: String, action: String, patientID: String,
         targetID: String, outcome: String, detail: String, previousHash: [UInt8]) {
        self.seq = seq
        self.time = time
        self.actorID = actorID
        self.actorRole = actorRole
        self.action = action
        self.patientID = patientID
        self.targetID = targetID
        self.outcome = outcome
        self.detail = detail
        self.previousHash = previousHash
        hash = []
        hash = computedHash()
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        seq = try reader.readUInt64("audit.seq")
        time = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("audit.time"))
        actorID = try reader.readString("audit.actor_id", limit: Limits.name)
        actorRole = try reader.readString("audit.actor_role", limit: Limits.name)
        action = try reader.readString("audit.action", limit: Limits.name)
        patientID = try reader.readString("audit.patient_id", limit: Limits.name)
        targetID = try reader.readString("audit.target_id", limit: Limits.name)
        outcome = try reader.readString("audit.outcome", limit: Limits.name)
        detail = try reader.readString("audit.detail", limit: Limits.text)
        previousHash = try reader.readFixed(32, "audit.previous_hash")
        hash = try reader.readFixed(32, "audit.hash")
    }

    /// Keys sort in sequence order: 20 zero-padded digits hold any UInt64.
    static func key(_ seq: UInt64) -> String {
        let digits = String(seq)
        return String(repeating: "0", count: 20 - digits.count) + digits
    }

    var info: AuditEntryInfo {
        AuditEntryInfo(seq: seq, time: Date(time), actorID: actorID, actorRole: actorRole, action: action,
                       patientID: patientID.isEmpty ? nil : patientID, targetID: targetID.isEmpty ? nil : targetID,
                       outcome: outcome, detail: detail, hash: Hex.encode(hash))
    }
}

/// The last entry's sequence number and hash, written in the same batch as each entry, so a
/// truncated log (the newest entries deleted) is detected too.
struct AuditHeadRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    static let id = "head"
    var seq: UInt64
    var hash: [UInt8]

    init(seq: UInt64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }

    func encode(to writer: inout BinaryWriter) {
        writer.write(seq)
        writer.writeFixed(hash)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        seq = try reader.readUInt64("audit_head.seq")
        hash = try reader.readFixed(32, "audit_head.hash")
    }
}

/// What an audit entry records about one action.
struct AuditEvent {
    var action: String
    var patientID: String = ""
    var targetID: String = ""
    var outcome: Outcome = .ok
    var detail: String = ""

    enum Outcome: String {
        case ok
        case denied
        case failed
    }
}

/// The tip of the chain, held by the clinic actor; `append` adds an entry to a batch the caller commits.
struct AuditChain {
    static let genesisHash = [UInt8](repeating: 0, count: 32)
    private(set) var seq: UInt64
    private(set) var hash: [UInt8]

    init(store: RecordStore) throws(StoreError) {
        if let head = try store.get(AuditHeadRecord.self, in: Spaces.auditHead, id: AuditHeadRecord.id) {
            seq = head.seq
            hash = head.hash
        } else {
            seq = 0
            hash = Self.genesisHash
        }
    }

    /// Adds the entry and the new head to `batch`. The chain advances only when the caller reports
    /// that the batch was committed (`advance`), so a failed write leaves no gap.
    func entry(_ event: AuditEvent, caller: Caller?, time: Timestamp) -> AuditRecord {
        AuditRecord(seq: seq + 1, time: time, actorID: caller?.userID ?? "anonymous", actorRole: caller?.role.rawValue ?? "none",
                    action: event.action, patientID: event.patientID, targetID: event.targetID,
                    outcome: event.outcome.rawValue, detail: event.detail, previousHash: hash)
    }

    static func add(_ record: AuditRecord, to batch: inout RecordStore.Batch) {
        batch.put(record, in: Spaces.audit, id: AuditRecord.key(record.seq))
        batch.put(AuditHeadRecord(seq: record.seq, hash: record.hash), in: Spaces.auditHead, id: AuditHeadRecord.id)
    }

    mutating func advance(to record: AuditRecord) {
        seq = record.seq
        hash = record.hash
    }

    /// Walks the whole log from the first entry and reports every break: an unreadable (altered)
    /// entry, a gap in the sequence (a deleted entry), a broken link or hash (an edited entry), and a
    /// head that does not match the last entry (the newest entries deleted).
    static func verify(store: RecordStore) throws(StoreError) -> AuditVerification {
        let rows = try store.database.scan(prefix: Spaces.audit.prefix)
        var problems: [String] = []
        var expectedSeq: UInt64 = 1
        var previous = genesisHash
        var count: UInt64 = 0
        for row in rows {
            let id = String(decoding: row.key.dropFirst(Spaces.audit.prefix.count), as: UTF8.self)
            let record: AuditRecord
            do {
                record = try store.decodeValue(row.value, as: AuditRecord.self, in: Spaces.audit, id: id)
            } catch {
                problems.append("entry \(id): unreadable, it was altered (\(error.description))")
                expectedSeq = (UInt64(id) ?? expectedSeq) + 1
                previous = []
                continue
            }
            count += 1
            if record.seq != expectedSeq {
                if record.seq > expectedSeq {
                    let missing = record.seq - expectedSeq
                    problems.append("entries \(expectedSeq)...\(record.seq - 1) are missing (\(missing) deleted)")
                } else {
                    problems.append("entry \(record.seq) is out of order (expected \(expectedSeq))")
                }
            }
            if AuditRecord.key(record.seq) != id {
                problems.append("entry \(record.seq) is stored under the wrong key \(id)")
            }
            if !previous.isEmpty && !constantTimeEquals(record.previousHash, previous) && record.seq == expectedSeq {
                problems.append("entry \(record.seq) does not link to entry \(record.seq - 1): the earlier entry was changed")
            }
            if !constantTimeEquals(record.computedHash(), record.hash) {
                problems.append("entry \(record.seq): its contents do not match its hash: it was changed")
            }
            expectedSeq = record.seq + 1
            previous = record.hash
        }
        let head: AuditHeadRecord?
        do {
            head = try store.get(AuditHeadRecord.self, in: Spaces.auditHead, id: AuditHeadRecord.id)
        } catch {
            problems.append("the log's head record is unreadable: \(error.description)")
            head = nil
        }
        let lastSeq = expectedSeq - 1
        if let head {
            if head.seq != lastSeq {
                problems.append("the log ends at entry \(lastSeq) but its head says \(head.seq): the newest entries were deleted")
            } else if !previous.isEmpty && !constantTimeEquals(head.hash, previous) {
                problems.append("the last entry \(lastSeq) does not match the head hash: it was changed or replaced")
            }
        } else if !rows.isEmpty {
            problems.append("the log's head record is missing")
        }
        return AuditVerification(ok: problems.isEmpty, entries: count, problems: problems)
    }
}

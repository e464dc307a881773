public import LeukCore
public import LeukGossip
public import LeukStore

/// The gossip core's bookkeeping that must survive a restart, stored beside the model snapshot (which
/// holds the parameters): the newest version seen from each author, so old states cannot be
/// replayed after a restart, and the peers' score counters, so a restart does not forgive a bad peer.
public struct GossipStateRecord: StoreRecord, Equatable {
    /// 2 adds each peer's outlier counter (evidence from the robust mixing); version 1 records read with none.
    /// 3 adds whether a peer's ban shut its session (`PeerScoreCounters.shutOut`; older records read every ban
    /// as shut, as they were) and the node's last local step (`GossipSnapshot.lastLocalStep`; 0 for none).
    public static let formatVersion: UInt8 = 3
    public var newestVersionByAuthor: [NodeID: UInt64]
    public var scores: [NodeID: PeerScoreCounters]
    public var lastLocalStep: Double?

    public init(newestVersionByAuthor: [NodeID: UInt64], scores: [NodeID: PeerScoreCounters], lastLocalStep: Double? = nil) {
        self.newestVersionByAuthor = newestVersionByAuthor
        self.scores = scores
        self.lastLocalStep = lastLocalStep
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.write(UInt32(newestVersionByAuthor.count))
        for (author, version) in newestVersionByAuthor.sorted(by: { $0.key < $1.key }) {
            writer.writeFixed(author.bytes)
            writer.write(version)
        }
        writer.write(UInt32(scores.count))
        for (peer, counters) in scores.sorted(by: { $0.key < $1.key }) {
            writer.writeFixed(peer.bytes)
            writer.write(counters.validDeliveries)
            writer.write(counters.invalidMessages)
            writer.write(counters.replays)
            writer.write(counters.decayedAt.nanosecondsSinceEpoch)
            writer.write(counters.bannedUntil?.nanosecondsSinceEpoch ?? 0)
            writer.write(counters.outliers)
            writer.write(counters.shutOut)
        }
        writer.write(lastLocalStep ?? 0)
    }

    public init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        let authors = Int(try reader.readUInt32("authors.count"))
        guard authors <= 100_000 else { throw BinaryDecodingError(field: "authors", reason: .tooLarge(length: authors, limit: 100_000)) }
        newestVersionByAuthor = [:]
        for _ in 0..<authors {
            let id = NodeID(bytes: try reader.readFixed(32, "authors.id"))!
            newestVersionByAuthor[id] = try reader.readUInt64("authors.version")
        }
        let peers = Int(try reader.readUInt32("scores.count"))
        guard peers <= 100_000 else { throw BinaryDecodingError(field: "scores", reason: .tooLarge(length: peers, limit: 100_000)) }
        scores = [:]
        for _ in 0..<peers {
            let id = NodeID(bytes: try reader.readFixed(32, "scores.id"))!
            let valid = try reader.readDouble("scores.valid")
            let invalid = try reader.readDouble("scores.invalid")
            let replays = try reader.readDouble("scores.replays")
            let decayed = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("scores.decayed_at"))
            let banned = try reader.readUInt64("scores.banned_until")
            let outliers = version >= 2 ? try reader.readDouble("scores.outliers") : 0
            let shutOut: Bool? = version >= 3 ? try reader.readBool("scores.shut_out") : nil
            scores[id] = PeerScoreCounters(validDeliveries: valid, invalidMessages: invalid, replays: replays, outliers: outliers,
                                           decayedAt: decayed,
                                           bannedUntil: banned == 0 ? nil : Timestamp(nanosecondsSinceEpoch: banned), shutOut: shutOut)
        }
        let step = version >= 3 ? try reader.readDouble("last_local_step") : 0
        lastLocalStep = step.isFinite && step > 0 ? step : nil
    }
}

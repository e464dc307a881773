public import LeukCore
import LeukCrypto
import Foundation

/// A peer as `peer list` and `status` show it: the allowlist record joined with live connection state.
public struct PeerView: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case connected, connecting, unreachable, refused
        /// The node is not running, so there is no live state to show.
        case offline
    }

    public var id: String
    public var fingerprint: String
    public var address: String
    public var state: State
    public var lastSeen: String?
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var score: Double
    public var rejected: [String: UInt64]

    enum CodingKeys: String, CodingKey {
        case id, fingerprint, address, state
        case lastSeen = "last_seen", bytesIn = "bytes_in", bytesOut = "bytes_out", score, rejected
    }

    public init(id: NodeID, record: PeerRecord, state: State) {
        self.id = id.hex
        let contact = try? record.parsedContact()
        fingerprint = contact?.fingerprint.text ?? "?"
        address = contact?.address ?? "?"
        self.state = state
        lastSeen = record.lastSeen.map { $0.iso8601 }
        bytesIn = record.bytesIn
        bytesOut = record.bytesOut
        score = record.score
        rejected = record.rejected
    }
}

import LeukCore

/// What `leuknode status --json` prints: the running node's view of its federation.
/// The keys named by the federation issue (`peers`, `model`, `round`, `neighbor_distance`,
/// `updates_sent`, `updates_received`, `rejected`, `refused_connections`) are a contract.
/// `FederationService.status()` publishes the same facts to `NodeMetrics` (Prometheus) as it builds
/// this, so `/metrics` and `status` cannot disagree.
public struct NodeStatus: Codable, Sendable {
    public struct ModelSummary: Codable, Sendable {
        public var version: UInt64
        public var sha256: String
        public var sampleCount: UInt64
        public var contributors: [ContributorView]
        public var architecture: String
        enum CodingKeys: String, CodingKey {
            case version, sha256, sampleCount = "sample_count", contributors, architecture
        }
    }

    public struct ContributorView: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        public var version: UInt64
    }

    public struct Stranger: Codable, Sendable {
        public var fingerprint: String
        public var address: String
        public var attempts: UInt64
        public var lastAttempt: String
        enum CodingKeys: String, CodingKey { case fingerprint, address, attempts, lastAttempt = "last_attempt" }
    }

    public var id: String
    public var name: String
    public var fingerprint: String
    public var listen: String
    public var peers: [PeerView]
    public var model: ModelSummary
    /// Local training rounds completed since the node started (or resumed).
    public var round: UInt64
    /// Gossip mixing rounds of the averaging core.
    public var gossipRound: UInt64
    public var neighborDistance: Double?
    public var updatesSent: Int
    public var updatesReceived: Int
    public var rejected: [String: Int]
    public var refusedConnections: Int
    public var strangers: [Stranger]
    public var lastLoss: Double?
    public var validationAccuracy: Double?
    public var training: String
    /// Store writes that failed since the node started (0 on a healthy node), and the latest reason.
    public var storageErrors: Int
    public var lastStorageError: String?

    enum CodingKeys: String, CodingKey {
        case id, name, fingerprint, listen, peers, model, round
        case gossipRound = "gossip_round", neighborDistance = "neighbor_distance"
        case updatesSent = "updates_sent", updatesReceived = "updates_received", rejected
        case refusedConnections = "refused_connections", strangers
        case lastLoss = "last_loss", validationAccuracy = "validation_accuracy", training
        case storageErrors = "storage_errors", lastStorageError = "last_storage_error"
    }
}

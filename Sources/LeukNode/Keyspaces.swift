public import LeukStore

/// Every keyspace the node keeps in its database, in one place so no two modules pick the same prefix.
/// Models, updates and clinical records are encrypted at rest; peer bookkeeping is not secret.
public enum NodeKeyspaces {
    public static let peers = Keyspace("peers", sensitive: false)
    public static let strangers = Keyspace("strangers", sensitive: false)
    public static let models = Keyspace("models", sensitive: true)
    public static let updates = Keyspace("updates", sensitive: true)
    public static let nodeState = Keyspace("node", sensitive: false)
}

/// Every record type the node layer stores, with its keyspace, for code that reads a node's database
/// without running a node. `leukfuzz` (target `store-records`) decodes arbitrary bytes as each of them;
/// `ServingStateRecord` is internal, and this list is the only way to name its decoder from outside.
public enum NodeRecordKinds {
    public static var all: [(name: String, keyspace: Keyspace, type: any StoreRecord.Type)] {
        [("peer", NodeKeyspaces.peers, PeerRecord.self),
         ("stranger", NodeKeyspaces.strangers, StrangerRecord.self),
         ("gossip-state", NodeKeyspaces.nodeState, GossipStateRecord.self),
         ("model-snapshot", NodeKeyspaces.models, ModelSnapshot.self),
         ("model-history", NodeKeyspaces.models, ModelHistoryEntry.self),
         ("promotion-decision", NodeKeyspaces.models, PromotionDecision.self),
         ("serving-state", NodeKeyspaces.models, ServingStateRecord.self)]
    }
}

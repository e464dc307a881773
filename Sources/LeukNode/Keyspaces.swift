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

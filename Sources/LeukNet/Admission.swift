public import LeukCore
import Synchronization

/// Decides which identities may connect and which authors' updates are accepted. Consulted on the
/// event loop during every handshake, so an implementation answers from memory, at once.
public protocol AdmissionPolicy: Sendable {
    func admits(_ peer: NodeID) -> Bool
}

/// The allowlist, shared between the node (which edits it when the operator adds or removes a
/// peer) and the network shell (which reads it in handshakes). A `Mutex` makes reads and edits
/// safe from any thread.
public final class AllowList: AdmissionPolicy {
    private let members: Mutex<Set<NodeID>>

    public init(_ peers: some Sequence<NodeID> = []) { members = Mutex(Set(peers)) }

    public func admits(_ peer: NodeID) -> Bool { members.withLock { $0.contains(peer) } }
    public func admit(_ peer: NodeID) { _ = members.withLock { $0.insert(peer) } }
    public func revoke(_ peer: NodeID) { _ = members.withLock { $0.remove(peer) } }
    public var all: Set<NodeID> { members.withLock { $0 } }
}

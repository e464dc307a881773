public import LeukCore
public import LeukNet
public import LeukWire

/// What `FederationService` needs from the network: the seam between the gossip shell and the
/// sockets. `NetworkShell` is the real one; tests of the node layer drive the service through an
/// in-memory transport, so directive execution and status counters are checked without sockets
/// or sleeps (the rule the gossip core's simulator already follows).
public protocol FederationTransport: Sendable {
    /// Everything the network reports, in order; finishes at shutdown.
    var events: AsyncStream<NetworkEvent> { get }
    /// Starts listening and returns the bound port.
    func start() async throws(NetworkError) -> Int
    /// Keeps a connection to `peer`, redialling with backoff.
    func connect(to peer: NodeID, host: String, port: Int) async
    /// Sends one sealed update to a connected peer.
    func send(_ update: SealedModelUpdate, to peer: NodeID) async throws(NetworkError)
    /// Closes the session with `peer`; with a cool-down it is also refused until the cool-down ends.
    func disconnect(peer: NodeID, reason: GoodbyeReason, coolDown: Duration?) async
    /// Stops dialling `peer` and closes its connection (the operator revoked it).
    func forget(peer: NodeID) async
    /// Live per-peer traffic and connection state.
    func peers() async -> [PeerConnectionSnapshot]
    /// Connections refused since start (strangers, failed handshakes).
    var refusedConnectionCount: Int { get async }
    /// Says goodbye to every peer and stops.
    func shutdown() async
}

extension NetworkShell: FederationTransport {}

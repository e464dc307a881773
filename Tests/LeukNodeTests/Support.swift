import Foundation
import LeukCore
import LeukCrypto
import LeukGossip
import LeukModel
import LeukNet
@testable import LeukNode
import LeukStore
import LeukWire
import Logging

/// An in-memory `FederationTransport`: the test plays the network. It records what the service asks
/// of the network and lets the test deliver events, so the node layer is tested without sockets.
actor MemoryTransport: FederationTransport {
    nonisolated let events: AsyncStream<NetworkEvent>
    private let sink: AsyncStream<NetworkEvent>.Continuation
    private(set) var sent: [(peer: NodeID, update: SealedModelUpdate)] = []
    private(set) var disconnects: [(peer: NodeID, coolDown: Duration?)] = []
    private(set) var connected: [NodeID] = []
    var traffic: [NodeID: (received: UInt64, sent: UInt64)] = [:]
    /// What the connection layer would report beyond traffic: faults by code, updates sent, a cool-down.
    var connection: [NodeID: (faults: [String: Int], updatesSent: Int, coolDownUntil: Timestamp?)] = [:]
    /// How often the service read the connection layer's peers (`peers()`): a pass over every peer.
    private(set) var peerReadings = 0

    init() { (events, sink) = AsyncStream.makeStream(of: NetworkEvent.self) }

    nonisolated func deliver(_ event: NetworkEvent) { sink.yield(event) }

    func setTraffic(_ peer: NodeID, received: UInt64, sent: UInt64) { traffic[peer] = (received, sent) }

    func setConnection(_ peer: NodeID, faults: [String: Int], updatesSent: Int, coolDownUntil: Timestamp?) {
        connection[peer] = (faults, updatesSent, coolDownUntil)
    }

    func start() async throws(NetworkError) -> Int { 7400 }
    func connect(to peer: NodeID, host: String, port: Int) async { connected.append(peer) }
    func send(_ update: SealedModelUpdate, to peer: NodeID) async throws(NetworkError) { sent.append((peer, update)) }
    func disconnect(peer: NodeID, reason: GoodbyeReason, coolDown: Duration?) async { disconnects.append((peer, coolDown)) }
    func forget(peer: NodeID) async {}
    func peers() async -> [PeerConnectionSnapshot] {
        peerReadings += 1
        return Set(traffic.keys).union(connection.keys).sorted().map { peer in
            PeerConnectionSnapshot(peer: peer, address: "127.0.0.1:1", state: .connected, lastSeen: nil,
                                   bytesReceived: traffic[peer]?.received ?? 0, bytesSent: traffic[peer]?.sent ?? 0,
                                   updatesReceived: 0, updatesSent: connection[peer]?.updatesSent ?? 0,
                                   faults: connection[peer]?.faults ?? [:], coolDownUntil: connection[peer]?.coolDownUntil)
        }
    }
    var refusedConnectionCount: Int { 0 }
    func shutdown() async { sink.finish() }
}

/// A node's store, identity and federation service in a temporary directory, with one admitted peer.
final class NodeFixture: @unchecked Sendable {
    // @unchecked Sendable: the fields are set once in `init` (and `reopen`, called from one test task).
    let directory: String
    let identity = NodeIdentity.generate()
    let peer = NodeIdentity.generate()
    private(set) var store: RecordStore
    private(set) var transport = MemoryTransport()
    private(set) var federation: FederationService
    let model: Model

    /// `metrics` is where the service publishes (swift-metrics' no-op factory unless a test passes its own).
    init(gossipInterval: Duration = .seconds(3600), metrics: NodeMetrics = NodeMetrics(), reportsClassCounts: Bool = true) throws {
        directory = NSTemporaryDirectory() + "leuknode-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true), identity: identity)
        let registry = PeerRegistry(store: store)
        try registry.add(Contact(identity: peer.publicIdentity, host: "127.0.0.1", port: 1), selfID: identity.id)
        model = try Model(architecture: Architecture(named: "leuknet-s"), classes: ["hem", "all"], inputSize: 16,
                          mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], seed: 3, threads: 1)
        federation = try Self.makeService(identity: identity, store: store, transport: transport, model: model,
                                          gossipInterval: gossipInterval, metrics: metrics, reportsClassCounts: reportsClassCounts)
    }

    static func makeService(identity: NodeIdentity, store: RecordStore, transport: MemoryTransport, model: Model,
                            gossipInterval: Duration, metrics: NodeMetrics = NodeMetrics(), reportsClassCounts: Bool = true) throws -> FederationService {
        let config = NodeConfig(name: "test-node", listen: "127.0.0.1:7400", api: "127.0.0.1:7480", identity: identity.publicIdentity)
        let layout = FederationService.ModelLayout(architecture: "leuknet-s", classes: ["hem", "all"], inputSize: 16,
                                                   mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        return try FederationService(identity: identity, config: config, layout: layout, store: store,
                                     initialParameters: model.parameters, sampleCount: 10, classCounts: [10, 0], reportsClassCounts: reportsClassCounts,
                                     gossip: GossipConfiguration(gossipInterval: gossipInterval, tickJitter: 0, persistEveryRounds: 1),
                                     allowList: AllowList(), transport: transport, metrics: metrics, logger: Logger(label: "test"),
                                     onRound: { _ in })
    }

    /// Stops the service and reopens the store and a new service on it, as a restarted node does.
    func restart() async throws {
        await federation.shutdown()
        store.database.close()
        store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: false), identity: identity)
        transport = MemoryTransport()
        federation = try Self.makeService(identity: identity, store: store, transport: transport, model: model,
                                          gossipInterval: .seconds(3600))
    }

    deinit {
        store.database.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Waits until `condition` holds, yielding to the service's event task; gives up after `limit`
/// polls (about two seconds), so a broken service fails the test instead of hanging it.
func eventually(limit: Int = 2000, _ condition: () async throws -> Bool) async rethrows -> Bool {
    for _ in 0..<limit {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return try await condition()
}

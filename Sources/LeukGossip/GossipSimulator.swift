public import LeukCore

/// How the simulated network misbehaves. Delays are drawn uniformly from
/// `minimumDelay...maximumDelay` per message, so a spread of delays also reorders messages.
public struct NetworkConditions: Sendable, Equatable {
    /// Probability that any one message is lost.
    public var dropProbability: Double
    public var minimumDelay: Duration
    public var maximumDelay: Duration
    /// How long a node takes to notice that a neighbour crashed (the shell's keep-alive timeout).
    public var failureDetectionDelay: Duration

    public init(dropProbability: Double = 0, minimumDelay: Duration = .milliseconds(5),
                maximumDelay: Duration = .milliseconds(50), failureDetectionDelay: Duration = .seconds(3)) {
        self.dropProbability = max(0, min(dropProbability, 1))
        self.minimumDelay = max(minimumDelay, .nanoseconds(1))
        self.maximumDelay = max(maximumDelay, self.minimumDelay)
        self.failureDetectionDelay = failureDetectionDelay
    }
}

/// What a Byzantine node does to every state it publishes (it otherwise runs the real protocol).
public enum ByzantineBehaviour: Sendable, Equatable {
    /// Publishes every parameter equal to this value.
    case constant(Float)
    /// Publishes its true state plus Gaussian noise of this standard deviation.
    case gaussianNoise(standardDeviation: Float)
}

/// Everything that defines a simulation run; the same setup and seed replay the same run exactly.
public struct SimulationSetup: Sendable, Equatable {
    public var topology: GossipTopology
    public var gossip: GossipConfiguration
    public var network: NetworkConditions
    public var seed: UInt64
    /// Node index -> behaviour, for the nodes that attack.
    public var byzantine: [Int: ByzantineBehaviour]

    public init(topology: GossipTopology, gossip: GossipConfiguration = GossipConfiguration(),
                network: NetworkConditions = NetworkConditions(), seed: UInt64, byzantine: [Int: ByzantineBehaviour] = [:]) {
        self.topology = topology
        self.gossip = gossip
        self.network = network
        self.seed = seed
        self.byzantine = byzantine
    }
}

/// Why a simulation cannot be set up.
public struct SimulationSetupError: LeukUserFacingError, Equatable {
    public var description: String
    public var hint: String? { "choose another --nodes or --topology" }
}

/// The result of one local training step, handed back by a `LocalTrainer`.
public struct LocalTrainingResult: Sendable {
    public var parameters: [Float]
    public var sampleCount: Int
    public init(parameters: [Float], sampleCount: Int) {
        self.parameters = parameters
        self.sampleCount = sampleCount
    }
}

/// The hook through which `leuknode simulate` trains each node between gossip rounds. Training
/// itself stays out of this module; the simulator only calls this at the start of every round, for
/// every live node, in node order.
public protocol LocalTrainer {
    /// Train node `node` from `parameters` for one step (or epoch); `nil` leaves the model unchanged.
    mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult?
}

/// Pure averaging: no node trains.
public struct NoLocalTraining: LocalTrainer {
    public init() {}
    public mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? { nil }
}

/// What one simulated round looked like.
public struct SimulationRoundStatistics: Sendable, Equatable {
    /// 1 for the first round.
    public var round: Int
    /// Consensus distance over the live honest nodes (`ParameterMath.consensusDistance`).
    public var consensusDistance: Double
    /// Mean `neighborDistance` over the live honest nodes that hold a neighbour state.
    public var meanNeighborDistance: Double?
    /// Bytes sent this round (by `GossipMessage.approximateWireSize`), averaged over live nodes.
    public var bytesSentPerNode: Double
    public var messagesSent: Int
    public var messagesDropped: Int
    public var liveNodes: Int
}

/// Many gossip nodes in one process over a simulated transport that drops, delays, reorders,
/// partitions and crashes, driven by one seed: a failing seed replays exactly (the FoundationDB habit).
///
/// Simulated time advances one `gossipInterval` per round. Round `r` runs the training hook for every
/// live node, then processes every event up to `origin + (r + 1/2) * gossipInterval`; with
/// `tickJitter == 0` and delays below half an interval each node ticks exactly once per round and
/// every state arrives before the next tick, which is the synchronous model of the spectral bound.
public struct GossipSimulator: Sendable {
    public let setup: SimulationSetup
    public let adjacency: [[Int]]
    public let nodeIDs: [NodeID]
    public private(set) var round = 0
    /// Simulated wall-clock time.
    public private(set) var now: Timestamp
    /// Warnings the nodes logged (refusals, bans), for tests and reports.
    public private(set) var warnings: [(node: Int, event: GossipLogEvent)] = []
    /// Bans the nodes decided, in order.
    public private(set) var disconnects: [(node: Int, peer: Int, until: Timestamp)] = []
    /// Benches on model evidence (`GossipDirective.bench`): the pair stays connected, the node refuses the peer's states.
    public private(set) var benches: [(node: Int, peer: Int, until: Timestamp)] = []

    private let origin: Timestamp
    private let initialParameters: [[Float]]
    private let initialSampleCounts: [Int]
    /// Which nodes hold no image of some class (what their signed class counts tell).
    private let missesAClass: [Bool]
    private var nodes: [GossipInstance?]
    private var persisted: [GossipSnapshot?]
    private var incarnation: [Int]
    private var nodeRNG: [SeededGenerator]
    private var networkRNG: SeededGenerator
    private var queue = EventQueue<Event>()
    private var indexByID: [NodeID: Int] = [:]
    private var group: [Int]?
    /// The conditions in force: `setup.network` until `setNetwork` changes them.
    public private(set) var network: NetworkConditions
    private var blockedUntil: [Pair: Timestamp] = [:]
    private var bytesThisRound: [Int]
    private var sentThisRound = 0
    private var droppedThisRound = 0

    private struct Pair: Hashable, Sendable {
        let a: Int, b: Int
        init(_ x: Int, _ y: Int) { a = min(x, y); b = max(x, y) }
    }

    private enum Event: Sendable {
        case tick(node: Int, incarnation: Int)
        case deliver(from: Int, to: Int, message: GossipMessage, fromIncarnation: Int, toIncarnation: Int)
        case peerDown(observer: Int, peer: Int, incarnation: Int)
        case peerUp(observer: Int, peer: Int, incarnation: Int)
    }

    /// Builds the graph from the seed, starts every node, connects neighbours.
    /// `missesAClass` (empty: none) marks the nodes that hold no image of some class, as their signed class
    /// counts would tell their neighbours (`GossipInstance.missesAClass`).
    public init(setup: SimulationSetup, initialParameters: [[Float]], sampleCounts: [Int],
                missesAClass: [Bool] = []) throws(SimulationSetupError) {
        let n = initialParameters.count
        if let problem = setup.topology.problem(nodeCount: n) { throw SimulationSetupError(description: problem) }
        guard sampleCounts.count == n else {
            throw SimulationSetupError(description: "\(sampleCounts.count) sample counts for \(n) nodes")
        }
        guard let width = initialParameters.first?.count, initialParameters.allSatisfy({ $0.count == width }) else {
            throw SimulationSetupError(description: "every node must start with the same number of parameters")
        }
        self.setup = setup
        network = setup.network
        var master = SeededGenerator(seed: setup.seed)
        adjacency = setup.topology.adjacency(nodeCount: n, rng: &master)
        nodeIDs = (0..<n).map { Self.nodeID(index: $0) }
        origin = Timestamp(nanosecondsSinceEpoch: 1_700_000_000_000_000_000)
        now = origin
        self.initialParameters = initialParameters
        initialSampleCounts = sampleCounts
        self.missesAClass = missesAClass.count == n ? missesAClass : Array(repeating: false, count: n)
        nodes = (0..<n).map { i in
            var node = GossipInstance(configuration: setup.gossip, selfID: Self.nodeID(index: i),
                                      initialParameters: initialParameters[i], sampleCount: sampleCounts[i])
            node.missesAClass = missesAClass.count == n && missesAClass[i]
            return node
        }
        persisted = Array(repeating: nil, count: n)
        incarnation = Array(repeating: 0, count: n)
        nodeRNG = (0..<n).map { _ in SeededGenerator(seed: master.next()) }
        networkRNG = SeededGenerator(seed: master.next())
        bytesThisRound = Array(repeating: 0, count: n)
        for (i, id) in nodeIDs.enumerated() { indexByID[id] = i }
        for i in 0..<n {
            for j in adjacency[i] { apply(nodes[i]?.onPeerUp(nodeIDs[j], now: now) ?? [], from: i) }
            var rng = nodeRNG[i]
            apply(nodes[i]?.onStart(now: now, rng: &rng) ?? [], from: i)
            nodeRNG[i] = rng
        }
    }

    /// The node id used for simulated node `index`: the index in the first 8 bytes, so ids sort like indices.
    public static func nodeID(index: Int) -> NodeID {
        var bytes = [UInt8](repeating: 0x5A, count: NodeID.byteCount)
        for k in 0..<8 { bytes[k] = UInt8(truncatingIfNeeded: UInt64(index) >> (56 - 8 * UInt64(k))) }
        return NodeID(bytes: bytes)!
    }

    public var nodeCount: Int { nodes.count }
    public func isAlive(_ node: Int) -> Bool { nodes[node] != nil }
    public func instance(of node: Int) -> GossipInstance? { nodes[node] }
    public func parameters(of node: Int) -> [Float]? { nodes[node]?.parameters }
    /// Live nodes that follow the protocol honestly.
    public var honestLiveNodes: [Int] { (0..<nodes.count).filter { nodes[$0] != nil && setup.byzantine[$0] == nil } }

    // MARK: - Running

    /// Runs one round without training.
    public mutating func runRound() -> SimulationRoundStatistics {
        var none = NoLocalTraining()
        return runRound(trainer: &none)
    }

    /// Runs one round: a training step on every live node, then one gossip interval of events.
    public mutating func runRound<Trainer: LocalTrainer>(trainer: inout Trainer) -> SimulationRoundStatistics {
        round += 1
        for i in 0..<nodes.count where nodes[i] != nil {
            guard let current = nodes[i]?.parameters,
                  let result = trainer.trainStep(node: i, round: round, parameters: current) else { continue }
            apply(nodes[i]?.onLocalTrainingStep(newParameters: result.parameters, sampleCount: result.sampleCount,
                                                now: now) ?? [], from: i)
        }
        let interval = setup.gossip.gossipInterval
        let end = origin.adding(interval * round).adding(interval / 2)
        while let next = queue.nextTime, next <= end.nanosecondsSinceEpoch, let (time, event) = queue.pop() {
            now = Timestamp(nanosecondsSinceEpoch: time)
            handle(event)
        }
        now = end
        let stats = statistics()
        bytesThisRound = Array(repeating: 0, count: nodes.count)
        sentThisRound = 0
        droppedThisRound = 0
        return stats
    }

    /// Runs `rounds` rounds and returns their statistics.
    public mutating func run<Trainer: LocalTrainer>(rounds: Int, trainer: inout Trainer) -> [SimulationRoundStatistics] {
        (0..<max(rounds, 0)).map { _ in runRound(trainer: &trainer) }
    }

    /// The statistics of the current state (before the first round: the starting point).
    public func statistics() -> SimulationRoundStatistics {
        let honest = honestLiveNodes
        let vectors = honest.compactMap { nodes[$0]?.parameters }
        let distances = honest.compactMap { nodes[$0]?.neighborDistance }
        let live = nodes.indices.filter { nodes[$0] != nil }
        let bytes = live.reduce(0) { $0 + bytesThisRound[$1] }
        return SimulationRoundStatistics(
            round: round, consensusDistance: ParameterMath.consensusDistance(vectors),
            meanNeighborDistance: distances.isEmpty ? nil : distances.reduce(0, +) / Double(distances.count),
            bytesSentPerNode: live.isEmpty ? 0 : Double(bytes) / Double(live.count),
            messagesSent: sentThisRound, messagesDropped: droppedThisRound, liveNodes: live.count)
    }

    /// `node` evaluates its connected neighbours' latest models and its own on its validation split, as
    /// `NodeRuntime.evaluatePeers` does every training round, and feeds the losses to its core's
    /// score (`onPeerEvaluation`). `loss` is the shell's evaluation; it returns `nil` when the node cannot
    /// judge (no validation split holding both classes), and then nothing is recorded.
    public mutating func evaluatePeers(of node: Int, loss: (_ parameters: [Float]) -> Double?) {
        guard let instance = nodes[node], let own = loss(instance.parameters), own.isFinite else { return }
        var losses: [(peer: NodeID, loss: Double)] = []
        for snapshot in instance.peerSnapshots(now: now) where snapshot.isUp {
            guard let state = instance.latestState(of: snapshot.id), let value = loss(state) else { continue }
            losses.append((snapshot.id, value))
        }
        let reference = GossipInstance.referenceLoss(own: own, peers: losses.map(\.loss))
        for (peer, value) in losses {
            apply(nodes[node]?.onPeerEvaluation(peer, loss: value, referenceLoss: reference, now: now) ?? [], from: node)
        }
    }

    // MARK: - Faults

    /// Messages between different groups are lost until `heal()`. Nodes in no group form one more group.
    public mutating func partition(_ groups: [Set<Int>]) {
        var assignment = Array(repeating: groups.count, count: nodes.count)
        for (g, members) in groups.enumerated() { for i in members where i < nodes.count { assignment[i] = g } }
        group = assignment
    }

    public mutating func heal() { group = nil }

    /// Changes the network conditions from now on (e.g. a burst of loss). `setup` keeps the initial ones.
    public mutating func setNetwork(_ conditions: NetworkConditions) { network = conditions }

    /// The node's process dies: its state is lost except its last persisted snapshot; neighbours
    /// notice after `failureDetectionDelay`.
    public mutating func crash(node: Int) {
        guard nodes[node] != nil else { return }
        nodes[node] = nil
        incarnation[node] += 1
        for j in adjacency[node] where nodes[j] != nil {
            queue.push(at: now.adding(network.failureDetectionDelay).nanosecondsSinceEpoch,
                       .peerDown(observer: j, peer: node, incarnation: incarnation[j]))
        }
    }

    /// The node comes back from its last persisted snapshot (or its initial model if it never
    /// persisted) and reconnects to its live neighbours.
    public mutating func restart(node: Int) {
        guard nodes[node] == nil else { return }
        incarnation[node] += 1
        let id = nodeIDs[node]
        if let snapshot = persisted[node] {
            nodes[node] = GossipInstance(configuration: setup.gossip, selfID: id, restoring: snapshot)
        } else {
            nodes[node] = GossipInstance(configuration: setup.gossip, selfID: id,
                                         initialParameters: initialParameters[node], sampleCount: initialSampleCounts[node])
        }
        nodes[node]?.missesAClass = missesAClass[node]
        for j in adjacency[node] where nodes[j] != nil {
            apply(nodes[node]?.onPeerUp(nodeIDs[j], now: now) ?? [], from: node)
            queue.push(at: now.adding(network.minimumDelay).nanosecondsSinceEpoch,
                       .peerUp(observer: j, peer: node, incarnation: incarnation[j]))
        }
        var rng = nodeRNG[node]
        apply(nodes[node]?.onStart(now: now, rng: &rng) ?? [], from: node)
        nodeRNG[node] = rng
    }

    // MARK: - The shell

    private mutating func handle(_ event: Event) {
        switch event {
        case let .tick(i, inc):
            guard inc == incarnation[i], nodes[i] != nil else { return }
            var rng = nodeRNG[i]
            let directives = nodes[i]?.onTick(now: now, rng: &rng) ?? []
            nodeRNG[i] = rng
            apply(directives, from: i)
        case let .deliver(from, to, message, fromInc, toInc):
            guard fromInc == incarnation[from], toInc == incarnation[to], nodes[to] != nil, canReach(from, to) else {
                droppedThisRound += 1
                return
            }
            apply(nodes[to]?.onMessage(from: nodeIDs[from], message: message, now: now) ?? [], from: to)
        case let .peerDown(observer, peer, inc):
            guard inc == incarnation[observer] else { return }
            apply(nodes[observer]?.onPeerDown(nodeIDs[peer], now: now) ?? [], from: observer)
        case let .peerUp(observer, peer, inc):
            guard inc == incarnation[observer], nodes[peer] != nil else { return }
            apply(nodes[observer]?.onPeerUp(nodeIDs[peer], now: now) ?? [], from: observer)
        }
    }

    private func canReach(_ a: Int, _ b: Int) -> Bool {
        if let group, group[a] != group[b] { return false }
        if let until = blockedUntil[Pair(a, b)], now < until { return false }
        return true
    }

    /// Executes one node's directives, as the NIO shell does: an exhaustive switch.
    private mutating func apply(_ directives: [GossipDirective], from i: Int) {
        for directive in directives {
            switch directive {
            case let .send(to, message):
                guard let j = indexByID[to] else { continue }
                let outgoing = tampered(message, by: i)
                bytesThisRound[i] += outgoing.approximateWireSize
                sentThisRound += 1
                let lost = network.dropProbability > 0 && networkRNG.nextUnitDouble() < network.dropProbability
                guard !lost, canReach(i, j) else {
                    droppedThisRound += 1
                    continue
                }
                let low = UInt64(network.minimumDelay.components.seconds) * 1_000_000_000
                    + UInt64(network.minimumDelay.components.attoseconds / 1_000_000_000)
                let high = UInt64(network.maximumDelay.components.seconds) * 1_000_000_000
                    + UInt64(network.maximumDelay.components.attoseconds / 1_000_000_000)
                let delay = low + (high > low ? networkRNG.next() % (high - low + 1) : 0)
                queue.push(at: now.nanosecondsSinceEpoch + delay,
                           .deliver(from: i, to: j, message: outgoing, fromIncarnation: incarnation[i], toIncarnation: incarnation[j]))
            case let .scheduleTick(after):
                queue.push(at: now.adding(after).nanosecondsSinceEpoch, .tick(node: i, incarnation: incarnation[i]))
            case let .persist(snapshot):
                persisted[i] = snapshot
            case let .disconnect(peer, until):
                guard let j = indexByID[peer] else { continue }
                blockedUntil[Pair(i, j)] = until
                disconnects.append((node: i, peer: j, until: until))
                apply(nodes[i]?.onPeerDown(peer, now: now) ?? [], from: i)
                queue.push(at: now.adding(network.minimumDelay).nanosecondsSinceEpoch,
                           .peerDown(observer: j, peer: i, incarnation: incarnation[j]))
                queue.push(at: until.nanosecondsSinceEpoch, .peerUp(observer: i, peer: j, incarnation: incarnation[i]))
                queue.push(at: until.nanosecondsSinceEpoch, .peerUp(observer: j, peer: i, incarnation: incarnation[j]))
            case let .bench(peer, until):
                guard let j = indexByID[peer] else { continue }
                benches.append((node: i, peer: j, until: until))
            case .roundCompleted:
                break
            case let .log(event):
                if event.level == .warning { warnings.append((node: i, event: event)) }
            }
        }
    }

    private mutating func tampered(_ message: GossipMessage, by node: Int) -> GossipMessage {
        guard let behaviour = setup.byzantine[node] else { return message }
        var forged = message
        switch behaviour {
        case let .constant(value):
            forged.parameters = Array(repeating: value, count: message.parameters.count)
        case let .gaussianNoise(sd):
            forged.parameters = message.parameters.map { $0 + sd * Float(networkRNG.nextGaussian()) }
        }
        return forged
    }
}

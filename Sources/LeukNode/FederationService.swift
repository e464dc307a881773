public import LeukCore
public import LeukCrypto
public import LeukGossip
public import LeukNet
public import LeukStore
import LeukTraining
import LeukWire
public import Logging
import Foundation

/// The gossip shell of a running node: it drives the pure `GossipInstance` with network events,
/// timers and local training results, and executes the instance's directives against the network
/// shell and the store (an exhaustive `switch`, no `default:`).
///
/// An actor, so the instance's state has one owner; nothing here blocks for long (signing an update
/// hashes about a megabyte, a few milliseconds), and LevelDB writes are small and unsynced except the
/// model snapshots a diagnosis may name.
public actor FederationService {
    public struct ModelLayout: Sendable {
        public var architecture: String
        public var classes: [String]
        public var inputSize: Int
        public var mean: [Float]
        public var std: [Float]

        public init(architecture: String, classes: [String], inputSize: Int, mean: [Float], std: [Float]) {
            self.architecture = architecture
            self.classes = classes
            self.inputSize = inputSize
            self.mean = mean
            self.std = std
        }
    }

    /// One line of the node's per-round log, also what the demo prints.
    public struct RoundReport: Sendable {
        public var round: UInt64
        public var loss: Double
        public var validationAccuracy: Double
        public var neighborDistance: Double?
        public var connectedPeers: Int
        public var admittedPeers: Int
        public var updatesReceived: Int

        public var line: String {
            let distance = neighborDistance.map { String(format: "%.4e", $0) } ?? "n/a"
            return "round \(round)  loss " + String(format: "%.4f", loss) + "  val_acc " + String(format: "%.3f", validationAccuracy)
                + "  neighbor_distance \(distance)  peers \(connectedPeers)/\(admittedPeers)  updates_in \(updatesReceived)"
        }
    }

    let identity: NodeIdentity
    let config: NodeConfig
    let layout: ModelLayout
    let registry: PeerRegistry
    let models: ModelRepository
    let store: RecordStore
    let shell: any FederationTransport
    let allowList: AllowList
    let clock: any WallClock
    let logger: Logger
    let onRound: @Sendable (RoundReport) -> Void

    private var instance: GossipInstance
    private var rng: SeededGenerator
    private var contributors: [NodeID: UInt64]
    private var parentDigests: [NodeID: [UInt8]] = [:]
    private var trainingRound: UInt64 = 0
    private var lastLoss: Double?
    /// Each peer's latest model's loss on this node's validation split (`recordPeerEvaluation`).
    private var peerValidationLoss: [NodeID: Double] = [:]
    private var lastValidation: (accuracy: Double, loss: Double)?
    private var sealedCache: (version: UInt64, update: SealedModelUpdate)?
    private var tickTask: Task<Void, Never>?
    private var eventTask: Task<Void, Never>?
    /// Each admitted peer's stored record as this run found it: live counters of this run are added
    /// to it, both in `peerViews` and when the records are written back (`persistPeerRecords`).
    private var storedPeers: [NodeID: PeerRecord] = [:]
    /// Writes to the store that failed since start, and the latest reason: shown in `status`, since a
    /// node that cannot persist must say so rather than carry on silently.
    private var storageFailures = 0
    private var lastStorageFailure: String?
    private var stopped = false
    private var trainingState = "running"
    /// Images the local trainer went through since start, and when the core last took in a peer's
    /// update: facts `status` does not show but the metrics do.
    private var trainingImages: UInt64 = 0
    private var lastUpdateReceived: Timestamp?
    private var metrics: NodeMetrics
    /// This node's training images per class (in `layout.classes` order; empty without a dataset), sent
    /// in every signed update (unless `reportsClassCounts` is off) so peers can weight their loss by the
    /// federation's class mix.
    private let ownClassCounts: [Int]
    /// False with `--no-share-class-counts`: the updates carry no counts, though the node still adds up its peers'.
    private let reportsClassCounts: Bool
    /// The class counts each peer's latest accepted update reported (`neighbourhoodClassCounts`).
    private var peerClassCounts: [NodeID: [UInt64]] = [:]

    /// Restores the node's state from its store (the last model snapshot and gossip bookkeeping) or
    /// starts from `initialParameters`.
    public init(identity: NodeIdentity, config: NodeConfig, layout: ModelLayout, store: RecordStore,
                initialParameters: [Float], sampleCount: Int, classCounts: [Int] = [], reportsClassCounts: Bool = true,
                gossip: GossipConfiguration, network: NetworkConfiguration, clock: any WallClock = SystemWallClock(), metrics: NodeMetrics = NodeMetrics(),
                logger: Logger, onRound: @escaping @Sendable (RoundReport) -> Void) throws {
        let allowList = AllowList(try PeerRegistry(store: store, clock: clock).all().map(\.id))
        try self.init(identity: identity, config: config, layout: layout, store: store, initialParameters: initialParameters,
                      sampleCount: sampleCount, classCounts: classCounts, reportsClassCounts: reportsClassCounts,
                      gossip: gossip, allowList: allowList,
                      transport: NetworkShell(configuration: network, admission: allowList, logger: logger),
                      clock: clock, metrics: metrics, logger: logger, onRound: onRound)
    }

    /// The same over any transport; `allowList` must be the admission policy the transport checks
    /// handshakes against, so that `addPeer` and `removePeer` take effect on the wire at once.
    public init(identity: NodeIdentity, config: NodeConfig, layout: ModelLayout, store: RecordStore,
                initialParameters: [Float], sampleCount: Int, classCounts: [Int] = [], reportsClassCounts: Bool = true,
                gossip: GossipConfiguration, allowList: AllowList, transport: any FederationTransport, clock: any WallClock = SystemWallClock(),
                metrics: NodeMetrics = NodeMetrics(), logger: Logger, onRound: @escaping @Sendable (RoundReport) -> Void) throws {
        self.identity = identity
        // Counts that do not name every class of the layout are not reported at all.
        ownClassCounts = classCounts.count == layout.classes.count && classCounts.allSatisfy({ $0 >= 0 }) ? classCounts : []
        self.reportsClassCounts = reportsClassCounts
        self.metrics = metrics
        self.config = config
        self.layout = layout
        self.store = store
        self.registry = PeerRegistry(store: store, clock: clock)
        self.models = ModelRepository(store: store)
        self.clock = clock
        self.logger = logger
        self.onRound = onRound
        let admittedPeers = try registry.all()
        storedPeers = Dictionary(admittedPeers.map { ($0.id, $0.record) }, uniquingKeysWith: { a, _ in a })
        for peer in admittedPeers where !allowList.admits(peer.id) { allowList.admit(peer.id) }
        self.allowList = allowList
        shell = transport
        rng = SeededGenerator(seed: UInt64(truncatingIfNeeded: clock.now().nanosecondsSinceEpoch) ^ 0x5EED)

        let saved = try models.current()
        let bookkeeping = try store.get(GossipStateRecord.self, in: NodeKeyspaces.nodeState, id: "gossip")
        if let saved, saved.parameters.count == initialParameters.count, saved.architecture == layout.architecture,
           saved.classes == layout.classes {
            let snapshot = GossipSnapshot(parameters: saved.parameters, sampleCount: sampleCount, version: saved.version,
                                          round: saved.round, newestVersionByAuthor: bookkeeping?.newestVersionByAuthor ?? [:],
                                          scores: bookkeeping?.scores ?? [:], lastLocalStep: bookkeeping?.lastLocalStep)
            instance = GossipInstance(configuration: gossip, selfID: identity.id, restoring: snapshot)
            contributors = Dictionary(saved.contributors.map { ($0.author, $0.version) }, uniquingKeysWith: max)
            logger.info("resumed model version \(saved.version) (sha256 \(saved.sha256.prefix(12))) from the store")
        } else {
            instance = GossipInstance(configuration: gossip, selfID: identity.id, initialParameters: initialParameters,
                                      sampleCount: sampleCount)
            contributors = [:]
        }
    }

    // MARK: Lifecycle

    /// Listens, dials every admitted peer, and starts the gossip timer. Returns the listening port.
    public func start() async throws -> Int {
        let port = try await shell.start()
        for (id, record) in try registry.all() {
            if let contact = try? record.parsedContact() { await shell.connect(to: id, host: contact.host, port: contact.port) }
        }
        let events = shell.events
        eventTask = Task { [weak self] in
            for await event in events {
                guard let self else { return }
                await self.handle(event)
            }
        }
        var generator = rng
        let directives = instance.onStart(now: clock.now(), rng: &generator)
        rng = generator
        await execute(directives)
        await refreshMetrics()
        return port
    }

    /// Tells peers goodbye, stores the model with a synced write, and stops the timers.
    public func shutdown() async {
        guard !stopped else { return }
        stopped = true
        tickTask?.cancel()
        await shell.shutdown()
        eventTask?.cancel()
        await persistPeerRecords()
        do { try persistModel(sync: true) } catch { storageFailed("could not store the model at shutdown", error) }
    }

    // MARK: Training

    public func currentParameters() -> [Float] { instance.parameters }

    /// Says what `status` reports as `training`: "running", "finished" (round limit reached, still
    /// averaging) or "none" (no dataset).
    public func setTrainingState(_ state: String) { trainingState = state }

    /// Folds one local training round into the model. Mixing may have moved the parameters while the
    /// trainer worked, so the trainer's *change* is applied to the current parameters rather than its
    /// result replacing them (which would throw the mixing away).
    /// `images` is how many images the round went through (`leuknode_training_images_total`).
    public func applyLocalTraining(start: [Float], trained: [Float], loss: Double, images: Int, validationAccuracy: Double,
                                   validationLoss: Double) async {
        guard !stopped, start.count == trained.count, trained.count == instance.parameters.count else { return }
        var updated = instance.parameters
        for i in updated.indices { updated[i] += trained[i] - start[i] }
        let directives = instance.onLocalTrainingStep(newParameters: updated, sampleCount: instance.sampleCount, now: clock.now())
        trainingRound += 1
        trainingImages += UInt64(max(images, 0))
        lastLoss = loss
        lastValidation = (validationAccuracy, validationLoss)
        contributors[identity.id] = instance.version
        await execute(directives)
        do { try persistModel(sync: false) } catch { storageFailed("could not store the model", error) }
        let report = RoundReport(round: trainingRound, loss: loss, validationAccuracy: validationAccuracy,
                                 neighborDistance: instance.neighborDistance, connectedPeers: instance.degree,
                                 admittedPeers: allowList.all.count, updatesReceived: instance.updatesReceived)
        onRound(report)
        await refreshMetrics()
    }

    /// The class counts each connected peer in good standing reported in its latest signed update (a peer
    /// that sent none is missing): what the trainer weights a one-class site's loss by
    /// (`FederatedTrainingSession.useNeighbourClassCounts`). A benched or disconnected peer's counts stop
    /// counting with its mixing weight.
    ///
    /// A peer can lie about its counts; the harm is bounded because the trainer clips every class weight to
    /// `classWeightRange`.
    public func neighbourClassCounts() -> [[Int]] {
        guard ownClassCounts.count == layout.classes.count else { return [] }
        return instance.peerSnapshots(now: clock.now()).filter { $0.isUp && !$0.shutOut }
            .compactMap { peerClassCounts[$0.id]?.map { Int(clamping: $0) } }
    }

    /// The node's own training images per class plus every count in `neighbourClassCounts` (the whole
    /// federation's on a complete graph); nil while no peer has reported any.
    public func neighbourhoodClassCounts() -> [Int]? {
        let reporting = neighbourClassCounts()
        guard !reporting.isEmpty else { return nil }
        return ClassMasses.pooled([ownClassCounts] + reporting, classes: ownClassCounts.count)
    }

    /// Folds one stretch of a round (not its last) into the model and publishes it, like
    /// `applyLocalTraining` but without a round report, a validation figure or a stored snapshot: those
    /// come once per round, while a round has `exchangesPerRound` stretches.
    public func applyLocalStretch(start: [Float], trained: [Float], images: Int) async {
        guard !stopped, start.count == trained.count, trained.count == instance.parameters.count else { return }
        var updated = instance.parameters
        for i in updated.indices { updated[i] += trained[i] - start[i] }
        let directives = instance.onLocalTrainingStep(newParameters: updated, sampleCount: instance.sampleCount, now: clock.now())
        trainingImages += UInt64(max(images, 0))
        contributors[identity.id] = instance.version
        await execute(directives)
    }

    // MARK: Peer evaluation

    /// The latest state of every connected peer, for the runtime to evaluate on the validation split.
    public func peerStatesToEvaluate() -> [(peer: NodeID, parameters: [Float])] {
        instance.peerSnapshots(now: clock.now()).filter(\.isUp).compactMap { snapshot in
            instance.latestState(of: snapshot.id).map { (snapshot.id, $0) }
        }
    }

    /// Feeds one evaluation to the gossip core's score (`onPeerEvaluation`) and keeps the loss for `status`.
    public func recordPeerEvaluation(_ peer: NodeID, loss: Double, referenceLoss: Double) async {
        peerValidationLoss[peer] = loss
        await execute(instance.onPeerEvaluation(peer, loss: loss, referenceLoss: referenceLoss, now: clock.now()))
        await refreshMetrics()
    }

    // MARK: Peers

    public func addPeer(_ contact: Contact) async throws -> PeerView {
        let record = try registry.add(contact, selfID: identity.id)
        if storedPeers[contact.identity.id] == nil { storedPeers[contact.identity.id] = record }
        allowList.admit(contact.identity.id)
        await shell.connect(to: contact.identity.id, host: contact.host, port: contact.port)
        await refreshMetrics()
        return PeerView(id: contact.identity.id, record: record, state: .connecting)
    }

    /// Revokes a peer: its connection closes at once and the allowlist refuses it from now on.
    public func removePeer(_ reference: String) async throws -> PeerView {
        let (id, record) = try registry.remove(reference)
        storedPeers[id] = nil
        peerClassCounts[id] = nil
        allowList.revoke(id)
        await shell.disconnect(peer: id, reason: .removedByOperator, coolDown: nil)
        await shell.forget(peer: id)
        let directives = instance.onPeerDown(id, now: clock.now())
        await execute(directives)
        await refreshMetrics()
        return PeerView(id: id, record: record, state: .refused)
    }

    public func peerViews() async throws -> [PeerView] { try peerViews(live: await shell.peers()) }

    /// The admitted peers joined with one reading of the shell's live state and one of the gossip
    /// core's, so `status` and the metrics it publishes describe the same moment.
    private func peerViews(live peers: [PeerConnectionSnapshot]) throws -> [PeerView] {
        let readings = Readings(live: peers, gossip: instance.peerSnapshots(now: clock.now()))
        return try registry.all().map { row in
            var view = PeerView(id: row.id, record: currentRecord(row.id, stored: row.record, readings),
                                state: Self.viewState(readings.live[row.id]?.state), connection: readings.live[row.id],
                                gossip: readings.gossip[row.id])
            view.validationLoss = peerValidationLoss[row.id].flatMap(Self.finite)
            return view
        }
    }

    /// The two cores' readings of every peer at one moment, by node id.
    private struct Readings {
        var live: [NodeID: PeerConnectionSnapshot]
        var gossip: [NodeID: GossipPeerSnapshot]

        init(live: [PeerConnectionSnapshot], gossip: [GossipPeerSnapshot]) {
            self.live = Dictionary(live.map { ($0.peer, $0) }, uniquingKeysWith: { a, _ in a })
            self.gossip = Dictionary(gossip.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// A peer's record with this run's counters added: traffic from the shell, score and refusals
    /// from the gossip core (the one owner of scoring and of the rejection vocabulary).
    private func currentRecord(_ id: NodeID, stored: PeerRecord, _ readings: Readings) -> PeerRecord {
        let base = storedPeers[id] ?? stored
        let live = readings.live[id], gossip = readings.gossip[id]
        var record = stored
        record.bytesIn = base.bytesIn + (live?.bytesReceived ?? 0)
        record.bytesOut = base.bytesOut + (live?.bytesSent ?? 0)
        record.lastSeen = live?.lastSeen ?? stored.lastSeen
        record.score = gossip?.score ?? 0
        record.rejected = base.rejected
        for (reason, count) in gossip?.rejected ?? [:] { record.rejected[reason.rawValue, default: 0] += UInt64(count) }
        return record
    }

    /// Writes every admitted peer's current record (unsynced: counters, not clinical data), so the
    /// score, traffic and refusals survive a restart.
    private func persistPeerRecords() async {
        let readings = Readings(live: await shell.peers(), gossip: instance.peerSnapshots(now: clock.now()))
        do {
            var batch = store.batch()
            for (id, stored) in try registry.all() {
                batch.put(currentRecord(id, stored: stored, readings), in: NodeKeyspaces.peers, id: id.hex)
            }
            try store.commit(batch, sync: false)
        } catch {
            storageFailed("could not store the peer records", error)
        }
    }

    /// Store writes that failed since start, and the latest reason (also in `status`).
    public func storageHealth() -> (failures: Int, lastFailure: String?) { (storageFailures, lastStorageFailure) }

    private func storageFailed(_ what: String, _ error: any Error) {
        storageFailures += 1
        lastStorageFailure = "\(what): \(error)"
        logger.error("\(what): \(error)")
    }

    static func viewState(_ state: PeerConnectionState?) -> PeerView.State {
        switch state {
        case .connected?: return .connected
        case .connecting?: return .connecting
        case .unreachable?, .disconnected?, nil: return .unreachable
        case .refused?, .coolingDown?: return .refused
        }
    }

    // MARK: Status and models

    public func currentSnapshot() -> ModelSnapshot { makeSnapshot() }

    /// Grows whenever the parameters change (every publish), so it identifies the current model cheaply.
    public func currentVersion() -> UInt64 { instance.version }

    public func history(limit: Int = 100) throws -> [ModelHistoryEntry] { try models.history(limit: limit) }

    public func status() async throws -> NodeStatus {
        let live = await shell.peers()
        let refusedConnections = await shell.refusedConnectionCount
        let peers = try peerViews(live: live)
        // The reading is taken from the same values as the status below (no suspension between).
        metrics.publish(metricsReading(live: live, peerStates: peers.map(\.state), refusedConnections: refusedConnections))
        let snapshot = makeSnapshot()
        let names = Dictionary(try registry.all().map { ($0.id, (try? $0.record.parsedContact())?.address) }, uniquingKeysWith: { a, _ in a })
        let rejected = Dictionary(instance.rejected.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: +)
        let strangers = try registry.strangers().map {
            NodeStatus.Stranger(fingerprint: $0.fingerprint, address: $0.lastAddress, attempts: $0.attempts,
                                lastAttempt: $0.lastAttempt.iso8601)
        }
        return NodeStatus(
            id: identity.id.hex, name: config.name, fingerprint: identity.publicIdentity.fingerprint.text, listen: config.listen,
            peers: peers,
            model: .init(version: snapshot.version, sha256: snapshot.sha256, sampleCount: snapshot.sampleCount,
                         contributors: snapshot.contributors.map {
                             .init(id: $0.author.hex, name: $0.author == identity.id ? config.name : names[$0.author] ?? nil,
                                   version: $0.version)
                         },
                         architecture: layout.architecture),
            round: trainingRound, gossipRound: instance.round, neighborDistance: instance.neighborDistance.flatMap(Self.finite),
            updatesSent: instance.updatesSent, updatesReceived: instance.updatesReceived, rejected: rejected,
            refusedConnections: refusedConnections, strangers: strangers,
            lastLoss: lastLoss.flatMap(Self.finite), validationAccuracy: lastValidation.flatMap { Self.finite($0.accuracy) },
            training: stopped ? "stopped" : trainingState,
            storageErrors: storageFailures, lastStorageError: lastStorageFailure)
    }

    /// A figure `status` may print: JSON has no NaN or infinity (a model that overflowed under an
    /// undefended attack has neither a loss nor a distance worth showing).
    static func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }

    // MARK: Metrics

    /// Publishes the node's current facts to `NodeMetrics`. Called after everything that changes
    /// them (network events, gossip ticks, training rounds, peer changes) and by `status`; the
    /// shell's byte counts also move between events, so `/metrics` shows traffic as of the last
    /// gossip tick at the latest.
    private func refreshMetrics() async {
        let live = await shell.peers()
        let refusedConnections = await shell.refusedConnectionCount
        // A failed read of the peer list leaves the peer gauges as they were; the store's failure
        // is reported by whatever write meets it. Only the states are needed, not whole views (whose
        // distances cost a pass over the parameters per peer), and this runs after every event.
        let byID = Dictionary(live.map { ($0.peer, $0.state) }, uniquingKeysWith: { a, _ in a })
        let states = try? registry.all().map { Self.viewState(byID[$0.id]) }
        metrics.publish(metricsReading(live: live, peerStates: states, refusedConnections: refusedConnections))
    }

    /// The facts `status` reports, taken from the same fields, in the form `NodeMetrics` exports.
    private func metricsReading(live: [PeerConnectionSnapshot], peerStates: [PeerView.State]?, refusedConnections: Int) -> NodeMetrics.Reading {
        NodeMetrics.Reading(
            trainingRound: trainingRound, lastLoss: lastLoss, validationAccuracy: lastValidation?.accuracy,
            trainingImages: trainingImages, modelVersion: instance.version, gossipRound: instance.round, peerStates: peerStates,
            traffic: Dictionary(live.map { ($0.peer, (received: $0.bytesReceived, sent: $0.bytesSent)) },
                                uniquingKeysWith: { a, _ in a }),
            updatesSent: instance.updatesSent, updatesReceived: instance.updatesReceived, rejected: instance.rejected,
            consensusDistance: instance.neighborDistance, refusedConnections: refusedConnections,
            storageFailures: storageFailures, lastUpdateReceived: lastUpdateReceived)
    }

    private func makeSnapshot() -> ModelSnapshot {
        let sampleCount = UInt64(instance.sampleCount)
        return ModelSnapshot(
            version: instance.version, round: instance.round, architecture: layout.architecture, classes: layout.classes,
            inputSize: layout.inputSize, mean: layout.mean, std: layout.std, parameters: instance.parameters, weight: 1,
            sampleCount: sampleCount,
            contributors: contributors.map { Contribution(author: $0.key, version: $0.value) }.sorted { $0.author < $1.author },
            createdAt: clock.now(), validationAccuracy: lastValidation?.accuracy ?? 0, validationLoss: lastValidation?.loss ?? 0)
    }

    private func persistModel(sync: Bool) throws {
        try models.save(makeSnapshot(), sync: sync)
    }

    // MARK: Events

    private func handle(_ event: NetworkEvent) async {
        let now = clock.now()
        switch event {
        case let .peerConnected(peer, address, direction):
            logger.info("peer \(peer.short) connected (\(direction.rawValue), \(address))")
            await execute(instance.onPeerUp(peer, now: now))
        case let .peerDisconnected(peer, reason):
            logger.info("peer \(peer.short) disconnected\(reason.map { ": \($0.description)" } ?? "")")
            await execute(instance.onPeerDown(peer, now: now))
            await persistPeerRecords()
        case let .received(update, from):
            let message = GossipMessage(author: update.author, version: update.metadata.version, round: update.metadata.round,
                                        sampleCount: Int(clamping: update.metadata.sampleCount), degree: Int(update.metadata.degree),
                                        parameters: update.parameters,
                                        neighborhoodSamples: Int(clamping: update.metadata.neighborhoodSamples),
                                        missesAClass: update.metadata.classCounts.count == layout.classes.count
                                            && update.metadata.classCounts.contains(0))
            let before = instance.updatesReceived
            let directives = instance.onMessage(from: from, message: message, now: now)
            if instance.updatesReceived > before {
                lastUpdateReceived = now
                contributors[update.author] = max(contributors[update.author] ?? 0, update.metadata.version)
                parentDigests[update.author] = update.parameterDigest
                // The wire checked one count per class of this federation, adding up to at most the sample count.
                if update.metadata.classCounts.count == layout.classes.count { peerClassCounts[update.author] = update.metadata.classCounts }
            }
            await execute(directives)
        case let .refused(refusal):
            let fingerprint = refusal.fingerprint?.text ?? "unknown"
            logger.warning("refused a connection from \(refusal.address) (fingerprint \(fingerprint)): \(refusal.reason.description)")
            if refusal.fingerprint != nil {
                do { try registry.recordStranger(fingerprint: fingerprint, address: refusal.address) } catch {
                    storageFailed("could not record the stranger \(fingerprint)", error)
                }
            }
            // No metrics refresh per refusal: strangers arrive as fast as anyone can connect, and the
            // refresh (a pass over the shell's peers and the allowlist) would let them keep this actor,
            // and the honest updates queued behind them, waiting. The next gossip tick publishes the count.
            return
        case let .rejected(rejection, from):
            logger.warning("rejected an update from \(from.short): \(rejection.description)")
            await execute(instance.onInvalidMessage(from: from, reason: rejection.reason, now: now))
        }
        await refreshMetrics()
    }

    // MARK: Directives

    private func execute(_ directives: [GossipDirective]) async {
        for directive in directives {
            switch directive {
            case let .send(peer, message):
                let update = sealed(message)
                let shell = self.shell
                Task { try? await shell.send(update, to: peer) }
            case let .scheduleTick(delay):
                tickTask?.cancel()
                tickTask = Task { [weak self] in
                    try? await Task.sleep(for: delay)
                    guard !Task.isCancelled, let self else { return }
                    await self.tick()
                }
            case let .persist(snapshot):
                do {
                    var batch = store.batch()
                    batch.put(GossipStateRecord(newestVersionByAuthor: snapshot.newestVersionByAuthor, scores: snapshot.scores,
                                                lastLocalStep: snapshot.lastLocalStep),
                              in: NodeKeyspaces.nodeState, id: "gossip")
                    try store.commit(batch, sync: false)
                    try persistModel(sync: false)
                } catch {
                    storageFailed("could not persist the gossip state", error)
                }
                await persistPeerRecords()
            case let .disconnect(peer, until):
                logger.warning("peer \(peer.short) scored below the threshold: disconnected until \(until.iso8601)")
                await shell.disconnect(peer: peer, reason: .coolDown, coolDown: until.since(clock.now()))
            case .bench:
                // The core refuses the peer's states itself and the session stays up: nothing to close, and the
                // core's `.log` beside this directive already says who, why and until when.
                break
            case .roundCompleted:
                break
            case let .log(event):
                switch event.level {
                case .debug: logger.debug("\(event.message)")
                case .info: logger.info("\(event.message)")
                case .warning: logger.warning("\(event.message)")
                }
            }
        }
    }

    private func tick() async {
        guard !stopped else { return }
        var generator = rng
        let directives = instance.onTick(now: clock.now(), rng: &generator)
        rng = generator
        await execute(directives)
        await refreshMetrics()
    }

    /// Signs the current state once per version and reuses it for every neighbour.
    private func sealed(_ message: GossipMessage) -> SealedModelUpdate {
        if let cached = sealedCache, cached.version == message.version { return cached.update }
        let metadata = ModelUpdateMetadata(
            version: message.version, timestamp: clock.now(), sampleCount: UInt64(message.sampleCount),
            round: message.round, degree: UInt32(clamping: message.degree),
            metrics: ValidationMetrics(accuracy: lastValidation?.accuracy ?? 0, loss: lastValidation?.loss ?? 0),
            architecture: layout.architecture, parents: Array(parentDigests.values.prefix(16)), classes: layout.classes,
            neighborhoodSamples: UInt64(max(message.neighborhoodSamples, 0)), classCounts: reportsClassCounts ? ownClassCounts.map { UInt64($0) } : [])
        let update = SealedModelUpdate(metadata: metadata, parameters: message.parameters, author: identity.signing)
        sealedCache = (message.version, update)
        return update
    }
}

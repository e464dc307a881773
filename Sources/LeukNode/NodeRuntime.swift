import LeukCore
import LeukCrypto
import LeukData
public import LeukTraining
public import LeukGossip
public import LeukModel
public import LeukMetrics
import LeukNet
public import LeukStore
public import Logging
import Foundation

/// How `leuknode start` runs a node.
public struct StartOptions: Sendable {
    /// The node's own images; without them the node only averages and diagnoses.
    public var dataset: String?
    public var labelMap: String?
    public var architecture = "leuknet-s"
    public var threads = 1
    /// Every node of a federation must use the same value: they start from identical parameters.
    public var initSeed: UInt64 = 0
    public var dataSeed: UInt64 = 1
    public var stepsPerRound = FederationDefaults.stepsPerRound
    /// Averaging steps inside a round: the round's steps are cut into this many stretches, and the node
    /// folds each into its model and publishes it (`FederationDefaults.exchangesPerRound`).
    public var exchangesPerRound = FederationDefaults.exchangesPerRound
    /// Whose class counts weight the local loss (`FederationDefaults.classBalance`): with `.federation` the
    /// node adds up its peers' reported counts to its own, once per stretch.
    public var classBalance = FederationDefaults.classBalance
    /// Whether this node's signed updates carry its per-class image counts (`--no-share-class-counts` turns it off).
    public var sharesClassCounts = true
    /// Images per step; nil = one local epoch per round (`FederatedTrainingConfiguration.batchSize`).
    public var batchSize: Int? = FederationDefaults.batchSize
    public var learningRate: Float = FederationDefaults.learningRate
    /// The local optimiser (its state survives rounds); the same on every node of a federation is wise.
    public var optimizer: OptimizerKind = FederationDefaults.optimizer
    /// Where the optimiser steps (`FederatedTrainingConfiguration.optimizerPlacement`); nil: the optimiser's own
    /// default (`FederationDefaults.optimizerPlacement(for:)`).
    public var optimizerPlacement: OptimizerPlacement?
    /// The logit-adjusted local loss (see `FederatedTrainingConfiguration.logitAdjustment`).
    public var logitAdjustment: Float = FederationDefaults.logitAdjustment
    public var proximalStrength: Float = FederationDefaults.proximalStrength
    /// Local training rounds before the node stops training (it keeps averaging); nil = no limit.
    public var rounds: Int?
    /// Pause between local training rounds, so gossip has time to mix.
    public var roundPause: Duration = .milliseconds(200)
    public var gossipInterval: Duration = .seconds(1)
    /// How the node mixes its neighbours' states (`--aggregation`, `--trim`; network/PROTOCOL.md).
    public var aggregation = AggregationRule.defaultRule
    public var trim = 1
    public var inputSize = 64
    public var validationFraction = 0.15
    /// The site's floors for serving a merged model to doctors (`--min-sensitivity`, `--min-specificity`,
    /// `--max-drop`, `--min-validation-images`, `--partial-validation`, `--without-validation`).
    public var floors = PromotionFloors()
    /// A model file to start from instead of the `initSeed` initialisation (`--init-from`), when the store
    /// holds no model yet (`InitialModel`, `NodeRuntime.initialModel`).
    public var initFrom: String?

    public init() {}
}

/// A running node: the local trainer (an actor on its own thread), the gossip shell (`FederationService`),
/// the store, and the model the clinic diagnoses with.
public final class NodeRuntime: Sendable {
    public let directory: NodeDirectory
    public let config: NodeConfig
    public let store: RecordStore
    public let federation: FederationService
    public let diagnoser: ModelDiagnoser
    /// The model doctors diagnose with, and the gate's decisions.
    public let serving: ModelServing
    public let options: StartOptions
    let identity: NodeIdentity
    /// Nil when the node has no training images: it only averages and diagnoses.
    let trainer: Trainer?
    let logger: Logger
    private let stopRequested = Flag()
    /// What became of `StartOptions.initFrom`: nil without one.
    public let initialModel: InitialModelUse?

    /// Whether the node started from its `--init-from` file or kept the model in its store.
    public enum InitialModelUse: Sendable {
        case started(InitialModel)
        /// The store's model (this version and parameter digest) wins; the file was not read.
        case ignored(path: String, storedVersion: UInt64, storedSHA256: String)
    }

    /// Loads the node's identity, store and dataset. Blocking (disk, image decoding): call it before
    /// serving, not from an event loop.
    public static func open(directory: NodeDirectory, passphrase: String?, options: StartOptions, logger: Logger,
                            onRound: @escaping @Sendable (FederationService.RoundReport) -> Void) async throws -> NodeRuntime {
        let config = try directory.loadConfig()
        let identity = try directory.loadIdentity(passphrase: passphrase)
        let store = try directory.openStore(identity: identity)
        do {
            return try await NodeRuntime(directory: directory, config: config, identity: identity, store: store, options: options,
                                         logger: logger, onRound: onRound)
        } catch {
            store.database.close()
            throw error
        }
    }

    private init(directory: NodeDirectory, config: NodeConfig, identity: NodeIdentity, store: RecordStore, options: StartOptions,
                 logger: Logger, onRound: @escaping @Sendable (FederationService.RoundReport) -> Void) async throws {
        self.directory = directory
        self.config = config
        self.identity = identity
        self.store = store
        self.options = options
        self.logger = logger

        var training = FederatedTrainingConfiguration(
            architecture: options.architecture, initSeed: options.initSeed, dataSeed: options.dataSeed, threads: options.threads,
            batchSize: options.batchSize, stepsPerRound: options.stepsPerRound, learningRate: options.learningRate, optimizer: options.optimizer,
            logitAdjustment: options.logitAdjustment, proximalStrength: options.proximalStrength)
        training.classBalancing = options.classBalance != .off
        training.optimizerPlacement = options.optimizerPlacement ?? FederationDefaults.optimizerPlacement(for: options.optimizer)
        let normalization = training.normalization
        // The federation's classes, not the site's: a site holding one class (or none) builds the
        // same model as everyone else.
        let classes = config.classes
        // Checked before the dataset is decoded (minutes on a big set), so a wrong file fails at once.
        let initial = try Self.initialModel(options: options, classes: classes, store: store, normalization: normalization)
        initialModel = initial
        var initialParameters: [Float]
        var sampleCount = 0
        var classCounts: [Int] = []
        var made: Trainer?
        if let datasetPath = options.dataset {
            let labelMap = try options.labelMap.map { try LabelMap(parsing: $0) }
            // Identical files share a group, so the train/validation split cannot separate two copies.
            let scanned = try DatasetScanner.scan(directory: datasetPath, labelMap: labelMap).groupingExactDuplicates()
            let dataset = try FederationClasses.relabel(scanned, to: classes)
            for problem in dataset.problems { logger.warning("skipping \(problem)") }
            let split = Splitter.split(dataset, fractions: (1 - options.validationFraction, options.validationFraction, 0),
                                       seed: options.dataSeed)
            if split.train.isEmpty {
                logger.warning("dataset \(datasetPath) has no training image; this node averages and diagnoses but does not train")
            } else {
                var counts = [Int](repeating: 0, count: classes.count)
                for sample in split.train { counts[sample.label] += 1 }
                var configuration = training
                // Empty: the node's own counts until its peers report theirs (`useFederationClassCounts`).
                configuration.federationClassCounts = options.classBalance.usesFederationCounts(own: counts) ? [] : nil
                let trainer = try await Trainer.load(train: split.train, validation: split.validation, classes: classes,
                                                     inputSize: options.inputSize, configuration: configuration)
                made = trainer
                sampleCount = await trainer.trainingSampleCount
                classCounts = await trainer.classCounts
                let held = Set(dataset.samples.map(\.label)).sorted().map { classes[$0] }
                logger.info("dataset \(datasetPath): \(sampleCount) training images of \(held.joined(separator: ",")); federation classes \(classes.joined(separator: ","))")
            }
        } else {
            logger.info("no --dataset: this node averages and diagnoses but does not train")
        }
        trainer = made
        if let made {
            initialParameters = await made.initialParameters
        } else {
            let model = try Model(architecture: Architecture(named: options.architecture), classes: classes,
                                  inputSize: options.inputSize, mean: normalization.mean, std: normalization.std,
                                  seed: options.initSeed, threads: options.threads)
            initialParameters = model.parameters
        }
        if case let .started(model)? = initial { initialParameters = model.parameters }

        let layout = FederationService.ModelLayout(architecture: options.architecture, classes: classes, inputSize: options.inputSize,
                                                   mean: normalization.mean, std: normalization.std)
        let (host, port) = try Self.listenAddress(config.listen)
        var network = NetworkConfiguration(identity: identity, host: host, port: port)
        // Refuse, with a reason, any signed update of another model: its parameters mean something else.
        network.updateLimits.expectedArchitecture = options.architecture
        network.updateLimits.expectedClasses = classes
        network.minimumUpdateInterval = options.gossipInterval / 4
        var gossip = GossipConfiguration(gossipInterval: options.gossipInterval)
        gossip.clipping = options.aggregation.clipping(trim: options.trim)
        // A training node waits for its own first step before mixing (the step bounds the clipping radius).
        gossip.mixesBeforeFirstLocalStep = made == nil
        federation = try FederationService(identity: identity, config: config, layout: layout, store: store,
                                           initialParameters: initialParameters, sampleCount: max(sampleCount, 1),
                                           classCounts: made == nil ? [] : classCounts,
                                           reportsClassCounts: options.sharesClassCounts, gossip: gossip, network: network, logger: logger, onRound: onRound)
        serving = try ModelServing(store: store, gate: PromotionGate(floors: options.floors))
        diagnoser = ModelDiagnoser(serving: serving, threads: 1)
        if let made, let served = await serving.served() {
            // The split may differ from the one the served model was judged on (a changed dataset).
            try await serving.refreshServedFigures(await made.validationFigures(parameters: served.parameters), version: served.version)
        }
    }

    /// Reads and checks `options.initFrom` unless the store already holds a model this node resumes.
    ///
    /// The stored model wins because it is this node's own averaged model: it already holds what the
    /// federation taught it plus its own training since, and the file (however it was chosen at the first
    /// start) is older. Going back to the file on every restart would throw that away, and a node restarted
    /// by a service manager with the flag still in its unit would silently rewind. The file is not even read
    /// then, so a restart never depends on it still being there.
    static func initialModel(options: StartOptions, classes: [String], store: RecordStore,
                             normalization: Normalization) throws -> InitialModelUse? {
        guard let path = options.initFrom else { return nil }
        if let saved = try ModelRepository(store: store).current(), saved.architecture == options.architecture,
           saved.classes == classes, saved.inputSize == options.inputSize {
            return .ignored(path: path, storedVersion: saved.version, storedSHA256: saved.sha256)
        }
        return .started(try InitialModel.load(path: path, architecture: options.architecture, classes: classes,
                                              inputSize: options.inputSize, normalization: normalization))
    }

    static func listenAddress(_ text: String) throws -> (String, Int) {
        let parsed = try Contact.parseAddress(text)
        return (parsed.host, parsed.port)
    }

    /// Starts the network and gossip; returns the peer port.
    public func startFederation() async throws -> Int { try await federation.start() }

    /// Trains round after round until `stop()` or the round limit; gossip runs alongside on its own timer.
    /// Before each round the merged model goes before the promotion gate; without training (no
    /// dataset, or the round limit reached) the gate still judges each new merged model.
    public func trainUntilStopped() async {
        guard let trainer else {
            await federation.setTrainingState("none")
            await reviewUntilStopped()
            return
        }
        var round = 0
        while !stopRequested.isSet {
            if let limit = options.rounds, round >= limit {
                logger.info("finished \(limit) local training rounds; still averaging with peers")
                await federation.setTrainingState("finished")
                await reviewUntilStopped()
                return
            }
            await reviewMergedModel()
            if round % GossipInstance.peerEvaluationEvery == 0 { await evaluatePeers() }
            // The round's local epoch in stretches: after each the node folds its change into the model and
            // publishes it, so its neighbours' progress enters its next stretch (docs/results.md, "Averaging
            // inside the round"); the validation split is read once, at the round's end.
            let stretches = max(1, min(options.exchangesPerRound, options.stepsPerRound))
            var loss = 0.0, images = 0
            // Stretches shorter than the receivers' rate limit (a quarter of a gossip interval) are joined: the node
            // trains on from its own result and folds the joined change in once, so it never publishes faster than
            // its peers verify (small images, few steps) and the exchanges stay an upper bound.
            let minimumPublishInterval = options.gossipInterval / 4
            var pending: (start: [Float], trained: [Float], since: ContinuousClock.Instant, images: Int)?
            for stretch in 0..<stretches {
                if await trainer.usesFederationCounts, case let counts = await federation.neighbourClassCounts(), !counts.isEmpty {
                    do {
                        if try await trainer.useNeighbourClassCounts(counts, balance: options.classBalance) {
                            // A notice: it happens when a peer joins or leaves, and it changes what this site trains.
                            let weights = await trainer.classWeights ?? []
                            logger.notice("class weights from the neighbourhood's counts (\(counts.count) peers reporting): \(zip(config.classes, weights).map { "\($0) \(String(format: "%.2f", $1))" }.joined(separator: ", "))")
                        }
                    } catch {
                        logger.warning("ignoring the neighbourhood's class counts: \(error)")
                    }
                }
                let steps = (options.stepsPerRound * (stretch + 1)) / stretches - (options.stepsPerRound * stretch) / stretches
                let from: [Float]
                if let pending { from = pending.trained } else { from = await federation.currentParameters() }
                let start = pending?.start ?? from
                let began = pending?.since ?? ContinuousClock.now
                let outcome = await trainer.trainStretch(startingFrom: from, steps: steps)
                if stopRequested.isSet { return }
                let diverged = !outcome.meanLoss.isFinite
                if diverged {
                    // The trainer threw the stretch away (it ended in NaN or infinity) with its optimiser state, and
                    // handed back the start: nothing of it reaches the model or the peers.
                    logger.warning("a training stretch diverged and was discarded; training goes on from the current model")
                } else {
                    loss += outcome.meanLoss * Double(outcome.images)
                    images += outcome.images
                }
                if stretch < stretches - 1 {
                    // A diverged stretch handed back where it began: what is pending stays pending.
                    guard !diverged else { continue }
                    let joined = (pending?.images ?? 0) + outcome.images
                    if ContinuousClock.now - began < minimumPublishInterval {
                        pending = (start, outcome.parameters, began, joined)
                    } else {
                        await federation.applyLocalStretch(start: start, trained: outcome.parameters, images: joined)
                        pending = nil
                    }
                } else {
                    let validation = await trainer.validate(parameters: outcome.parameters)
                    await federation.applyLocalTraining(start: start, trained: outcome.parameters, loss: images > 0 ? loss / Double(images) : 0,
                                                        images: (pending?.images ?? 0) + (diverged ? 0 : outcome.images),
                                                        validationAccuracy: validation.accuracy,
                                                        validationLoss: validation.loss)
                }
            }
            round += 1
            try? await Task.sleep(for: options.roundPause)
        }
    }

    /// Judges the current merged model, unless it was judged already. The figures are measured on the
    /// trainer's thread, so a round and an evaluation never run at once.
    public func reviewMergedModel() async {
        guard !stopRequested.isSet else { return }
        let candidate = await federation.currentSnapshot()
        guard await serving.lastJudged != candidate.version, await serving.servedVersion() != candidate.version else { return }
        // The same parameters under a newer version (a quiet tick) are not a new candidate.
        let digest = candidate.sha256
        guard await serving.lastJudgedSHA256 != digest, await serving.servedSHA256() != digest else { return }
        let figures = await trainer?.validationFigures(parameters: candidate.parameters)
        do {
            let decision = try await serving.review(candidate: candidate, figures: figures)
            // A promotion is news; a hold or an unchecked follow repeats every round (model history has them all).
            let line = "model \(candidate.version) \(decision.action.rawValue)\(decision.reasons.isEmpty ? "" : ": " + decision.reasons.joined(separator: "; "))"
            if decision.action == .promoted { logger.notice("\(line)") } else { logger.info("\(line)") }
        } catch {
            // During shutdown the store closes under a review in flight: that decision is moot, not a fault.
            guard !stopRequested.isSet else { return }
            logger.error("could not record the promotion decision for model \(candidate.version): \(error)")
        }
    }

    /// Evaluates every connected peer's latest model, and the node's own, on the validation split (on
    /// the trainer's thread) and hands the losses to the gossip core's score. The reference is the
    /// upper median of the own loss and the peers' (so one skewed honest peer does not set it), and
    /// only a split holding both classes takes part: on a one-class site every model trained on the
    /// other class looks poisoned.
    func evaluatePeers() async {
        guard let trainer else { return }
        let minimum = GossipInstance.peerEvaluationMinimumPerClass
        guard let own = await trainer.validationFigures(parameters: await federation.currentParameters()),
              own.positives >= minimum, own.negatives >= minimum, own.loss.isFinite else { return }
        var losses: [(peer: NodeID, loss: Double)] = []
        for (peer, parameters) in await federation.peerStatesToEvaluate() {
            guard let figures = await trainer.validationFigures(parameters: parameters) else { continue }
            losses.append((peer, figures.loss))
        }
        let reference = GossipInstance.referenceLoss(own: own.loss, peers: losses.map(\.loss))
        for (peer, loss) in losses { await federation.recordPeerEvaluation(peer, loss: loss, referenceLoss: reference) }
    }

    /// Judges new merged models while the node only averages, every two gossip intervals (at least
    /// half a second): often enough that a passing model is served within a round of arriving.
    private func reviewUntilStopped() async {
        let pause = max(options.gossipInterval * 2, .milliseconds(500))
        while !stopRequested.isSet {
            await reviewMergedModel()
            try? await Task.sleep(for: pause)
        }
    }

    /// The figures of a kept model on this node's validation split (nil without one).
    func figures(of model: ModelSnapshot) async -> ValidationFigures? {
        await trainer?.validationFigures(parameters: model.parameters)
    }

    /// Stops training, tells peers goodbye, stores the model (synced) and closes the database.
    public func stop() async {
        stopRequested.set()
        await federation.shutdown()
        store.database.close()
    }
}

/// A thread-safe boolean, for stop requests.
final class Flag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

import Synchronization

import ArgumentParser
import Foundation
import LeukCore
import LeukExperiment
import LeukMetrics
import LeukGossip
import LeukModel
import LeukReport
import LeukTraining

/// `leuknode simulate`: N nodes in one process with the real training engine and the real gossip
/// core over a simulated network, compared with local-only and centralized training.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a federation of N nodes in one process and compare it with local-only and centralized training.",
        discussion: """
        Holds out a common test set (20%, stratified), deals the rest to the nodes (Dirichlet label skew, \
        one class per node, or IID), trains every node with the real engine between gossip rounds, and trains \
        the baselines with the same number of SGD steps. Progress goes to stderr, one line per round. \
        Deterministic for a seed (apart from timings). `--json` prints the result object that \
        `leuknode report --from` reads.
        """)

    @Option(help: "Number of nodes.")
    var nodes: Int = 3

    @Option(help: "Training rounds (each: local steps, then gossip averaging).")
    var rounds: Int = 10

    @Option(help: ArgumentHelp("A dataset folder (class sub-folders) instead of synthetic cells.", valueName: "DIR"))
    var dataset: String?

    @Option(name: .customLong("label-map"), help: ArgumentHelp("Folder=class pairs for --dataset, e.g. Benign=hem,Early=all,Pre=all,Pro=all.", valueName: "MAP"))
    var labelMap: String?

    @Flag(help: "Use synthetic cells, one stain per node (the default without --dataset).")
    var synthetic = false

    @Option(help: ArgumentHelp("Dirichlet concentration of each node's class mix (smaller = more skewed).", valueName: "ALPHA"))
    var dirichlet: Double?

    @Flag(name: .customLong("one-class-per-node"), help: "Give each node images of one class only (worst case).")
    var oneClassPerNode = false

    @Option(help: ArgumentHelp("ring, full or random-K (default: full up to 8 nodes, else random-4).", valueName: "TOPOLOGY"))
    var topology: String?

    @Option(help: "Seed for data, initialisation, partition and network.")
    var seed: UInt64 = 0

    @Option(name: .customLong("steps-per-round"), help: "Local SGD steps per node per round (each round is one epoch of the node's images unless --batch is given).")
    var stepsPerRound: Int = FederationDefaults.stepsPerRound

    @Option(help: "Training threads (OpenBLAS).")
    var threads: Int = 1

    @Option(help: "Image side in pixels.")
    var size: Int = 64

    @Option(help: ArgumentHelp("A fixed mini-batch size for every node and both baselines (default: each node's round is one epoch of its images, batch = images / --steps-per-round from 4 to 256, and the centralized reference trains one pooled epoch a round in batches of 32).", valueName: "N"))
    var batch: Int?

    @Option(name: .customLong("learning-rate"), help: ArgumentHelp(
        "Peak learning rate, cosine-annealed over the rounds (default: the optimiser's, 0.01 for sgd and 0.003 for adam).", valueName: "RATE"))
    var learningRate: Float?

    @Option(help: "Network architecture (leuknet-s, leuknet-m).")
    var arch: String = "leuknet-s"

    @Option(help: ArgumentHelp("Local optimiser of every node and both baselines (its state survives rounds).", valueName: "sgd|adam"))
    var optimizer: String = FederationDefaults.optimizer.name

    @Option(name: .customLong("adam-epsilon"), help: ArgumentHelp(
        "Adam's epsilon (added to the root of the second moment; default 1e-8, PyTorch's), for experiments.", valueName: "EPS"))
    var adamEpsilon: Float?

    @Option(name: .customLong("gossip-per-round"), help: "Gossip averaging exchanges between two training rounds.")
    var gossipPerRound: Int = FederationDefaults.gossipPerRound

    @OptionGroup var inRound: InRoundOptions

    @Option(name: .customLong("logit-adjustment"), help: ArgumentHelp(
        "Strength tau of the logit-adjusted local loss (each node adds tau*log of its own class priors to the logits while training; 0 = the class-balanced loss of --class-balance).",
        valueName: "TAU"))
    var logitAdjustment: Float = FederationDefaults.logitAdjustment

    @Option(help: ArgumentHelp("FedProx proximal strength mu (0 = off).", valueName: "MU"))
    var proximal: Float = FederationDefaults.proximalStrength

    @Option(name: .customLong("drift-correction"), help: ArgumentHelp(
        "Strength beta (0-1) of the local drift correction (SCAFFOLD's control variates from the mean model's and the node's own last displacement; 0 = off).",
        valueName: "BETA"))
    var driftCorrection: Float = FederationDefaults.driftCorrection

    @Option(name: .customLong("global-lr"), help: ArgumentHelp(
        "The federation's step size on the averaged model's displacement between rounds (FedAvgM; 1 = plain averaging).", valueName: "ETA"))
    var globalLearningRate: Float = FederationDefaults.globalLearningRate

    @Option(name: .customLong("global-momentum"), help: ArgumentHelp(
        "Momentum of the federation's step on the averaged model (FedAvgM; 0 = off).", valueName: "BETA"))
    var globalMomentum: Float = FederationDefaults.globalMomentum

    @Flag(name: .customLong("no-augment"), help: "Train without random flips, rotations and colour jitter (an ablation).")
    var noAugment = false

    @Option(name: .customLong("restricted-softmax"), help: ArgumentHelp(
        "FedRS: multiply the logits of the classes a node holds no image of by this factor in its local loss (1 = off).", valueName: "ALPHA"))
    var restrictedSoftmax: Float = 1

    @Option(name: .customLong("missing-class-optimizer"), help: ArgumentHelp(
        "An experiment: the optimiser of a node whose images miss a class, at the same rate (sgd or adam; default: --optimizer).", valueName: "NAME"))
    var missingClassOptimizer: String?

    @Option(name: .customLong("optimizer-placement"), help: ArgumentHelp(
        "Where --optimizer steps: 'local' (each node's local steps) or 'federation' (on the averaged model's move between exchanges; local steps are then plain gradient steps). Default: local for sgd, federation for adam.",
        valueName: "WHERE"))
    var optimizerPlacement: String?

    @Flag(name: .customLong("no-class-weighted-step"), help: ArgumentHelp(
        "Under Adam, let the class weights scale the gradient only, which Adam's normalisation cancels (an ablation)."))
    var noClassWeightedStep = false

    @Flag(name: .customLong("no-baselines"), help: "Skip the local-only and centralized baselines (attack and ablation sweeps).")
    var noBaselines = false

    @Flag(help: "Run each honest node's promotion gate: 15% of its images become its validation split, and it serves a merged model only when it passes the floors there (as `leuknode start` does); rounds then report the served models' accuracy.")
    var gate = false

    @OptionGroup(title: "Promotion gate floors (with --gate)") var floors: GateOptions

    @Option(help: ArgumentHelp("Attacking nodes among --nodes (chosen by the seed; the JSON names them).", valueName: "K"))
    var byzantine = 0

    @Option(help: ArgumentHelp("What the attackers publish: \(ByzantineAttack.allCases.map(\.rawValue).joined(separator: ", ")).",
                               valueName: "ATTACK"))
    var attack = ByzantineAttack.signFlip.rawValue

    @OptionGroup var mixing: AggregationOptions

    @Option(name: .customLong("test-dataset"), help: ArgumentHelp(
        "A fixed external test set (class sub-folders, same --label-map); all of --dataset is then dealt to the nodes.", valueName: "DIR"))
    var testDataset: String?

    @Option(name: .customLong("images-per-node"), help: "Synthetic training images per node.")
    var imagesPerNode: Int = 200

    @Option(name: .customLong("test-images"), help: "Synthetic test images (spread over the sites).")
    var testImages: Int = 400

    @Flag(help: "Print the result as one JSON object on stdout.")
    var json = false

    @Option(name: .customLong("clip-quantile"),
            help: ArgumentHelp("With --aggregation clipped: the quantile of the neighbours' distances that sets the clipping radius, for experiments (default 0.5, the lower median; network/PROTOCOL.md).",
                               valueName: "Q"))
    var clipQuantile: Double?

    @Option(name: .customLong("clip-step-floor"),
            help: ArgumentHelp("With --aggregation clipped: the clipping radius is never below this multiple of the node's own last training step, for experiments (default 1).",
                               valueName: "F"))
    var clipStepFloor: Double?

    @Option(name: .customLong("clip-missing-class-factor"),
            help: ArgumentHelp("With --aggregation clipped: a neighbour whose class counts miss a class is clipped to this multiple of the radius, for experiments (default 1; network/PROTOCOL.md).",
                               valueName: "K"))
    var clipMissingClassFactor: Double?

    @Option(name: .customLong("outlier-factor"),
            help: ArgumentHelp("With --aggregation clipped: a neighbour farther than this multiple of the honest scale counts an outlier, for experiments (default 4; 'inf' takes no relative distance as evidence; network/PROTOCOL.md, \"Peer scoring\").",
                               valueName: "F"))
    var outlierFactor: Double?

    @Option(name: .customLong("recent-state-memory"),
            help: ArgumentHelp("Under a robust rule: distinct recent states remembered per peer to refuse an old one sent again (repeated_state), for experiments (default 256; 0 turns the check off; network/PROTOCOL.md, \"Replayed old states\").",
                               valueName: "N"))
    var recentStateMemory: Int?

    @Flag(name: .customLong("judge-benched"),
          help: "Under a robust rule: keep judging a peer benched on model evidence at every tick (its states kept, never mixed), so the bench lasts while they stay far; an experiment (network/PROTOCOL.md, \"Peer scoring\").")
    var judgeBenched = false

    @Option(help: ArgumentHelp("Also write the JSON result to this file.", valueName: "RESULT.json"))
    var out: String?

    @Flag(help: "No progress lines on stderr.")
    var quiet = false

    func validate() throws {
        try floors.check()
        guard nodes >= 2 else { throw ValidationError("--nodes must be at least 2") }
        if let q = clipQuantile {
            guard q >= 0, q <= 1 else { throw ValidationError("--clip-quantile must be between 0 and 1, got \(q)") }
            guard mixing.rule == .clipped else { throw ValidationError("--clip-quantile needs --aggregation clipped") }
        }
        if let f = clipStepFloor {
            guard f >= 0, f.isFinite else { throw ValidationError("--clip-step-floor must be a number of at least 0, got \(f)") }
            guard mixing.rule == .clipped else { throw ValidationError("--clip-step-floor needs --aggregation clipped") }
        }
        if let k = clipMissingClassFactor {
            guard k >= 1, k.isFinite else { throw ValidationError("--clip-missing-class-factor must be a number of at least 1, got \(k)") }
            guard mixing.rule == .clipped else { throw ValidationError("--clip-missing-class-factor needs --aggregation clipped") }
        }
        if let f = outlierFactor {
            guard f >= 1, !f.isNaN else { throw ValidationError("--outlier-factor must be a number of at least 1 (or inf), got \(f)") }
            guard mixing.rule == .clipped else { throw ValidationError("--outlier-factor needs --aggregation clipped") }
        }
        if let n = recentStateMemory {
            guard n >= 0 else { throw ValidationError("--recent-state-memory must be 0 or more, got \(n)") }
            guard mixing.rule != .mean else { throw ValidationError("--recent-state-memory needs a robust rule (--aggregation clipped or trimmed-mean)") }
        }
        if judgeBenched, mixing.rule == .mean {
            throw ValidationError("--judge-benched needs a robust rule (--aggregation clipped or trimmed-mean)")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard stepsPerRound >= 1, threads >= 1, batch.map({ $0 >= 1 }) ?? true, gossipPerRound >= 1 else {
            throw ValidationError("--steps-per-round, --threads, --batch and --gossip-per-round must be at least 1")
        }
        try inRound.validate(stepsPerRound: stepsPerRound)
        guard size >= 8 else { throw ValidationError("--size must be at least 8") }
        if let learningRate { guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be positive") } }
        if let adamEpsilon {
            guard adamEpsilon > 0, adamEpsilon.isFinite else { throw ValidationError("--adam-epsilon must be a positive number, got \(adamEpsilon)") }
            guard optimizer == "adam" else { throw ValidationError("--adam-epsilon needs --optimizer adam") }
        }
        if let missingClassOptimizer, OptimizerKind(named: missingClassOptimizer) == nil {
            throw ValidationError("--missing-class-optimizer must be 'sgd' or 'adam', got '\(missingClassOptimizer)'")
        }
        let placement = try OptimizerPlacement.parsing(optimizerPlacement, optimizer: optimizer)
        if placement == .federation, globalLearningRate != 1 || globalMomentum != 0 || driftCorrection != 0 {
            throw ValidationError("--optimizer-placement federation already steps on the averaged model: drop --global-lr, --global-momentum and --drift-correction")
        }
        if dataset != nil && synthetic { throw ValidationError("choose either --dataset or --synthetic") }
        if labelMap != nil && dataset == nil { throw ValidationError("--label-map needs --dataset") }
        if oneClassPerNode && dirichlet != nil { throw ValidationError("choose either --dirichlet or --one-class-per-node") }
        if let dirichlet, !(dirichlet > 0 && dirichlet.isFinite) { throw ValidationError("--dirichlet must be a positive number") }
        if let topology, GossipTopology(parsing: topology) == nil {
            throw ValidationError("--topology must be ring, full or random-K, got '\(topology)'")
        }
        guard logitAdjustment >= 0, logitAdjustment.isFinite, proximal >= 0, proximal.isFinite else {
            throw ValidationError("--logit-adjustment and --proximal must be non-negative numbers")
        }
        if testDataset != nil && dataset == nil { throw ValidationError("--test-dataset needs --dataset") }
        guard globalLearningRate > 0, globalLearningRate <= 10, globalMomentum >= 0, globalMomentum < 1 else {
            throw ValidationError("--global-lr must be in (0, 10] and --global-momentum in [0, 1)")
        }
        guard driftCorrection >= 0, driftCorrection <= 1 else { throw ValidationError("--drift-correction must be between 0 and 1") }
        guard OptimizerKind(named: optimizer) != nil else { throw ValidationError("--optimizer must be 'sgd' or 'adam', got '\(optimizer)'") }
        guard restrictedSoftmax > 0, restrictedSoftmax <= 1 else { throw ValidationError("--restricted-softmax must be in (0, 1], got \(restrictedSoftmax)") }
        guard mixing.trim < nodes else { throw ValidationError("--trim must be below --nodes (\(nodes))") }
        guard byzantine >= 0, byzantine < nodes else { throw ValidationError("--byzantine must be from 0 to \(nodes - 1): at least one node is honest") }
        guard ByzantineAttack(rawValue: attack) != nil else {
            throw ValidationError("--attack must be one of \(ByzantineAttack.allCases.map(\.rawValue).joined(separator: ", ")), got '\(attack)'")
        }
        guard imagesPerNode >= 2, testImages >= 2 else { throw ValidationError("--images-per-node and --test-images must be at least 2") }
    }

    func run() throws {
        let partition: PartitionScheme = oneClassPerNode ? .oneClassPerNode : dirichlet.map { .dirichlet(alpha: $0) } ?? .iid
        let source: SimulationDataSource = dataset.map { .dataset(directory: $0, labelMap: labelMap) }
            ?? .synthetic(imagesPerNode: imagesPerNode, testImages: testImages, difficulty: 0.5)
        var kind = OptimizerKind(named: optimizer) ?? FederationDefaults.optimizer
        if let adamEpsilon, case let .adam(beta1, beta2, _, decay) = kind { kind = .adam(beta1: beta1, beta2: beta2, epsilon: adamEpsilon, weightDecay: decay) }
        var request = SimulationRequest(
            nodes: nodes, rounds: rounds, source: source, partition: partition,
            topology: topology.flatMap(GossipTopology.init(parsing:)) ?? SimulationRequest.defaultTopology(nodes: nodes),
            seed: seed, stepsPerRound: stepsPerRound, threads: threads, size: size, batchSize: batch,
            learningRate: learningRate ?? FederationDefaults.learningRate(for: kind), architecture: arch, gossipStepsPerRound: gossipPerRound,
            classBalance: inRound.balance, logitAdjustment: logitAdjustment,
            proximalStrength: proximal, testDataset: testDataset,
            optimizer: kind, driftCorrection: driftCorrection,
            globalLearningRate: globalLearningRate, globalMomentum: globalMomentum, augment: !noAugment)
        request.baselines = !noBaselines
        if gate { request.gate = floors.floors }
        request.restrictedSoftmax = restrictedSoftmax
        request.classWeightedStep = !noClassWeightedStep
        request.missingClassOptimizer = missingClassOptimizer.flatMap(OptimizerKind.init(named:))
        request.optimizerPlacement = optimizerPlacement.flatMap(OptimizerPlacement.init(rawValue:))
        request.exchangesPerRound = inRound.exchanges(stepsPerRound: stepsPerRound)
        request.byzantine = byzantine
        request.attack = ByzantineAttack(rawValue: attack) ?? .signFlip
        request.aggregation = mixing.rule
        request.trim = mixing.trim
        request.clipQuantile = clipQuantile
        request.clipStepFloor = clipStepFloor
        request.clipMissingClassFactor = clipMissingClassFactor
        request.outlierFactor = outlierFactor
        request.recentStateMemory = recentStateMemory
        request.judgeBenched = judgeBenched
        let quiet = self.quiet
        let result: SimulationResult
        do {
            result = try SimulationRunner.run(request) { line in if !quiet { printError(line) } }
        } catch let error as any LeukUserFacingError {
            CLIOutput.failure(error)
            throw ExitCode.failure
        }
        let data = try result.jsonData()
        if let out {
            do { try data.write(to: URL(fileURLWithPath: out)) } catch {
                CLIOutput.failure("cannot write \(out): \(error.localizedDescription)", hint: "check that the folder exists and is writable")
                throw ExitCode.failure
            }
        }
        if json {
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
        } else {
            print(Self.table(result))
        }
    }

    /// A readable comparison of the three regimes.
    static func table(_ result: SimulationResult) -> String {
        func cell(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        func name(_ text: String) -> String { text.padding(toLength: 22, withPad: " ", startingAt: 0) }
        func row(_ label: String, _ m: EvaluationMetrics) -> String {
            let values = [m.accuracy, m.specificity, m.recall, m.precision, m.f1].map { String(format: "%.3f", $0) }
                + [m.auc.map { String(format: "%.3f", $0) } ?? "-"]
            return name(label) + values.map { cell($0, 9) }.joined()
        }
        var lines = [name("model") + ["accuracy", "specif.", "recall", "precis.", "F1", "AUC"].map { cell($0, 9) }.joined()]
        if result.config.baselines == false {
            lines.append(name("centralized") + "  (skipped: --no-baselines)")
            lines.append(name("local-only (mean)") + "  (skipped: --no-baselines)")
        } else {
            lines.append(row("centralized", result.centralized))
            lines.append(row("local-only (mean)", result.localOnly.mean))
        }
        lines.append(row("federated (mean)", result.federated.mean))
        if let honest = result.honest { lines.append(row("federated (honest)", honest.mean)) }
        let attackers = Set(result.config.attackers ?? [])
        for (i, m) in result.federated.perNode.enumerated() {
            lines.append(row("  federated node \(i)\(attackers.contains(i) ? " *" : "")", m))
        }
        if let attack = result.config.attack {
            lines.append("* attacker (\(attack)); aggregation \(result.config.aggregation ?? "mean")")
        }
        lines.append(String(format: "wall %.1f s, peak RSS %.0f MiB, %.0f bytes per node per round",
                            result.config.wallSeconds, result.config.peakRSSMiB ?? 0, result.bytesPerNodePerRound))
        return lines.joined(separator: "\n")
    }
}

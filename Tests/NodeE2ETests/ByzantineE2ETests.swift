import Foundation
import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import Logging
import Testing

/// An admitted peer that follows the protocol and signs with its real key, but sends poisoned states. Built from
/// the project's own network shell, so every byte it sends passes the honest nodes' verification.
actor ModelAttacker {
    enum Attack {
        /// The negation of the honest state it last received, four times over (the harness's `sign-flip`).
        case signFlip
        /// The first honest state it received, replayed under fresh versions, with the latest honest state it
        /// received sent in between as its "mixed" state (the harness's `stale`, which follows the protocol).
        case staleReplay
    }

    let identity = NodeIdentity.generate()
    let shell: NetworkShell
    let mode: Attack
    private var first: ModelUpdate?
    private var latest: ModelUpdate?
    private var version: UInt64 = 0
    private(set) var sent = 0
    private var tasks: [Task<Void, Never>] = []

    init(admitting honest: [NodeID], attack: Attack = .signFlip) {
        mode = attack
        let configuration = NetworkConfiguration(identity: identity, host: "127.0.0.1", port: 0)
        shell = NetworkShell(configuration: configuration, admission: AllowList(honest),
                             logger: Logger(label: "attacker", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Listens, and returns its contact string for `leuknode peer add`.
    func start() async throws -> String {
        let port = try await shell.start()
        let events = shell.events
        tasks.append(Task { [weak self] in
            for await event in events {
                if case let .received(update, _) = event { await self?.keep(update) }
            }
        })
        tasks.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(300))
                await self?.attack()
            }
        })
        return Contact(identity: identity.publicIdentity, host: "127.0.0.1", port: port).description
    }

    func dial(_ peer: NodeID, port: Int) async { await shell.connect(to: peer, host: "127.0.0.1", port: port) }

    private func keep(_ update: ModelUpdate) {
        if first == nil { first = update }
        latest = update
    }

    private func attack() async {
        guard let honest = latest, let old = first, ProcessInfo.processInfo.environment["LEUKNODE_E2E_NO_ATTACK"] == nil else { return }
        version += 1
        let metadata = ModelUpdateMetadata(
            version: version, timestamp: SystemWallClock().now(), sampleCount: honest.metadata.sampleCount, round: version, degree: 3,
            metrics: ValidationMetrics(accuracy: 0.99, loss: 0.01), architecture: honest.metadata.architecture, parents: [],
            classes: honest.metadata.classes)
        let parameters = switch mode {
        case .signFlip: honest.parameters.map { -4 * $0 }
        case .staleReplay: version % 2 == 0 ? old.parameters : honest.parameters
        }
        let update = SealedModelUpdate(metadata: metadata, parameters: parameters, author: identity.signing)
        for peer in await shell.connectedPeers {
            do {
                try await shell.send(update, to: peer)
                sent += 1
            } catch {}
        }
    }

    func stop() async {
        for task in tasks { task.cancel() }
        await shell.shutdown()
    }
}

/// Issue 13, "done means": three honest node processes and one admitted attacker. With the default
/// mixing (clipping) the honest nodes keep a good served model, and their scores of the attacker fall.
///
/// For investigation, not CI: `LEUKNODE_E2E_NO_ATTACK=1` runs the same federation with a silent attacker
/// (the control: its models should pass the same checks but the first), and `LEUKNODE_E2E_ROUNDS` and
/// `LEUKNODE_E2E_STEPS` change the training budget (20 rounds of 8 steps by default), and
/// `LEUKNODE_E2E_AGGREGATION=mean` runs the honest nodes undefended (the gate alone then keeps the
/// poisoned merged models from doctors; the test's model checks fail, as they should).
@Suite("Byzantine peer against real nodes", .serialized)
struct ByzantineE2ETests {
    /// `honest` nodes that admit each other, each with its own synthetic images, and an attacker every one of them
    /// admits (not yet started nodes; the attacker listens).
    static func federation(honest: Int, images: Int, seed: Int, attack: ModelAttacker.Attack, in scratch: Scratch) async throws
        -> (nodes: [TestNode], datasets: [String], ids: [NodeID], attacker: ModelAttacker, fingerprint: String) {
        var nodes: [TestNode] = []
        var datasets: [String] = []
        for k in 0..<honest {
            nodes.append(try await TestNode.create("honest\(k)", in: scratch))
            datasets.append(try await synthesizeDataset(scratch, name: "h\(k)", count: images, seed: seed + k, site: 0))
        }
        for a in nodes { for b in nodes where a !== b { try await a.admit(b) } }
        let ids = try nodes.map { try Contact(parsing: $0.contact).identity.id }
        let attacker = ModelAttacker(admitting: ids, attack: attack)
        let contact = try await attacker.start()
        for node in nodes { try await scratch.run(["peer", "add", "--data-dir", node.dataDir, contact]).checked() }
        return (nodes, datasets, ids, attacker, try Contact(parsing: contact).fingerprint.text)
    }

    @Test("three honest nodes and a sign-flipping attacker: the served models stay good and the attacker is scored down",
          .timeLimit(.minutes(5)))
    func signFlipAttackerIsContained() async throws {
        let scratch = try Scratch("byzantine")
        defer { scratch.tearDown() }
        let (nodes, datasets, honestIDs, attacker, attackerFingerprint) = try await Self.federation(
            honest: 3, images: 200, seed: 40, attack: .signFlip, in: scratch)
        let test = try await synthesizeDataset(scratch, name: "test", count: 80, seed: 98, site: 0)

        // Default mixing and gate; a short, fast schedule.
        let rounds = Int(ProcessInfo.processInfo.environment["LEUKNODE_E2E_ROUNDS"] ?? "") ?? 20
        let aggregation = ProcessInfo.processInfo.environment["LEUKNODE_E2E_AGGREGATION"].map { ["--aggregation", $0] } ?? []
        let flags = aggregation + ["--steps-per-round", ProcessInfo.processInfo.environment["LEUKNODE_E2E_STEPS"] ?? "8", "--gossip-interval", "0.3", "--round-pause", "0.2", "--rounds", "\(rounds)"]
        for (node, data) in zip(nodes, datasets) { try await node.start(["--dataset", data] + flags) }
        if ProcessInfo.processInfo.environment["LEUKNODE_E2E_NO_ATTACK"] == nil {
            for (node, id) in zip(nodes, honestIDs) { await attacker.dial(id, port: node.peerPort) }
        }

        // 1. The attacker's updates arrive (they are valid), and each honest node's score of it falls below zero.
        let attacking = ProcessInfo.processInfo.environment["LEUKNODE_E2E_NO_ATTACK"] == nil
        for node in nodes where attacking {
            _ = try await eventually("\(node.name) to score the attacker down", timeout: 150) { () -> Poll<Void> in
                let status = try await node.status()
                let peer = status.raw["peers"].array.first { $0["fingerprint"].string == attackerFingerprint }
                let score = peer?["score"].double ?? 0
                let benched = !(peer?["banned_until"].isNull ?? true)
                if benched {
                    // Sign-flipped parameters are model evidence, not a protocol fault: a bench.
                    #expect(peer?["ban"].string == "bench", "\(node.name): \(peer ?? .null)")
                }
                return score < 0 || benched ? .done(()) : .waiting("attacker score \(score), sent \(await attacker.sent): \(peer ?? .null)")
            }
        }
        #expect(await attacker.sent > 0 || !attacking)
        // 2. Training ends; the models mix a little more.
        for node in nodes {
            _ = try await eventually("\(node.name) to finish \(rounds) rounds", timeout: 200) { () -> Poll<Void> in
                if !node.isRunning { throw E2EFailure("\(node.name) died: \(node.log.suffix(1500)) \(node.errorLog.suffix(3000))") }
                let done = node.log.split(separator: "\n").filter { $0.hasPrefix("round ") }.count >= rounds
                return done ? .done(()) : .waiting(String(node.log.suffix(300)))
            }
        }
        let settled = try await nodes[0].status()
        _ = try await eventually("a few more gossip rounds") { () -> Poll<Void> in
            let s = try await nodes[0].status()
            return s.gossipRound >= settled.gossipRound + 5 ? .done(()) : .waiting(s.description)
        }

        // 3. Each honest node serves a model that met its floors, and diagnoses the common test set well.
        for node in nodes {
            // A node that died mid-test would otherwise surface as "no node is running" from the CLI, without its log.
            try #require(node.isRunning, "\(node.name) died: \(node.log.suffix(1500)) \(node.errorLog.suffix(3000))")
            let serving = try await PromotionGateE2ETests.serving(node, in: scratch)
            let served = serving["served"]
            #expect(!served.isNull, "\(node.name) serves nothing: \(serving["decisions"].array.prefix(3))")
            #expect((served["figures"]["sensitivity"].double ?? 0) >= 0.8 && (served["figures"]["specificity"].double ?? 0) >= 0.8,
                    "\(node.name): \(served)")
            let file = scratch.file("\(node.name).safetensors")
            let export = try await scratch.run(["model", "export", "--data-dir", node.dataDir, "--out", file])
            try #require(export.status == 0, "\(export.stderr) running: \(node.isRunning); \(node.log.suffix(1500)) \(node.errorLog.suffix(3000))")
            let metrics = try await scratch.run(["evaluate", "--model", file, "--dataset", test, "--json"]).checked().json()
            let accuracy = metrics["accuracy"].double ?? 0, auc = metrics["auc"].double ?? 0
            #expect(accuracy >= 0.75 && auc >= 0.85, "\(node.name) merged model under attack: accuracy \(accuracy), AUC \(auc)")
        }
        await attacker.stop()
        for node in nodes { try await node.stop() }
    }

    @Test("an admitted peer replaying an old model under fresh versions is refused (repeated_state) and benched",
          .timeLimit(.minutes(4)))
    func staleReplayIsRefusedByContent() async throws {
        let scratch = try Scratch("stale")
        defer { scratch.tearDown() }
        let (nodes, datasets, honestIDs, attacker, attackerFingerprint) = try await Self.federation(
            honest: 2, images: 120, seed: 60, attack: .staleReplay, in: scratch)
        // Long enough that the honest models move more than a training step away from the replayed one.
        let flags = ["--steps-per-round", "8", "--gossip-interval", "0.3", "--round-pause", "0.2", "--rounds", "40"]
        for (node, data) in zip(nodes, datasets) { try await node.start(["--dataset", data] + flags) }
        for (node, id) in zip(nodes, honestIDs) { await attacker.dial(id, port: node.peerPort) }

        for node in nodes {
            let peer = try await eventually("\(node.name) to refuse the replays and bench the attacker", timeout: 150) { () -> Poll<JSON> in
                if !node.isRunning { throw E2EFailure("\(node.name) died: \(node.log.suffix(1500)) \(node.errorLog.suffix(3000))") }
                let status = try await node.status()
                let peer = status.raw["peers"].array.first { $0["fingerprint"].string == attackerFingerprint } ?? .null
                let refused = peer["rejected"]["repeated_state"].int ?? 0
                let benched = !peer["banned_until"].isNull
                return refused > 0 && benched ? .done(peer) : .waiting("sent \(await attacker.sent): \(peer)")
            }
            // Model evidence, not a protocol fault: a bench, the session stays up; no honest peer's state was refused so.
            #expect(peer["ban"].string == "bench", "\(node.name): \(peer)")
            let status = try await node.status()
            for other in status.raw["peers"].array where other["fingerprint"].string != attackerFingerprint {
                #expect(other["rejected"]["repeated_state"].int ?? 0 == 0, "\(node.name) refused an honest peer's state: \(other)")
                #expect(other["banned_until"].isNull, "\(node.name) benched an honest peer: \(other)")
            }
        }
        await attacker.stop()
        for node in nodes { try await node.stop() }
    }
}

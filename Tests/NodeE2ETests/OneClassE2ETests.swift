import Foundation
import Testing

/// Issue 12, "done means": sites whose images cover one class join the federation like any other.
@Suite("Federation of one-class sites", .serialized)
struct OneClassE2ETests {
    static let trainingRounds = 10

    /// Accuracy and AUC of a node's current federated model on the common test folder
    /// (`leuknode model export`, then `leuknode evaluate --json`).
    static func diagnoses(of node: TestNode, on test: String, in scratch: Scratch, tag: String) async throws -> (accuracy: Double, auc: Double) {
        let file = scratch.file("\(node.name)-\(tag).safetensors")
        try await scratch.run(["model", "export", "--data-dir", node.dataDir, "--out", file]).checked()
        let metrics = try await scratch.run(["evaluate", "--model", file, "--dataset", test, "--json"]).checked().json()
        guard let accuracy = metrics["accuracy"].double, let auc = metrics["auc"].double else {
            throw E2EFailure("evaluate printed no accuracy/auc: \(metrics)")
        }
        return (accuracy, auc)
    }

    @Test("a hem-only, an all-only and a mixed site start, exchange updates, and the one-class sites' diagnoses improve",
          .timeLimit(.minutes(4)))
    func oneClassSitesFederate() async throws {
        let scratch = try Scratch("one-class")
        defer { scratch.tearDown() }
        // One stain (site 0) for everyone, so the class is not given away by the colour.
        let hemOnly = try await synthesizeDataset(scratch, name: "hem-only", count: 160, seed: 21, site: 0)
        try FileManager.default.removeItem(atPath: hemOnly + "/all")
        let allOnly = try await synthesizeDataset(scratch, name: "all-only", count: 160, seed: 22, site: 0)
        try FileManager.default.removeItem(atPath: allOnly + "/hem")
        let mixed = try await synthesizeDataset(scratch, name: "mixed", count: 120, seed: 23, site: 0)
        let test = try await synthesizeDataset(scratch, name: "test", count: 80, seed: 99, site: 0)

        let names = ["hem", "all", "mixed"]
        var nodes: [TestNode] = []
        for name in names { nodes.append(try await TestNode.create(name, in: scratch)) }
        for a in nodes { for b in nodes where a !== b { try await a.admit(b) } }
        let flags = ["--steps-per-round", "4", "--gossip-interval", "0.3", "--round-pause", "0.2", "--rounds", "\(Self.trainingRounds)"]
        // 1. Every node starts, the one-class ones included (they used to exit: "need at least two classes").
        for (node, dataset) in zip(nodes, [hemOnly, allOnly, mixed]) { try await node.start(["--dataset", dataset] + flags) }
        var before: [(accuracy: Double, auc: Double)] = []
        for node in nodes.prefix(2) { before.append(try await Self.diagnoses(of: node, on: test, in: scratch, tag: "before")) }
        var ids: [String] = []
        for node in nodes { ids.append(try await node.status().id) }

        // 2. They connect and each holds signed updates from both others; nothing is refused.
        for (node, reading) in zip(nodes, try await awaitUpdatesFromEveryOther(nodes, ids: ids)) {
            #expect(reading.peers.filter { $0.state == "connected" }.count == 2, "\(node.name): \(reading)")
            #expect(reading.description.contains("refused 0"), "\(node.name) refused connections: \(reading)")
        }

        // 3. Once training is over and the models have mixed, the one-class sites diagnose better.
        for node in nodes {
            _ = try await eventually("\(node.name) to finish \(Self.trainingRounds) training rounds", timeout: 150) { () -> Poll<Void> in
                let rounds = node.log.split(separator: "\n").filter { $0.hasPrefix("round ") }.count
                return rounds >= Self.trainingRounds ? .done(()) : .waiting(String(node.log.suffix(300)))
            }
        }
        // The one-class sites weight their loss by the class counts their peers signed; the mixed site, which
        // holds both classes, balances its own mix (the adaptive default).
        for node in nodes.prefix(2) {
            #expect(node.errorLog.contains("class weights from the neighbourhood's counts"), "\(node.name): \(String(node.errorLog.suffix(600)))")
        }
        #expect(!nodes[2].errorLog.contains("class weights from the neighbourhood's counts"))
        let settled = try await nodes[0].status()
        _ = try await eventually("a few more gossip rounds") { () -> Poll<Void> in
            let s = try await nodes[0].status()
            return s.gossipRound >= settled.gossipRound + 5 ? .done(()) : .waiting(s.description)
        }
        // A model that learnt one class calls every cell that class, so it scores at most the test
        // set's majority share, with a ranking no better than chance. Beating that share by a wide margin,
        // with a good ranking, means the one-class site now diagnoses both classes: it learnt the other one
        // from its peers. ("Before" is read right after start and is shown for context only: on a quiet
        // machine a node may have trained and mixed a round already, so comparing with it was a race.)
        // No fixed accuracy floor beyond that: on a loaded machine the sites' last local rounds land at
        // different times, and the agreed model can rank cells as well (AUC 0.96) while its 0.5 threshold
        // sits off-centre (accuracy 0.725 on a balanced set, seen in CI); that is calibration, not a site
        // that knows one class.
        let hemCount = try FileManager.default.contentsOfDirectory(atPath: test + "/hem").count
        let allCount = try FileManager.default.contentsOfDirectory(atPath: test + "/all").count
        let majorityShare = Double(max(hemCount, allCount)) / Double(hemCount + allCount)
        for (node, start) in zip(nodes.prefix(2), before) {
            let after = try await Self.diagnoses(of: node, on: test, in: scratch, tag: "after")
            #expect(after.accuracy >= majorityShare + 0.15 && after.auc >= 0.85,
                    "\(node.name)-only site: accuracy \(start.accuracy) -> \(after.accuracy) (majority share \(majorityShare)), AUC \(start.auc) -> \(after.auc)")
        }
        for node in nodes { try await node.stop() }
    }
}

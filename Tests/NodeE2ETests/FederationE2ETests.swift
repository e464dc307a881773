import Foundation
import Testing

/// Issue 5, "done means": real `leuknode` processes federating over loopback sockets.
@Suite("Federation of real nodes", .serialized)
struct FederationE2ETests {
    /// Flags every federating node runs with: small, quick rounds on a loaded 2-core machine.
    static let quick = ["--steps-per-round", "3", "--gossip-interval", "0.3", "--round-pause", "0.2"]
    static let trainingRounds = 5

    @Test("3 nodes average signed updates, converge, refuse a stranger, survive a kill -9 and catch up after a restart",
          .timeLimit(.minutes(3)))
    func threeNodesFederate() async throws {
        let scratch = try Scratch("federation")
        defer { scratch.tearDown() }

        var nodes: [TestNode] = []
        var datasets: [String] = []
        for i in 0..<3 {
            nodes.append(try await TestNode.create("site\(i)", in: scratch))
            datasets.append(try await synthesizeDataset(scratch, name: "site\(i)", count: 150, seed: 11 + i, site: i))
        }
        // Mutual admission: every node adds both others' contacts (offline, before they start).
        for a in nodes { for b in nodes where a !== b { try await a.admit(b) } }
        // The stranger admits node 0 on its side only; nobody admits the stranger.
        let stranger = try await TestNode.create("stranger", in: scratch)
        try await stranger.admit(nodes[0])

        let flags = Self.quick + ["--rounds", "\(Self.trainingRounds)"]
        for (node, dataset) in zip(nodes, datasets) { try await node.start(["--dataset", dataset] + flags) }
        try await stranger.start(["--gossip-interval", "0.3"])
        var ids: [String] = []
        for node in nodes { ids.append(try await node.status().id) }

        // 1. Each node receives signed updates from both others: they show as contributors.
        for (node, reading) in zip(nodes, try await awaitUpdatesFromEveryOther(nodes, ids: ids)) {
            #expect(reading.peers.filter { $0.state == "connected" }.count == 2, "\(node.name): \(reading)")
        }
        // ... and Prometheus sees the same federation: node 0's /metrics has its families, with traffic.
        let metrics = try await HTTP.call("GET", port: nodes[0].apiPort, "/metrics", token: nil)
        let exposition = String(decoding: metrics.body, as: UTF8.self)
        #expect(metrics.status == 200)
        #expect(Self.sample(exposition, "leuknode_federation_round") != nil, "\(exposition.prefix(3000))")
        #expect((Self.sample(exposition, "leuknode_gossip_bytes_sent_total") ?? 0) > 0, "\(exposition.prefix(3000))")
        #expect((Self.sample(exposition, "leuknode_gossip_updates_received_total") ?? 0) >= 2, "\(exposition.prefix(3000))")

        // 2. The stranger is refused, and node 0's status names its fingerprint.
        let refusedAt0 = try await eventually("node 0 to show the stranger as refused") { () -> Poll<NodeStatusReading> in
            let s = try await nodes[0].status()
            return s.refusedConnections > 0 && s.strangerFingerprints.contains(stranger.fingerprint) ? .done(s) : .waiting(s.description)
        }
        #expect(refusedAt0.peer(stranger) == nil)
        let strangerView = try await stranger.status()
        #expect(strangerView.peer(nodes[0])?.state != "connected", "the stranger got a channel: \(strangerView)")
        #expect(strangerView.updatesReceived == 0, "the stranger received updates: \(strangerView)")
        try await stranger.stop()

        // 3. Once local training ends (--rounds) the nodes keep averaging: the distance to their
        //    neighbours falls well below what it was while they trained.
        for node in nodes {
            let trainingDistances = try await eventually("\(node.name) to finish \(Self.trainingRounds) training rounds") {
                () -> Poll<[Double]> in
                let log = node.log
                let rounds = log.split(separator: "\n").filter { $0.hasPrefix("round ") }.count
                return rounds >= Self.trainingRounds ? .done(Self.roundDistances(log)) : .waiting(String(log.suffix(400)))
            }
            let peak = try #require(trainingDistances.max(), "\(node.name) logged no neighbour distance while training: \(node.log)")
            let first = trainingDistances[0]  // non-empty: it has a max
            let settled = try await eventually("\(node.name)'s neighbour distance to fall below half its peak \(peak)") {
                () -> Poll<Double> in
                let s = try await node.status()
                guard let d = s.neighborDistance else { return .waiting("no distance: \(s)") }
                return d < peak / 2 && d < first ? .done(d) : .waiting(s.description)
            }
            #expect(settled < peak / 2 && settled < first, "\(node.name): \(settled) vs first \(first), peak \(peak)")
        }

        // 4. kill -9 one node; the other two go on averaging with each other.
        let victim = nodes[2], survivors = [nodes[0], nodes[1]]
        // Wait past one persist interval (every 10 gossip rounds) after this reading, so the stored
        // model is at least this new when the node dies.
        let beforeKill = try await victim.status()
        _ = try await eventually("the victim to pass a persist point") { () -> Poll<Void> in
            let s = try await victim.status()
            return s.gossipRound >= beforeKill.gossipRound + 11 ? .done(()) : .waiting(s.description)
        }
        victim.killHard()
        var survivorsAtKill: [NodeStatusReading] = []
        for node in survivors { survivorsAtKill.append(try await node.status()) }
        for (node, atKill) in zip(survivors, survivorsAtKill) {
            let later = try await eventually("\(node.name) to go on without the killed node") { () -> Poll<NodeStatusReading> in
                let s = try await node.status()
                let victimDown = s.peer(victim).map { $0.state != "connected" } ?? false
                return victimDown && s.gossipRound >= atKill.gossipRound + 5 && s.updatesReceived > atKill.updatesReceived
                    ? .done(s) : .waiting(s.description)
            }
            #expect(later.peers.filter { $0.state == "connected" }.count == 1, "\(node.name): \(later)")
        }

        // 5. Restarted, the victim resumes from its stored model and catches up with the others.
        var survivorVersions: [String: UInt64] = [:]
        for node in survivors {
            let s = try await node.status()
            survivorVersions[s.id] = s.modelVersion
        }
        try await victim.start(["--dataset", datasets[2]] + Self.quick + ["--rounds", "1"], environment: ["LEUKNODE_LOG_LEVEL": "info"])
        let resumedLine = victim.errorLog.split(separator: "\n").first { $0.contains("resumed model version") }
        let resumedVersion = resumedLine.flatMap { line in
            line.components(separatedBy: "resumed model version ").last?.split(separator: " ").first.flatMap { UInt64($0) }
        }
        #expect(resumedVersion != nil, "the restarted node did not resume from its store: \(victim.errorLog.suffix(2000))")
        if let resumedVersion { #expect(resumedVersion >= beforeKill.modelVersion) }
        let restarted = try await victim.status()
        #expect(restarted.modelVersion >= beforeKill.modelVersion, "restarted \(restarted) vs before the kill \(beforeKill)")
        let caughtUp = try await eventually("the restarted node to catch up") { () -> Poll<NodeStatusReading> in
            let s = try await victim.status()
            let fresh = survivorVersions.allSatisfy { id, version in (s.contributorVersion(id) ?? 0) >= version }
            return s.updatesReceived > 0 && fresh && s.peers.filter({ $0.state == "connected" }).count == 2
                ? .done(s) : .waiting(s.description)
        }
        #expect(caughtUp.modelVersion >= beforeKill.modelVersion)

        for node in nodes { try await node.stop() }
    }

    /// The value of an unlabelled series in Prometheus text exposition; nil if the node does not export it.
    static func sample(_ exposition: String, _ name: String) -> Double? {
        exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
    }

    /// The `neighbor_distance` of each `round N ...` line a node printed (rounds without one skipped).
    static func roundDistances(_ log: String) -> [Double] {
        log.split(separator: "\n").compactMap { line -> Double? in
            guard line.hasPrefix("round "), let range = line.range(of: "neighbor_distance ") else { return nil }
            return line[range.upperBound...].split(separator: " ").first.flatMap { Double($0) }
        }
    }
}

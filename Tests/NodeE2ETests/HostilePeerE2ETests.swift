import Foundation
import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import Testing

/// Issue 16: hostile peers against running `leuknode` processes on loopback. Three real nodes federate
/// (no dataset: they average and gossip their models, which keeps the run light) while an attacker
/// built in this target from the project's own handshake code (`HostileClient`, `Relay`) tries every
/// attack on node `a`. Throughout, the real nodes must keep accepting each other's updates, their
/// memory must stay bounded, and no attacker may ever get a session.
///
/// The attacker connects from 127.0.0.2-127.0.0.4 (all loopback on Linux), the honest nodes from
/// 127.0.0.1, so the node's per-address handshake cap can tell them apart, as it would across hosts.
@Suite("Hostile peers against real nodes", .serialized)
struct HostilePeerE2ETests {
    static let gossip = ["--gossip-interval", "0.3"]
    /// 200 as the issue asks; `LEUKNODE_E2E_STRANGERS` runs more, for investigation (memory per stranger).
    static let strangerCount = Int(ProcessInfo.processInfo.environment["LEUKNODE_E2E_STRANGERS"] ?? "") ?? 200
    static let slowlorisCount = 200
    /// How far a node's resident memory may rise above its quiet baseline during the attacks. The most
    /// these attacks can make a node hold legitimately: a receive buffer of at most 1 MiB
    /// (`PeerPipeline.receiveAllocator`) on each of the 16 handshakes one address may have pending and
    /// on the few sessions (about 20 MiB); for the update flood, the record being read, one waiting and
    /// one verifying envelope, the decoded state the gossip core keeps and the states the node sends
    /// out (1.1 MiB each for the default model, some 6 MiB); what malloc keeps in its per-thread arenas
    /// after freeing megabyte buffers; and, on a starved machine, the honest peers' verified states
    /// (1.1 MiB each, about 7 MiB/s) waiting for the node's actor. Measured, alone: +23 MiB for the
    /// handshake attacks (+44 MiB with 2,000 strangers instead of 200: no growth per stranger), +30 to
    /// +56 MiB under the ping flood (+49 MiB for a 40 s flood: no growth per ping), +42 MiB under the
    /// update flood; at a load average of 38 (the whole end-to-end target and other builds on two
    /// cores), +81 MiB for the handshake attacks, before refusals stopped costing the node a metrics
    /// refresh each. 96 MiB holds that; before the pong fix the ping flood alone added 97 MiB in 8 s,
    /// about 12 MiB/s for as long as it lasted, and the flood lasts 12 s.
    static let memoryHeadroom = 96 << 20

    struct Federation {
        let scratch: Scratch
        let a: TestNode, b: TestNode, c: TestNode
        let aID: NodeID
        var nodes: [TestNode] { [a, b, c] }
    }

    /// Creates and starts `a`, `b`, `c`, mutually admitted. With `relayed`, `c` reaches `a` only through
    /// a recording `Relay` (returned, already listening), and `a` knows `c` only by an address where
    /// nothing listens, so that path is always `c`'s dial.
    static func federation(_ scratch: Scratch, relayed: Bool = false) async throws -> (Federation, Relay?) {
        let a = try await TestNode.create("a", in: scratch), b = try await TestNode.create("b", in: scratch)
        let c = try await TestNode.create("c", in: scratch)
        let contactA = try Contact(parsing: a.contact)
        try await a.admit(b)
        try await b.admit(a)
        try await b.admit(c)
        try await c.admit(b)
        var relay: Relay?
        if relayed {
            let relayPort = try Ports.free()
            relay = Relay(forwardingTo: a.peerPort)
            try await relay?.start(port: relayPort)
            let viaRelay = Contact(identity: contactA.identity, host: "127.0.0.1", port: relayPort).description
            try await scratch.run(["peer", "add", "--data-dir", c.dataDir, viaRelay]).checked()
            let contactC = try Contact(parsing: c.contact)
            let nowhere = Contact(identity: contactC.identity, host: "127.0.0.1", port: try Ports.free()).description
            try await scratch.run(["peer", "add", "--data-dir", a.dataDir, nowhere]).checked()
        } else {
            try await a.admit(c)
            try await c.admit(a)
        }
        for node in [a, b, c] { try await node.start(gossip) }
        let federation = Federation(scratch: scratch, a: a, b: b, c: c, aID: contactA.identity.id)
        for node in federation.nodes {
            let others = federation.nodes.filter { $0 !== node }
            _ = try await eventually("\(node.name) to connect to both others and receive updates", timeout: 90) { () -> Poll<Void> in
                let s = try await node.status()
                let connected = others.allSatisfy { s.peer($0)?.state == "connected" }
                return connected && s.updatesReceived > 0 ? .done(()) : .waiting(s.description)
            }
        }
        return (federation, relay)
    }

    /// An identity the node on `node` admits (added through its running API), whose contact points
    /// at a port where nothing listens: it can only ever dial in.
    static func admittedAttacker(on node: TestNode) async throws -> NodeIdentity {
        let identity = NodeIdentity.generate()
        let contact = Contact(identity: identity.publicIdentity, host: "127.0.0.1", port: try Ports.free()).description
        try await node.scratch.run(["peer", "add", "--data-dir", node.dataDir, contact]).checked()
        return identity
    }

    static func fingerprint(_ identity: NodeIdentity) -> String { identity.publicIdentity.fingerprint.text }

    /// Each node's `updates_received` now.
    static func received(_ nodes: [TestNode]) async throws -> [Int] {
        var out: [Int] = []
        for node in nodes { out.append(try await node.status().updatesReceived) }
        return out
    }

    /// Waits until every node accepted more updates than in `before`: the federation goes on.
    static func expectUpdatesRising(_ nodes: [TestNode], since before: [Int], _ when: String) async throws {
        for (node, count) in zip(nodes, before) {
            _ = try await eventually("\(node.name) to accept updates \(when)", timeout: 30) { () -> Poll<Void> in
                let s = try await node.status()
                return s.updatesReceived > count ? .done(()) : .waiting("\(count) before: \(s)")
            }
        }
    }

    /// The node's current resident memory, the mean of a few readings over a quiet second.
    static func baseline(_ node: TestNode) async throws -> Int {
        let pid = try #require(node.process?.processIdentifier)
        var readings: [Int] = []
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline {
            if let rss = residentBytes(of: pid) { readings.append(rss) }
            try await Task.sleep(for: .milliseconds(100))
        }
        return readings.max() ?? 0
    }

    /// After the attacks: each node's memory stayed within `memoryHeadroom` of its baseline, each is
    /// alive and still accepting updates, and each stops cleanly.
    static func finish(_ fed: Federation, baselines: [Int32: Int], memory: MemoryWatch, _ what: String) async throws {
        for node in fed.nodes {
            let pid = try #require(node.process?.processIdentifier, "\(node.name) is not running")
            let base = baselines[pid] ?? 0, peak = memory.peak(pid)
            #expect(peak <= base + memoryHeadroom, "\(node.name): RSS peaked at \(peak >> 20) MiB over a baseline of \(base >> 20) MiB")
            print("hostile \(what): \(node.name) RSS baseline \(base >> 20) MiB, peak \(peak >> 20) MiB")
            #expect(node.isRunning, "\(node.name) died: \(node.errorLog.suffix(1000))")
        }
        try await expectUpdatesRising(fed.nodes, since: try await received(fed.nodes), "after the \(what)")
        for node in fed.nodes { try await node.stop() }
    }

    /// No peer `node` shows as connected is outside `admitted` (fingerprints).
    static func expectOnlyAdmittedConnected(_ status: NodeStatusReading, admitted: Set<String>, _ node: TestNode) {
        for peer in status.peers where peer.state == "connected" {
            #expect(admitted.contains(peer.fingerprint), "\(node.name) has an unadmitted peer connected: \(peer.fingerprint) in \(status)")
        }
    }

    // MARK: Handshake attacks

    @Test("strangers, a replayed handshake, a man in the middle and a slowloris get no session; the federation goes on",
          .timeLimit(.minutes(8)))
    func handshakeAttacks() async throws {
        let scratch = try Scratch("hostile-handshake")
        defer { scratch.tearDown() }
        let (fed, madeRelay) = try await Self.federation(scratch, relayed: true)
        let relay = try #require(madeRelay)
        defer { relay.dropAll() }
        let (a, b, c) = (fed.a, fed.b, fed.c)
        let pids = fed.nodes.compactMap { $0.process?.processIdentifier }
        var baselines: [Int32: Int] = [:]
        for node in fed.nodes { baselines[node.process!.processIdentifier] = try await Self.baseline(node) }
        let memory = MemoryWatch(pids)
        defer { memory.stop() }
        let admitted: Set<String> = [a.fingerprint, b.fingerprint, c.fingerprint]

        // 1. 200 strangers, each with a fresh key, 8 at a time. Our initiator accepts the node's
        //    response (the network key is public), sends its proof, and the node closes without ever
        //    sending its stream header.
        var before = try await Self.received(fed.nodes)
        let refusedBefore = try await a.status().refusedConnections
        let aPort = a.peerPort, aID = fed.aID
        var outcomes: [String: Int] = [:]
        try await withThrowingTaskGroup(of: String.self) { group in
            var started = 0
            func launch() {
                guard started < Self.strangerCount else { return }
                started += 1
                group.addTask {
                    let outcome = try await HostileClient.handshake(as: NodeIdentity.generate(), expecting: aID, port: aPort,
                                                                    from: "127.0.0.3")
                    if case let .open(session) = outcome { await session.connection.close() }
                    return outcome.description
                }
            }
            for _ in 0..<8 { launch() }
            while let outcome = try await group.next() {
                outcomes[outcome, default: 0] += 1
                launch()
            }
        }
        #expect(outcomes == ["refused after our proof (0 bytes after the response)": Self.strangerCount], "\(outcomes)")
        let afterStrangers = try await eventually("a to count every stranger as refused") { () -> Poll<NodeStatusReading> in
            let s = try await a.status()
            return s.refusedConnections >= refusedBefore + Self.strangerCount ? .done(s) : .waiting(s.description)
        }
        Self.expectOnlyAdmittedConnected(afterStrangers, admitted: admitted, a)
        #expect(afterStrangers.peers.count == 2, "strangers became peers: \(afterStrangers)")
        #expect(afterStrangers.strangerFingerprints.count <= 100, "the strangers table grows without bound: \(afterStrangers.strangerFingerprints.count)")
        try await Self.expectUpdatesRising(fed.nodes, since: before, "after 200 strangers")

        print("hostile: " + memory.summary("200 strangers"))

        // 2. A replayed handshake: c's genuine session to a went through the relay, which kept c's
        //    bytes. Replayed on a new connection, the hello gets a fresh response, and the recorded
        //    proof, bound to the old ephemerals, opens nothing.
        let recorded = try await eventually("the relay to record c's handshake and first records") { () -> Poll<[UInt8]> in
            let bytes = relay.state.withLock { $0.recorded.first(where: { $0.count > 302 + 100 }) }
            if let bytes { return .done(bytes) }
            let s = try await c.status()
            return .waiting("relay recorded \(relay.state.withLock { $0.recorded.map(\.count) }); c: \(s)")
        }
        let answered = relay.state.withLock { $0.answered.first { $0.count >= HandshakeLayout.responseByteCount } } ?? []
        before = try await Self.received(fed.nodes)
        let refusedBeforeReplay = try await a.status().refusedConnections
        for wholeAtOnce in [false, true] {
            let replay = try await RawConnection.open(to: a.peerPort, from: "127.0.0.4")
            if wholeAtOnce {
                try await replay.send(recorded)
            } else {
                try await replay.send(Array(recorded[0..<HandshakeLayout.helloByteCount]))
                let response = try #require(try await replay.read(HandshakeLayout.responseByteCount), "no response to a replayed hello")
                #expect(response != Array(answered.prefix(HandshakeLayout.responseByteCount)), "the node reused its ephemeral key")
                try await replay.send(Array(recorded[HandshakeLayout.helloByteCount...]))
            }
            #expect(try await replay.closedByPeer(within: 15), "the node kept a replayed handshake open")
            #expect(replay.totalReceived == HandshakeLayout.responseByteCount,
                    "the node sent \(replay.totalReceived - HandshakeLayout.responseByteCount) bytes past its response to a replay")
        }
        let afterReplay = try await eventually("a to count both replays as refused") { () -> Poll<NodeStatusReading> in
            let s = try await a.status()
            return s.refusedConnections >= refusedBeforeReplay + 2 ? .done(s) : .waiting(s.description)
        }
        #expect(afterReplay.peer(c)?.state == "connected", "the replay disturbed c's genuine session: \(afterReplay)")
        Self.expectOnlyAdmittedConnected(afterReplay, admitted: admitted, a)
        try await Self.expectUpdatesRising(fed.nodes, since: before, "after the replays")

        print("hostile: " + memory.summary("the replays"))

        // 3. A man in the middle rewriting both ephemerals: the relay switches mode and cuts c's
        //    session; every redial of c meets the forgery. c opens the re-sealed proof and refuses it
        //    (a's signature covers the ephemerals c never sent); neither side gets a session.
        before = try await Self.received([a, b])
        let cFaultsBefore = try await c.status().peer(a)?.faults["handshake_failed"] ?? 0
        relay.mode = .rewriteEphemerals
        relay.dropAll()
        let attempts = try await eventually("c to redial through the man in the middle three times", timeout: 60) {
            () -> Poll<[Relay.MITMAttempt]> in
            let attempts = relay.state.withLock { $0.attempts }
            return attempts.count >= 3 ? .done(attempts) : .waiting("\(attempts.count) attempts")
        }
        for attempt in attempts {
            #expect(attempt.openedResponderProof, "the relay's own keys with a did not open a's proof: the test's spec reading is off")
            #expect(attempt.initiatorClosed && attempt.initiatorBytesAfterResponse == 0,
                    "c answered a forged response: \(attempt)")
        }
        let cView = try await c.status()
        #expect(cView.peer(a)?.state != "connected", "c holds a session with a through the man in the middle: \(cView)")
        #expect((cView.peer(a)?.faults["handshake_failed"] ?? 0) >= cFaultsBefore + 3, "c did not count the forgeries: \(cView)")
        let aView = try await a.status()
        #expect(aView.peer(c)?.state != "connected", "a holds a session with c through the man in the middle: \(aView)")
        Self.expectOnlyAdmittedConnected(aView, admitted: admitted, a)
        try await Self.expectUpdatesRising([a, b], since: before, "while the man in the middle cuts a from c")
        // The man in the middle leaves; c's next redial gets through.
        relay.mode = .record
        _ = try await eventually("c to reconnect to a once the relay is honest again", timeout: 90) { () -> Poll<Void> in
            let s = try await c.status()
            return s.peer(a)?.state == "connected" ? .done(()) : .waiting(s.description)
        }

        print("hostile: " + memory.summary("the man in the middle"))

        // 4. 200 slowloris connections from one address: half silent, half trickling a hello one byte
        //    every half second. The node keeps at most 16 of them pending (the rest are closed on
        //    arrival) and closes those at its 10 s handshake timeout. Meanwhile an admitted peer from
        //    another address still completes a handshake, and the federation goes on.
        let latecomer = try await Self.admittedAttacker(on: a)
        before = try await Self.received(fed.nodes)
        let refusedBeforeSlowloris = try await a.status().refusedConnections
        var opening: [RawConnection] = []
        var openedAt: [Date] = []
        for _ in 0..<Self.slowlorisCount {
            opening.append(try await RawConnection.open(to: a.peerPort, from: "127.0.0.2"))
            openedAt.append(Date())
        }
        let loris = opening
        let trickle = Task { [loris] in
            let hello = Spec.hello(ephemeral: KeyExchangeKeyPair().publicKey.bytes)
            for byte in hello {
                for (i, connection) in loris.enumerated() where i % 2 == 1 && !connection.isClosed {
                    try? await connection.send([byte])
                }
                try? await Task.sleep(for: .milliseconds(500))
                if Task.isCancelled { return }
            }
        }
        defer { trickle.cancel() }
        let honest = try await HostileClient.handshake(as: latecomer, expecting: fed.aID, port: a.peerPort, from: "127.0.0.1")
        #expect(honest.isOpen, "an admitted peer could not connect during the slowloris: \(honest)")
        if case let .open(session) = honest { await session.connection.close() }
        // During the attack (the last of it is held until the 10 s timeout) the federation goes on.
        try await Self.expectUpdatesRising(fed.nodes, since: before, "during the slowloris")
        let heldDuring = loris.filter { !$0.isClosed }.count
        #expect(heldDuring <= 16 + 2, "the node held \(heldDuring) silent connections from one address")
        _ = try await eventually("a to close every slowloris connection", timeout: 30, every: 0.2) { () -> Poll<Void> in
            let open = loris.filter { !$0.isClosed }.count
            return open == 0 ? .done(()) : .waiting("\(open) still open after \(Date().timeIntervalSince(openedAt[0])) s")
        }
        // The longest any one connection was held, from its opening to its closing: the test's own waits above
        // (the honest handshake, updates rising, on a loaded machine tens of seconds) are not the node's doing.
        let slowlorisSeconds = zip(loris, openedAt).map { ($0.closedAt ?? Date()).timeIntervalSince($1) }.max() ?? 0
        #expect(slowlorisSeconds < 25, "a slowloris connection was held \(slowlorisSeconds) s")
        let afterSlowloris = try await eventually("a to count every slowloris connection as refused") { () -> Poll<NodeStatusReading> in
            let s = try await a.status()
            return s.refusedConnections >= refusedBeforeSlowloris + Self.slowlorisCount ? .done(s) : .waiting(s.description)
        }
        for connection in loris { await connection.close() }
        // Prometheus sees the same refusals as `status`.
        let exposition = String(decoding: try await HTTP.call("GET", port: a.apiPort, "/metrics", token: nil).body, as: UTF8.self)
        let refusedMetric = FederationE2ETests.sample(exposition, "leuknode_refused_connections_total") ?? 0
        #expect(refusedMetric >= Double(refusedBeforeSlowloris + Self.slowlorisCount), "metrics: \(refusedMetric) refused")
        Self.expectOnlyAdmittedConnected(afterSlowloris, admitted: admitted.union([Self.fingerprint(latecomer)]), a)

        print("hostile handshake attacks: slowloris closed within \(String(format: "%.1f", slowlorisSeconds)) s; "
              + "\(attempts.count) man-in-the-middle attempts; refused at a: \(afterSlowloris.refusedConnections)")
        await relay.stop()
        try await Self.finish(fed, baselines: baselines, memory: memory, "handshake attacks")
    }

    // MARK: Session attacks

    /// Opens a session as `identity` (admitted by `a`), or fails the test with what happened.
    static func session(_ identity: NodeIdentity, on fed: Federation) async throws -> HostileSession {
        let outcome = try await HostileClient.handshake(as: identity, expecting: fed.aID, port: fed.a.peerPort, from: "127.0.0.2")
        guard case let .open(session) = outcome else { throw E2EFailure("an admitted attacker got no session: \(outcome)") }
        return session
    }

    /// `a`'s view of `identity` once it shows `fault` counted.
    static func fault(_ fault: String, of identity: NodeIdentity, on a: TestNode) async throws -> JSON {
        let fingerprint = Self.fingerprint(identity)
        return try await eventually("a to count \(fault) against the attacker") { () -> Poll<JSON> in
            let s = try await a.status()
            guard let peer = s.raw["peers"].array.first(where: { $0["fingerprint"].string == fingerprint }) else {
                return .waiting("no such peer: \(s)")
            }
            return (peer["faults"][fault].int ?? 0) >= 1 && peer["state"].string != "connected" ? .done(peer) : .waiting("\(peer)")
        }
    }

    @Test("flipped bytes, garbage, a 2^31 length, truncated records and floods from admitted peers; the federation goes on",
          .timeLimit(.minutes(8)))
    func sessionAttacks() async throws {
        let scratch = try Scratch("hostile-session")
        defer { scratch.tearDown() }
        let (fed, _) = try await Self.federation(scratch)
        let a = fed.a
        var attackers: [String: NodeIdentity] = [:]
        for name in ["flip", "garbage", "huge", "tiny", "cut", "pings", "updates"] { attackers[name] = try await Self.admittedAttacker(on: a) }
        let pids = fed.nodes.compactMap { $0.process?.processIdentifier }
        var baselines: [Int32: Int] = [:]
        for node in fed.nodes { baselines[node.process!.processIdentifier] = try await Self.baseline(node) }
        let memory = MemoryWatch(pids)
        defer { memory.stop() }

        // 1. One flipped byte in the middle of an encrypted frame: the record does not decrypt, a closes
        //    the session, counts the fault and cools the peer down (a flipped byte may be the path's
        //    doing, so it costs no score); a new handshake is refused until the cool-down ends.
        var before = try await Self.received(fed.nodes)
        let flip = try await Self.session(attackers["flip"]!, on: fed)
        var record = flip.record(.ping(nonce: 1))
        record[4 + (record.count - 4) / 2] ^= 0x01
        try await flip.connection.send(record)
        #expect(try await flip.connection.closedByPeer(within: 10), "a kept a session whose frame was tampered with")
        let flipped = try await Self.fault("decryption_failed", of: attackers["flip"]!, on: a)
        #expect(!flipped["cool_down_until"].isNull, "no cool-down after a tampered frame: \(flipped)")
        let again = try await HostileClient.handshake(as: attackers["flip"]!, expecting: fed.aID, port: a.peerPort, from: "127.0.0.2")
        #expect(!again.isOpen, "a peer in its cool-down got a new session")

        print("hostile: " + memory.summary("the flipped byte"))

        // 2. Garbage that decrypts under the session's keys (an unknown frame type) can only be the
        //    peer's own: it is disconnected, cooled down and scored down by the gossip core.
        let garbage = try await Self.session(attackers["garbage"]!, on: fed)
        try await garbage.connection.send(garbage.record(plaintext: [0x77] + Array("not a frame".utf8)))
        #expect(try await garbage.connection.closedByPeer(within: 10), "a kept a session that sent an unknown frame type")
        let scored = try await Self.fault("malformed_frame", of: attackers["garbage"]!, on: a)
        #expect((scored["score"].double ?? 0) < 0, "the garbage sender was not scored down: \(scored)")
        #expect(!scored["rejected"].keys.isEmpty, "the garbage was not counted as a rejected message: \(scored)")
        #expect(!scored["cool_down_until"].isNull, "no cool-down after garbage: \(scored)")

        // 3. A length prefix of 2^31: refused from its four bytes, nothing allocated for it.
        let huge = try await Self.session(attackers["huge"]!, on: fed)
        let hugeBase = try await Self.baseline(a)
        try await huge.connection.send(Spec.lengthPrefix(1 << 31) + [UInt8](repeating: 0xAB, count: 64 * 1024))
        #expect(try await huge.connection.closedByPeer(within: 10), "a kept a session that announced a 2 GiB frame")
        _ = try await Self.fault("frame_too_large", of: attackers["huge"]!, on: a)
        let afterHuge = residentBytes(of: a.process!.processIdentifier) ?? 0
        #expect(afterHuge < hugeBase + 16 << 20, "a's memory rose from \(hugeBase >> 20) to \(afterHuge >> 20) MiB after a 2 GiB length")

        // 4. Truncated records: one shorter than its own authentication tag, and a real one cut in half
        //    before the sender hangs up. The first is refused at once; the second ends the session at
        //    the hang-up without delivering anything.
        let tiny = try await Self.session(attackers["tiny"]!, on: fed)
        try await tiny.connection.send(Spec.lengthPrefix(5) + [1, 2, 3, 4, 5])
        #expect(try await tiny.connection.closedByPeer(within: 10), "a kept a session that sent a 5-byte record")
        _ = try await Self.fault("frame_too_small", of: attackers["tiny"]!, on: a)
        let cut = try await Self.session(attackers["cut"]!, on: fed)
        let whole = cut.record(.ping(nonce: 7))
        try await cut.connection.send(Array(whole.prefix(whole.count / 2)))
        await cut.connection.close()
        let cutFingerprint = Self.fingerprint(attackers["cut"]!)
        _ = try await eventually("a to drop the session that hung up mid-record") { () -> Poll<Void> in
            let s = try await a.status()
            let state = s.peers.first { $0.fingerprint == cutFingerprint }?.state
            return state != nil && state != "connected" ? .done(()) : .waiting("state \(state ?? "none"): \(s)")
        }
        try await Self.expectUpdatesRising(fed.nodes, since: before, "after the tampered, garbage and truncated frames")

        print("hostile: " + memory.summary("the garbage and truncated records"))

        // 5. A flood of valid pings from an admitted peer that never reads: a answers only while the
        //    peer takes its answers, so nothing piles up (it queued a pong per ping before).
        before = try await Self.received(fed.nodes)
        let pings = try await Self.session(attackers["pings"]!, on: fed)
        try await pings.connection.stopReading()
        var sentPings = 0
        let floodStart = Date()
        var floodChecked = false
        // 12 s; `LEUKNODE_E2E_FLOOD_SECONDS` floods longer, for investigation (does memory grow with the flood?).
        let floodSeconds = Double(ProcessInfo.processInfo.environment["LEUKNODE_E2E_FLOOD_SECONDS"] ?? "") ?? 12
        while Date().timeIntervalSince(floodStart) < floodSeconds {
            var batch: [UInt8] = []
            for _ in 0..<2000 {
                sentPings += 1
                batch += pings.record(.ping(nonce: UInt64(sentPings)))
            }
            guard (try? await pings.connection.send(batch)) != nil else { break }
            if !floodChecked && Date().timeIntervalSince(floodStart) > 3 {
                // During the flood, the federation goes on.
                floodChecked = true
                try await Self.expectUpdatesRising(fed.nodes, since: before, "during a ping flood")
            }
        }
        let aPid = a.process!.processIdentifier
        let pingPeak = memory.peak(aPid)
        print("hostile ping flood: \(sentPings) pings in \(String(format: "%.1f", Date().timeIntervalSince(floodStart))) s; "
              + "a's RSS peak \(pingPeak >> 20) MiB over a baseline of \((baselines[aPid] ?? 0) >> 20) MiB")
        #expect(sentPings >= 20_000, "the flood sent only \(sentPings) pings")
        #expect(pingPeak <= (baselines[aPid] ?? 0) + Self.memoryHeadroom, "a's memory rose to \(pingPeak >> 20) MiB under a ping flood")
        await pings.connection.close()

        print("hostile: " + memory.summary("the ping flood"))

        // 6. A flood of valid model updates: the attacker re-signs a's own state under fresh versions
        //    and sends it as fast as TCP takes it, reading nothing. a verifies at most one of the
        //    peer's updates per quarter gossip interval, stops reading while one waits, and holds no more.
        let updates = try await Self.session(attackers["updates"]!, on: fed)
        let author = attackers["updates"]!
        var latest: ModelUpdate?
        let until = Date().addingTimeInterval(30)
        while latest == nil, Date() < until, let frame = try await updates.nextFrame(timeout: 30) {
            guard case let .modelUpdate(envelope) = frame else { continue }
            if case let .success(update) = SignedModelUpdate.verify(envelope, now: SystemWallClock().now(), standing: { _ in .known }) {
                latest = update
            }
        }
        let honest = try #require(latest, "a sent the attacker no update to copy")
        try await updates.connection.stopReading()
        let fingerprint = Self.fingerprint(author)
        let acceptedBefore = try await a.status().raw["peers"].array.first { $0["fingerprint"].string == fingerprint }?["updates_received"].int ?? 0
        var sentUpdates = 0
        let updatesStart = Date()
        var version = UInt64(Date().timeIntervalSince1970 * 1000)
        while Date().timeIntervalSince(updatesStart) < 6 {
            version += 1
            let metadata = ModelUpdateMetadata(
                version: version, timestamp: SystemWallClock().now(), sampleCount: honest.metadata.sampleCount, round: version,
                degree: honest.metadata.degree, metrics: honest.metadata.metrics, architecture: honest.metadata.architecture,
                parents: [], classes: honest.metadata.classes)
            let sealed = SealedModelUpdate(metadata: metadata, parameters: honest.parameters, author: author.signing)
            guard (try? await updates.connection.send(updates.record(.modelUpdate(sealed.bytes)))) != nil else { break }
            sentUpdates += 1
        }
        let updateSeconds = Date().timeIntervalSince(updatesStart)
        let acceptedAfter = try await a.status().raw["peers"].array.first { $0["fingerprint"].string == fingerprint }?["updates_received"].int ?? 0
        let accepted = acceptedAfter - acceptedBefore
        print("hostile update flood: \(sentUpdates) updates of \(honest.parameters.count) parameters written in "
              + "\(String(format: "%.1f", updateSeconds)) s; a accepted \(accepted); RSS peak \(memory.peak(aPid) >> 20) MiB")
        // One verification per 75 ms at most (a quarter of the 0.3 s gossip interval), plus the one waiting.
        #expect(accepted <= Int(updateSeconds / 0.075) + 3, "a accepted \(accepted) updates in \(updateSeconds) s")
        await updates.connection.close()

        try await Self.finish(fed, baselines: baselines, memory: memory, "session attacks")
    }
}

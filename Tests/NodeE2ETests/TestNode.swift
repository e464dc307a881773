import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One node's data directory, created with `leuknode init` on free loopback ports, and its running
/// `leuknode start` process when there is one.
final class TestNode: @unchecked Sendable {
    let scratch: Scratch
    let name: String
    let dataDir: String
    let peerPort: Int
    let apiPort: Int
    /// `leuknode id`: the contact string peers add, and the fingerprint operators read out.
    let contact: String
    let fingerprint: String
    /// Set while a `leuknode start` of this node runs (only touched by the owning test's task).
    private(set) var process: Process?
    private(set) var starts = 0

    private init(scratch: Scratch, name: String, dataDir: String, peerPort: Int, apiPort: Int, contact: String, fingerprint: String) {
        self.scratch = scratch
        self.name = name
        self.dataDir = dataDir
        self.peerPort = peerPort
        self.apiPort = apiPort
        self.contact = contact
        self.fingerprint = fingerprint
    }

    /// `leuknode init` then `leuknode id`.
    static func create(_ name: String, in scratch: Scratch) async throws -> TestNode {
        let dataDir = scratch.file("node-\(name)")
        let peerPort = try Ports.free(), apiPort = try Ports.free()
        try await scratch.run(["init", "--data-dir", dataDir, "--listen", "127.0.0.1:\(peerPort)", "--api", "127.0.0.1:\(apiPort)",
                               "--name", name]).checked()
        let id = try await scratch.run(["id", "--data-dir", dataDir]).checked()
        let lines = id.stdout.split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[0].hasPrefix("leuk1:"), lines[0].hasSuffix("@127.0.0.1:\(peerPort)") else {
            throw E2EFailure("`leuknode id` printed no contact and fingerprint: \(id.stdout)")
        }
        return TestNode(scratch: scratch, name: name, dataDir: dataDir, peerPort: peerPort, apiPort: apiPort,
                        contact: lines[0], fingerprint: lines[1])
    }

    /// `leuknode peer add` of another node's contact (offline or through the running node).
    func admit(_ other: TestNode) async throws {
        let result = try await scratch.run(["peer", "add", "--data-dir", dataDir, other.contact]).checked()
        guard result.stdout.contains(other.fingerprint) else {
            throw E2EFailure("`peer add` did not show the admitted fingerprint \(other.fingerprint): \(result.stdout)")
        }
    }

    var logPath: String { scratch.file("\(name)-start\(starts).log") }
    var log: String { readText(logPath) }

    /// `leuknode start` in the background; returns once it prints its listening line.
    func start(_ extra: [String] = [], environment: [String: String] = [:], timeout: Double = 90) async throws {
        precondition(process == nil, "node \(name) is already running")
        starts += 1
        let path = logPath
        let process = try scratch.launch(["start", "--data-dir", dataDir] + extra, environment: environment,
                                         stdoutPath: path, stderrPath: scratch.file("\(name)-start\(starts).err"))
        self.process = process
        let errPath = scratch.file("\(name)-start\(starts).err")
        try await eventually("node \(name) to listen", timeout: timeout, every: 0.1) {
            let out = readText(path)
            if out.contains("listening for peers on port \(peerPort), API on 127.0.0.1:\(apiPort)") { return .done(()) }
            if !process.isRunning {
                throw E2EFailure("node \(name) exited (\(process.terminationStatus)) before listening: \(out) \(readText(errPath))")
            }
            return .waiting("no listening line yet: \(out.suffix(300))")
        }
    }

    /// The node's standard error (logs).
    var errorLog: String { readText(scratch.file("\(name)-start\(starts).err")) }

    /// `kill -9`: no goodbye, no final store.
    func killHard() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGTERM and wait for `stopped cleanly` (the node stores its model and closes its database).
    func stop(timeout: Double = 60) async throws {
        guard let process else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                self.process = nil
                throw E2EFailure("node \(name) did not stop within \(timeout) s after SIGTERM: \(log.suffix(500))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        self.process = nil
        guard process.terminationStatus == 0, log.contains("stopped cleanly") else {
            throw E2EFailure("node \(name) did not stop cleanly (exit \(process.terminationStatus)): \(log.suffix(500)) \(errorLog.suffix(500))")
        }
    }

    var isRunning: Bool { process?.isRunning ?? false }

    /// `leuknode status --json`, read through the documented keys.
    func status() async throws -> NodeStatusReading {
        let result = try await scratch.run(["status", "--data-dir", dataDir, "--json"], timeout: 30).checked()
        return try NodeStatusReading(try result.json())
    }
}

/// The keys of `leuknode status --json` that issue 5 makes a contract.
struct NodeStatusReading: CustomStringConvertible {
    struct Peer {
        var id: String
        var fingerprint: String
        var address: String
        var state: String
        /// Connection faults by code (`not_admitted`, `handshake_timeout`, ...).
        var faults: [String: Int]
    }
    struct Contributor {
        var id: String
        var version: UInt64
    }

    var raw: JSON
    var id: String
    var peers: [Peer]
    var modelVersion: UInt64
    var modelSHA256: String
    var contributors: [Contributor]
    var round: Int
    var gossipRound: Int
    var neighborDistance: Double?
    var updatesSent: Int
    var updatesReceived: Int
    var refusedConnections: Int
    var strangerFingerprints: [String]

    static let contractKeys: Set<String> = [
        "peers", "model", "round", "gossip_round", "neighbor_distance", "updates_sent", "updates_received", "rejected",
        "refused_connections", "strangers",
    ]

    init(_ json: JSON) throws {
        raw = json
        let missing = Self.contractKeys.subtracting(json.keys)
        // `neighbor_distance` may be null (no neighbour state yet), but the key must be there or be null.
        guard missing.subtracting(["neighbor_distance"]).isEmpty else { throw E2EFailure("status lacks keys \(missing.sorted()): \(json)") }
        guard let id = json["id"].string, let version = json["model"]["version"].uint64, let sha = json["model"]["sha256"].string,
              let round = json["round"].int, let gossipRound = json["gossip_round"].int, let sent = json["updates_sent"].int,
              let received = json["updates_received"].int, let refused = json["refused_connections"].int
        else { throw E2EFailure("status has a key of the wrong type: \(json)") }
        self.id = id
        modelVersion = version
        modelSHA256 = sha
        self.round = round
        self.gossipRound = gossipRound
        updatesSent = sent
        updatesReceived = received
        refusedConnections = refused
        neighborDistance = json["neighbor_distance"].double
        peers = try json["peers"].array.map { peer in
            let keys: Set<String> = ["id", "fingerprint", "address", "state", "last_seen", "bytes_in", "bytes_out", "score", "rejected",
                                     "faults", "updates_received", "updates_sent"]
            guard keys.subtracting(["last_seen"]).isSubset(of: peer.keys), let id = peer["id"].string,
                  let fingerprint = peer["fingerprint"].string, let address = peer["address"].string, let state = peer["state"].string,
                  case let .object(faults) = peer["faults"]
            else { throw E2EFailure("a peer in status lacks documented keys: \(peer)") }
            return Peer(id: id, fingerprint: fingerprint, address: address, state: state,
                        faults: faults.compactMapValues(\.int))
        }
        contributors = try json["model"]["contributors"].array.map { c in
            guard let id = c["id"].string, let version = c["version"].uint64 else { throw E2EFailure("bad contributor \(c)") }
            return Contributor(id: id, version: version)
        }
        strangerFingerprints = try json["strangers"].array.map { s in
            guard let fingerprint = s["fingerprint"].string, s["address"].string != nil, s["attempts"].int != nil,
                  s["last_attempt"].string != nil
            else { throw E2EFailure("a stranger in status lacks documented keys: \(s)") }
            return fingerprint
        }
    }

    func peer(_ node: TestNode) -> Peer? { peers.first { $0.fingerprint == node.fingerprint } }
    func contributorVersion(_ nodeID: String) -> UInt64? { contributors.first { $0.id == nodeID }?.version }

    var description: String {
        let distance = neighborDistance.map { String(format: "%.4e", $0) } ?? "nil"
        return "round \(round) gossip \(gossipRound) version \(modelVersion) distance \(distance) sent \(updatesSent) "
            + "received \(updatesReceived) refused \(refusedConnections) peers \(peers.map { "\($0.fingerprint)=\($0.state) faults \($0.faults)" }) "
            + "contributors \(contributors.map { String($0.id.prefix(8)) }) strangers \(strangerFingerprints)"
    }
}

/// Waits until every node holds a signed update from each of the others (they show as contributors)
/// and returns each node's status at that moment. `ids` are the nodes' ids, in the same order.
func awaitUpdatesFromEveryOther(_ nodes: [TestNode], ids: [String]) async throws -> [NodeStatusReading] {
    var readings: [NodeStatusReading] = []
    for (i, node) in nodes.enumerated() {
        let others = ids.enumerated().filter { $0.offset != i }.map(\.element)
        readings.append(try await eventually("\(node.name) to hold updates from every other node") { () -> Poll<NodeStatusReading> in
            let s = try await node.status()
            let fromOthers = others.allSatisfy { s.contributorVersion($0) != nil }
            return s.updatesReceived > 0 && fromOthers ? .done(s) : .waiting(s.description)
        })
    }
    return readings
}

/// `leuknode dataset synth`: a small labelled folder of synthetic blood-cell images.
func synthesizeDataset(_ scratch: Scratch, name: String, count: Int, seed: Int, site: Int) async throws -> String {
    let path = scratch.file("data-\(name)")
    try await scratch.run(["dataset", "synth", "--out", path, "--count", "\(count)", "--seed", "\(seed)", "--site", "\(site)"]).checked()
    return path
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Revocation and hostile bytes against running nodes. These nodes have no dataset: they only
/// average (their initial models) and serve, which keeps the tests light.
@Suite("Peer port of real nodes")
struct PeerPortE2ETests {
    static let gossip = ["--gossip-interval", "0.3"]

    /// Two mutually admitted, running, connected nodes.
    static func connectedPair(_ scratch: Scratch) async throws -> (TestNode, TestNode) {
        let a = try await TestNode.create("a", in: scratch), b = try await TestNode.create("b", in: scratch)
        try await a.admit(b)
        try await b.admit(a)
        try await a.start(gossip)
        try await b.start(gossip)
        for (node, other) in [(a, b), (b, a)] {
            _ = try await eventually("\(node.name) to connect to \(other.name) and receive its updates") { () -> Poll<Void> in
                let s = try await node.status()
                return s.peer(other)?.state == "connected" && s.updatesReceived > 0 ? .done(()) : .waiting(s.description)
            }
        }
        return (a, b)
    }

    @Test("peer remove through the running node closes the channel, and the removed peer is refused afterwards",
          .timeLimit(.minutes(2)))
    func revocationClosesAndRefuses() async throws {
        let scratch = try Scratch("revoke")
        defer { scratch.tearDown() }
        let (a, b) = try await Self.connectedPair(scratch)
        let before = try await a.status()
        #expect(!before.strangerFingerprints.contains(b.fingerprint))

        // By fingerprint, as the operator reads it out (the dashes must survive the trip to the API).
        let removed = try await scratch.run(["peer", "remove", "--data-dir", a.dataDir, b.fingerprint]).checked()
        #expect(removed.stdout.contains(b.fingerprint), "\(removed.stdout)")

        _ = try await eventually("both ends to drop the revoked channel") { () -> Poll<Void> in
            let sa = try await a.status(), sb = try await b.status()
            let aDropped = sa.peer(b).map { $0.state != "connected" } ?? true
            let bDropped = sb.peer(a).map { $0.state != "connected" } ?? false
            return aDropped && bDropped ? .done(()) : .waiting("a: \(sa) / b: \(sb)")
        }
        // b still admits a and keeps dialling: a refuses it and lists it as a stranger.
        let refused = try await eventually("a to refuse the revoked peer") { () -> Poll<NodeStatusReading> in
            let s = try await a.status()
            return s.refusedConnections > before.refusedConnections && s.strangerFingerprints.contains(b.fingerprint)
                ? .done(s) : .waiting(s.description)
        }
        #expect(refused.peer(b) == nil || refused.peer(b)?.state != "connected")
        let received = refused.updatesReceived
        // No update from b gets in after the revocation: b's view of a never reconnects.
        let list = try await scratch.run(["peer", "list", "--data-dir", a.dataDir, "--json"]).checked().json()
        #expect(!list.array.contains { $0["fingerprint"].string == b.fingerprint }, "peer list still shows b: \(list)")
        let later = try await a.status()
        #expect(later.updatesReceived == received, "a accepted updates after revoking b: \(later)")
        #expect(try await b.status().peer(a)?.state != "connected")
        // b's view of a says why: its refused dials are connection faults of that peer.
        let faults = try await eventually("b to show a's refusals as faults") { () -> Poll<[String: Int]> in
            let s = try await b.status()
            guard let faults = s.peer(a)?.faults, !faults.isEmpty else { return .waiting("b: \(s)") }
            return .done(faults)
        }
        let table = try await scratch.run(["peer", "list", "--data-dir", b.dataDir]).checked().stdout
        #expect(faults.keys.contains { table.contains("\($0)=") }, "peer list shows no faults: \(table)")

        try await a.stop()
        try await b.stop()
    }

    @Test("random garbage on the peer port does not crash the node or disturb its admitted peer", .timeLimit(.minutes(2)))
    func garbageOnThePeerPort() async throws {
        let scratch = try Scratch("garbage")
        defer { scratch.tearDown() }
        let (a, b) = try await Self.connectedPair(scratch)
        let before = try await a.status()

        var generator = SystemRandomNumberGenerator()
        func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        let magic = Array("LEUK".utf8)
        var payloads: [[UInt8]] = [
            [], random(1), random(6), random(64), random(4096), random(300_000),
            [0xFF, 0xFF, 0xFF, 0xFF] + random(60),                                  // an absurd length prefix
            magic + [0x01, 0x00] + random(64),                                     // a hello of the right size with a bad tag
            magic + [0x01, 0x00] + random(10),                                     // a truncated hello
            magic + [0xFF, 0xFF] + random(64),                                     // an unknown version
            magic + [0x01, 0x00] + random(64) + random(70_000),                    // a hello followed by a flood
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),                       // a stray HTTP probe
        ]
        for _ in 0..<20 { payloads.append(random(Int.random(in: 1...2048))) }
        let port = a.peerPort, hostile = payloads
        let sent = await onBlockingThread { hostile.map { RawSocket.send($0, toPort: port) } }
        #expect(sent.contains(true), "no garbage connection could even be opened")

        // The node is alive, answers, and still talks to its admitted peer.
        #expect(a.isRunning, "the node died: \(a.log.suffix(1000)) \(a.errorLog.suffix(1000))")
        let after = try await eventually("the node to answer and keep its peer after the garbage") { () -> Poll<NodeStatusReading> in
            let s = try await a.status()
            return s.peer(b)?.state == "connected" && s.updatesReceived > before.updatesReceived ? .done(s) : .waiting(s.description)
        }
        #expect(after.refusedConnections > before.refusedConnections, "garbage connections were not counted as refused: \(after)")
        #expect(a.isRunning)
        try await a.stop()
        try await b.stop()
    }
}

/// Runs blocking socket work off the test's cooperative threads.
func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

/// A plain TCP client for hostile bytes.
enum RawSocket {
    /// Connects to 127.0.0.1:port, writes `bytes` (bounded by a 3 s send timeout, no SIGPIPE), lingers
    /// briefly to read whatever the node answers, and closes. Returns whether the connection opened.
    static func send(_ bytes: [UInt8], toPort port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var shortTimeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &shortTimeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withLoopbackAddress(port) { connect(fd, $0, $1) == 0 }
        guard connected else { return false }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }  // the node closed on us (or the timeout hit): that is its right
            offset += written
        }
        var sink = [UInt8](repeating: 0, count: 4096)
        _ = recv(fd, &sink, sink.count, 0)
        return true
    }
}

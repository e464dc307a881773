import Foundation
import LeukCore
import LeukCrypto
import LeukNet
import LeukNode
import LeukStore
import Testing

/// A settable clock, so which stranger is oldest is decided by the test.
final class SteppedClock: WallClock, @unchecked Sendable {
    // @unchecked Sendable: one test task sets and reads it.
    var current = Timestamp(nanosecondsSinceEpoch: 1_000_000_000_000_000_000)
    func now() -> Timestamp { current }
}

/// The hostile-peer suite's 200 strangers with fresh keys each left a record behind, so anyone could
/// grow a node's database and its `status` without bound. The table now keeps the latest knockers.
@Suite struct StrangerTableTests {
    @Test func theStrangersTableKeepsOnlyTheLatestKnockers() throws {
        let directory = NSTemporaryDirectory() + "leuknode-strangers-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try RecordStore(database: Database(path: directory + "/db", createIfMissing: true), identity: NodeIdentity.generate())
        let clock = SteppedClock()
        let registry = PeerRegistry(store: store, clock: clock)
        let limit = PeerRegistry.strangerLimit
        for k in 0..<(limit + 50) {
            clock.current = clock.current.adding(.seconds(1))
            try registry.recordStranger(fingerprint: String(format: "stranger-%04d", k), address: "127.0.0.3:\(k)")
        }
        // The first stranger knocks again: a known stranger is updated, not counted twice.
        clock.current = clock.current.adding(.seconds(1))
        try registry.recordStranger(fingerprint: String(format: "stranger-%04d", limit + 49), address: "127.0.0.3:9")
        let kept = try registry.strangers()
        #expect(kept.count == limit)
        #expect(Set(kept.map(\.fingerprint)) == Set((50..<(limit + 50)).map { String(format: "stranger-%04d", $0) }))
        #expect(kept.first { $0.fingerprint == String(format: "stranger-%04d", limit + 49) }?.attempts == 2)
    }

    /// Under CPU starvation, 1,000 strangers made a real node's memory climb from 90 to 249 MiB and go on
    /// climbing after they stopped: every refusal cost the service a metrics refresh (a pass over the
    /// shell's peers and the allowlist), so it fell behind, and the honest peers' verified updates
    /// (1.1 MiB each) queued behind the refusals. A refusal now costs a log line and, for a named
    /// stranger, a write to the strangers table; the next gossip tick publishes the count.
    @Test func refusalsCostTheNodeNoPassOverItsPeers() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        var core = PeerConnections(localID: node.identity.id)
        let now = Timestamp(nanosecondsSinceEpoch: 1_000_000_000_000_000_000)
        let before = await node.transport.peerReadings
        for k in 0..<50 {
            let connection = ConnectionID(.inbound, UInt64(k))
            _ = core.inboundAccepted(connection, address: "127.0.0.3:\(k)", now: now)
            let stranger = NodeIdentity.generate().publicIdentity
            for case let .report(event) in core.handshakeFailed(connection, failure: .handshake(.notAdmitted(stranger)), now: now) {
                node.transport.deliver(event)
            }
            _ = core.channelClosed(connection, now: now)
        }
        let registry = PeerRegistry(store: node.store)
        let recorded = try await eventually { try registry.strangers().count == 50 }
        let health = await node.federation.storageHealth()
        let count = try registry.strangers().count
        #expect(recorded, "\(count) strangers, \(health)")
        // Start-up may still be publishing its first reading; 50 refusals must not add 50 more.
        #expect(await node.transport.peerReadings <= before + 2)
        await node.federation.shutdown()
    }
}

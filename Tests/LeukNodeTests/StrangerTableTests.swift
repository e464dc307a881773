import Foundation
import LeukCore
import LeukCrypto
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
}

import Foundation
import LeukCore
import LeukCrypto
import LeukGossip
import LeukNet
@testable import LeukNode
import LeukStore
import LeukWire
import Testing

/// The gossip shell of a running node, driven through an in-memory transport: what it asks of the
/// network, what `status` counts, and what it writes to the store.
@Suite struct FederationServiceTests {
    @Test func oneRefusalCountsOnceUnderOneName() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        node.transport.deliver(.rejected(.badSignature, from: node.peer.id))
        node.transport.deliver(.rejected(.digestMismatch, from: node.peer.id))
        #expect(try await eventually { try await node.federation.status().rejected.values.reduce(0, +) >= 2 })

        let status = try await node.federation.status()
        // Before: bad_signature counted twice (wire + core), and a digest mismatch under two names.
        #expect(status.rejected == ["bad_signature": 1, "bad_digest": 1])
        #expect(status.peers.first?.rejected == ["bad_signature": 1, "bad_digest": 1])
        #expect((status.peers.first?.score ?? 0) < 0)
        await node.federation.shutdown()
    }

    @Test func peerRecordFieldsAreWrittenAndSurviveARestart() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        await node.transport.setTraffic(node.peer.id, received: 5000, sent: 700)
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        node.transport.deliver(.rejected(.malformed(field: "f", why: "w"), from: node.peer.id))
        node.transport.deliver(.peerDisconnected(node.peer.id, reason: nil))
        let registry = { PeerRegistry(store: node.store) }
        #expect(try await eventually { try registry().get(node.peer.id)?.rejected["malformed"] == 1 })

        let stored = try #require(try registry().get(node.peer.id))
        #expect(stored.bytesIn == 5000)
        #expect(stored.bytesOut == 700)
        #expect(stored.score < 0)

        // A restarted node shows the stored counters, and adds this run's on top of them.
        try await node.restart()
        let view = try #require(try await node.federation.peerViews().first)
        #expect(view.bytesIn == 5000)
        #expect(view.rejected == ["malformed": 1])
        await node.transport.setTraffic(node.peer.id, received: 100, sent: 1)
        #expect(try await node.federation.peerViews().first?.bytesIn == 5100)
        await node.federation.shutdown()
        #expect(try registry().get(node.peer.id)?.bytesIn == 5100)
    }

    @Test func storeFailuresAreCountedAndShownNotSwallowed() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        node.store.database.close()
        let parameters = await node.federation.currentParameters()
        await node.federation.applyLocalTraining(start: parameters, trained: parameters.map { $0 + 0.001 }, loss: 0.5, images: 8,
                                                 validationAccuracy: 0.5, validationLoss: 0.7)
        let health = await node.federation.storageHealth()
        #expect(health.failures >= 1)
        #expect(health.lastFailure?.contains("closed") == true)
    }

    @Test func gossipTicksSendASignedStateToConnectedPeers() async throws {
        let node = try NodeFixture(gossipInterval: .milliseconds(20))
        _ = try await node.federation.start()
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        #expect(await eventually { await !node.transport.sent.isEmpty })
        let first = try #require(await node.transport.sent.first)
        #expect(first.peer == node.peer.id)
        // What went out is a real signed update of this node's parameters.
        let verified = SignedModelUpdate.verify(first.update.bytes, now: SystemWallClock().now().adding(.seconds(1))) { author in
            author == node.identity.id ? .known : .unknown
        }
        let update = try verified.get()
        #expect(update.author == node.identity.id)
        #expect(update.parameters == node.model.parameters)
        await node.federation.shutdown()
    }

    @Test func aPeerThatKeepsSendingGarbageIsDisconnectedForACoolDown() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        for _ in 0..<20 { node.transport.deliver(.rejected(.badSignature, from: node.peer.id)) }
        #expect(await eventually { await !node.transport.disconnects.isEmpty })
        let disconnect = try #require(await node.transport.disconnects.first)
        #expect(disconnect.peer == node.peer.id)
        #expect((disconnect.coolDown ?? .zero) > .zero)
        await node.federation.shutdown()
    }
}

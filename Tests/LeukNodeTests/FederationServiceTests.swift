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

    @Test func theGossipBookkeepingRecordKeepsBenchesAndTheLastStepAndReadsVersion2() throws {
        let peer = NodeID(bytes: [UInt8](repeating: 7, count: 32))!
        let benched = PeerScoreCounters(outliers: 5, decayedAt: Timestamp(nanosecondsSinceEpoch: 10),
                                        bannedUntil: Timestamp(nanosecondsSinceEpoch: 99), shutOut: false)
        let record = GossipStateRecord(newestVersionByAuthor: [peer: 4], scores: [peer: benched], lastLocalStep: 0.25)
        var writer = BinaryWriter()
        record.encode(to: &writer)
        var reader = BinaryReader(writer.bytes)
        #expect(try GossipStateRecord(decoding: &reader, version: GossipStateRecord.formatVersion) == record)
        // A version-2 record (no bench flag, no step; written before benches kept sessions): every ban read as
        // one that closed the session, as it did then.
        var old = BinaryWriter()
        old.write(UInt32(1)); old.writeFixed(peer.bytes); old.write(UInt64(4))
        old.write(UInt32(1)); old.writeFixed(peer.bytes)
        old.write(0.0); old.write(0.0); old.write(0.0); old.write(UInt64(10)); old.write(UInt64(99)); old.write(5.0)
        var oldReader = BinaryReader(old.bytes)
        let read = try GossipStateRecord(decoding: &oldReader, version: 2)
        #expect(read.scores[peer]?.shutOut == true)
        #expect(read.scores[peer]?.bannedUntil == Timestamp(nanosecondsSinceEpoch: 99))
        #expect(read.lastLocalStep == nil)
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

    /// A model that blew up under an undefended attack trains to an infinite loss; `status` must still
    /// answer (it once failed with 500: JSON has no infinity), showing the figure as absent.
    @Test func aNonFiniteLossOrAccuracyIsShownAsAbsentAndStatusStillEncodes() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        let parameters = await node.federation.currentParameters()
        await node.federation.applyLocalTraining(start: parameters, trained: parameters, loss: .infinity, images: 8,
                                                 validationAccuracy: .nan, validationLoss: .nan)
        let status = try await node.federation.status()
        #expect(status.lastLoss == nil && status.validationAccuracy == nil)
        #expect(throws: Never.self) { try JSONEncoder().encode(status) }
        await node.federation.shutdown()
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

    /// The one peer view carries what the connection layer knows (faults, cool-down, updates sent) and
    /// what the gossip core knows (score, ban, updates accepted), under the API's snake_case keys.
    @Test func thePeerViewShowsConnectionFaultsAndTheGossipScoreAndBan() async throws {
        let node = try NodeFixture()
        _ = try await node.federation.start()
        let coolDown = SystemWallClock().now().adding(.seconds(30))
        await node.transport.setConnection(node.peer.id, faults: ["handshake_timeout": 2, "not_admitted": 1], updatesSent: 4,
                                           coolDownUntil: coolDown)
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        node.transport.deliver(.received(try update(from: node.peer, parameters: node.model.parameters), from: node.peer.id))
        for reason in [UpdateRejection.badSignature, .digestMismatch, .malformed(field: "f", why: "w")] {
            node.transport.deliver(.rejected(reason, from: node.peer.id))
        }
        #expect(await eventually { await !node.transport.disconnects.isEmpty }, "three refusals ban the peer")

        let view = try #require(try await node.federation.peerViews().first)
        #expect(view.faults == ["handshake_timeout": 2, "not_admitted": 1])
        #expect(view.coolDownUntil == coolDown.iso8601)
        #expect(view.updatesSent == 4)
        #expect(view.updatesReceived == 1)
        #expect(view.score < -50)
        let bannedUntil = try #require(view.bannedUntil.flatMap { Timestamp(iso8601: $0) })
        #expect(bannedUntil > SystemWallClock().now())
        #expect(view.ban == .disconnect, "refused frames are protocol faults: the session is closed, not benched")
        #expect(view.trust == 0, "a banned peer keeps none of its mixing weight")
        let shown = try #require(try await node.federation.status().peers.first)
        #expect(shown.faults == view.faults && shown.bannedUntil == view.bannedUntil, "status shows the same view")

        let keys = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(view)) as? [String: Any]).keys
        #expect(Set(["faults", "cool_down_until", "banned_until", "ban", "trust", "updates_received", "updates_sent"]).isSubset(of: keys))

        // A node that is not running has no live readings: nothing to show beyond the stored record.
        let offline = PeerView(id: node.peer.id, record: try #require(try PeerRegistry(store: node.store).get(node.peer.id)),
                               state: .offline)
        #expect(offline.faults.isEmpty && offline.coolDownUntil == nil && offline.bannedUntil == nil && offline.ban == nil && offline.trust == 1)
        #expect(offline.updatesReceived == 0 && offline.updatesSent == 0 && offline.distance == nil)
        await node.federation.shutdown()
    }

    /// A one-class site learns the federation's class mix from its peers' signed updates: its own counts go
    /// out in every update it sends, a connected peer's reported counts are added to them, and a peer that is
    /// gone stops counting.
    @Test func theNeighbourhoodsClassCountsComeFromSignedUpdates() async throws {
        let node = try NodeFixture(gossipInterval: .milliseconds(20))
        _ = try await node.federation.start()
        #expect(await node.federation.neighbourhoodClassCounts() == nil, "no peer has reported yet")
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        #expect(await eventually { await !node.transport.sent.isEmpty })
        let sent = try #require(await node.transport.sent.first)
        let own = try SignedModelUpdate.verify(sent.update.bytes, now: SystemWallClock().now().adding(.seconds(1))) { _ in .known }.get()
        #expect(own.metadata.classCounts == [10, 0], "this hem-only node reports its counts")

        node.transport.deliver(.received(try update(from: node.peer, parameters: node.model.parameters, classCounts: [2, 30]),
                                         from: node.peer.id))
        #expect(await eventually { await node.federation.neighbourhoodClassCounts() == [12, 30] })
        node.transport.deliver(.peerDisconnected(node.peer.id, reason: nil))
        #expect(await eventually { await node.federation.neighbourhoodClassCounts() == nil }, "a disconnected peer's counts stop counting")
        await node.federation.shutdown()
    }

    /// The trainer gets each reporting peer's counts apart (the adaptive balance tells a peer that misses a class
    /// from one that balances its own mix), and a newer update replaces a peer's counts.
    @Test func eachPeersClassCountsReachTheTrainerApart() async throws {
        let node = try NodeFixture(gossipInterval: .milliseconds(20))
        _ = try await node.federation.start()
        #expect(await node.federation.neighbourClassCounts().isEmpty)
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        node.transport.deliver(.received(try update(from: node.peer, parameters: node.model.parameters, classCounts: [2, 30]),
                                         from: node.peer.id))
        #expect(await eventually { await node.federation.neighbourClassCounts() == [[2, 30]] })
        node.transport.deliver(.received(try update(from: node.peer, parameters: node.model.parameters, classCounts: [0, 30], version: 2),
                                         from: node.peer.id))
        #expect(await eventually { await node.federation.neighbourClassCounts() == [[0, 30]] })
        #expect(await node.federation.neighbourhoodClassCounts() == [10, 30])
        await node.federation.shutdown()
    }

    /// `--no-share-class-counts`: the node's updates carry no counts, but it still learns its peers'.
    @Test func aNodeThatSharesNoClassCountsStillUsesItsPeers() async throws {
        let node = try NodeFixture(gossipInterval: .milliseconds(20), reportsClassCounts: false)
        _ = try await node.federation.start()
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        #expect(await eventually { await !node.transport.sent.isEmpty })
        let sent = try #require(await node.transport.sent.first)
        let own = try SignedModelUpdate.verify(sent.update.bytes, now: SystemWallClock().now().adding(.seconds(1))) { _ in .known }.get()
        #expect(own.metadata.classCounts.isEmpty)
        node.transport.deliver(.received(try update(from: node.peer, parameters: node.model.parameters, classCounts: [2, 30]),
                                         from: node.peer.id))
        #expect(await eventually { await node.federation.neighbourhoodClassCounts() == [12, 30] })
        await node.federation.shutdown()
    }

    /// A verified update `peer` signed, as the network shell hands it over.
    private func update(from peer: NodeIdentity, parameters: [Float], classCounts: [UInt64] = [], version: UInt64 = 1) throws -> ModelUpdate {
        let now = SystemWallClock().now()
        let metadata = ModelUpdateMetadata(
            version: version, timestamp: now, sampleCount: 40, round: 1, degree: 1, metrics: ValidationMetrics(accuracy: 0.5, loss: 0.7),
            architecture: "leuknet-s", parents: [], classes: ["hem", "all"], neighborhoodSamples: 50, classCounts: classCounts)
        let sealed = SealedModelUpdate(metadata: metadata, parameters: parameters, author: peer.signing)
        return try SignedModelUpdate.verify(sealed.bytes, now: now) { $0 == peer.id ? .known : .unknown }.get()
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

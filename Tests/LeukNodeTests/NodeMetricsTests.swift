import Foundation
import LeukCore
import LeukCrypto
import LeukGossip
import LeukNet
@testable import LeukNode
import LeukWire
import Metrics
import Prometheus
import Testing

/// The node's federation metrics, read back through a real Prometheus registry rendered to text
/// (what `/metrics` serves), with the service driven over the in-memory transport. Each test checks
/// the metrics against `status()`, the other view of the same facts.
@Suite struct NodeMetricsTests {
    @Test func aRejectionCountsOnceUnderItsReasonAsStatusCountsIt() async throws {
        let registry = PrometheusCollectorRegistry()
        let node = try NodeFixture(metrics: NodeMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        _ = try await node.federation.start()
        node.transport.deliver(.peerConnected(node.peer.id, address: "127.0.0.1:1", direction: .inbound))
        // One refusal by the wire, one accepted update, and the same update again: a replay the core refuses.
        node.transport.deliver(.rejected(.badSignature, from: node.peer.id))
        let update = try signedUpdate(from: node.peer, version: 1, parameters: node.model.parameters.map { $0 + 0.01 })
        node.transport.deliver(.received(update, from: node.peer.id))
        node.transport.deliver(.received(update, from: node.peer.id))
        #expect(try await eventually { try await node.federation.status().rejected.values.reduce(0, +) >= 2 })

        let status = try await node.federation.status()
        let text = registry.text
        #expect(status.rejected == ["bad_signature": 1, "replay": 1])
        for reason in RejectionReason.allCases {
            let series = #"leuknode_updates_rejected_total{reason="\#(reason.rawValue)"}"#
            #expect(text.value(of: series) == Double(status.rejected[reason.rawValue] ?? 0), "\(series)")
        }
        #expect(text.value(of: "leuknode_gossip_updates_received_total") == 1)
        #expect(status.updatesReceived == 1)
        let distance = try #require(status.neighborDistance)
        #expect(text.value(of: "leuknode_consensus_distance") == distance)
        #expect((text.value(of: "leuknode_last_update_received_timestamp_seconds") ?? 0) > 1_700_000_000)
        #expect(text.value(of: #"leuknode_peers{state="connected"}"#) == 0, "the memory transport reports no live state yet")
        #expect(text.value(of: #"leuknode_peers{state="unreachable"}"#) == 1)
        await node.federation.shutdown()
    }

    @Test func trainingRoundsAndTrafficMoveTheirMetricsLikeStatus() async throws {
        let registry = PrometheusCollectorRegistry()
        let node = try NodeFixture(metrics: NodeMetrics(factory: PrometheusMetricsFactory(registry: registry)))
        _ = try await node.federation.start()
        // Nothing known yet: NaN, not a loss or distance of 0 that would read as a perfect model.
        #expect(registry.text.value(of: "leuknode_training_loss")?.isNaN == true)
        #expect(registry.text.value(of: "leuknode_consensus_distance")?.isNaN == true)
        #expect(registry.text.value(of: "leuknode_federation_round") == 0)

        await node.transport.setTraffic(node.peer.id, received: 5000, sent: 700)
        let parameters = await node.federation.currentParameters()
        await node.federation.applyLocalTraining(start: parameters, trained: parameters.map { $0 + 0.001 }, loss: 0.5, images: 8,
                                                 validationAccuracy: 0.75, validationLoss: 0.6)
        var status = try await node.federation.status()
        var text = registry.text
        #expect(text.value(of: "leuknode_federation_round") == Double(status.round))
        #expect(status.round == 1)
        #expect(text.value(of: "leuknode_training_loss") == status.lastLoss)
        #expect(text.value(of: "leuknode_validation_accuracy_ratio") == status.validationAccuracy)
        #expect(text.value(of: "leuknode_training_images_total") == 8)
        #expect(text.value(of: "leuknode_model_version") == Double(status.model.version))
        #expect(text.value(of: "leuknode_gossip_bytes_sent_total") == Double(status.peers.map(\.bytesOut).reduce(0, +)))
        #expect(text.value(of: "leuknode_gossip_bytes_received_total") == 5000)
        #expect(text.value(of: #"leuknode_peers{state="connected"}"#) == 1)

        // The next round: the round gauge moves, the counters grow by exactly the new amounts.
        await node.transport.setTraffic(node.peer.id, received: 5000, sent: 1900)
        await node.federation.applyLocalTraining(start: parameters, trained: parameters.map { $0 + 0.002 }, loss: 0.25, images: 8,
                                                 validationAccuracy: 0.8, validationLoss: 0.5)
        status = try await node.federation.status()
        text = registry.text
        #expect(text.value(of: "leuknode_federation_round") == 2)
        #expect(text.value(of: "leuknode_training_loss") == 0.25)
        #expect(text.value(of: "leuknode_training_images_total") == 16)
        #expect(text.value(of: "leuknode_gossip_bytes_sent_total") == 1900)
        #expect(text.value(of: "leuknode_gossip_updates_sent_total") == Double(status.updatesSent))
        #expect(text.value(of: "leuknode_store_failures_total") == Double(status.storageErrors))
        await node.federation.shutdown()
    }

    /// Two refreshes can cross (each awaits the shell): an older reading must not add traffic twice
    /// or take a counter back.
    @Test func anOlderReadingAddsNothing() throws {
        let registry = PrometheusCollectorRegistry()
        var metrics = NodeMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let peer = NodeIdentity.generate().id
        func reading(sent: UInt64, rejected: Int) -> NodeMetrics.Reading {
            NodeMetrics.Reading(trainingRound: 0, lastLoss: nil, validationAccuracy: nil, trainingImages: 0, modelVersion: 0,
                                gossipRound: 0, peerStates: nil, traffic: [peer: (received: 0, sent: sent)], updatesSent: 0,
                                updatesReceived: 0, rejected: [.malformed: rejected], consensusDistance: nil,
                                refusedConnections: 0, storageFailures: 0, lastUpdateReceived: nil)
        }
        metrics.publish(reading(sent: 100, rejected: 2))
        metrics.publish(reading(sent: 50, rejected: 1))
        #expect(registry.text.value(of: "leuknode_gossip_bytes_sent_total") == 100)
        #expect(registry.text.value(of: #"leuknode_updates_rejected_total{reason="malformed"}"#) == 2)
        metrics.publish(reading(sent: 150, rejected: 3))
        #expect(registry.text.value(of: "leuknode_gossip_bytes_sent_total") == 150)
        #expect(registry.text.value(of: #"leuknode_updates_rejected_total{reason="malformed"}"#) == 3)
    }

    /// A real signed update from `author`, verified as the network shell would before reporting it.
    func signedUpdate(from author: NodeIdentity, version: UInt64, parameters: [Float]) throws -> ModelUpdate {
        let now = SystemWallClock().now()
        let metadata = ModelUpdateMetadata(version: version, timestamp: now, sampleCount: 10, round: 1, degree: 1,
                                           metrics: ValidationMetrics(accuracy: 0.5, loss: 0.7), architecture: "leuknet-s",
                                           parents: [], classes: ["hem", "all"])
        let sealed = SealedModelUpdate(metadata: metadata, parameters: parameters, author: author.signing)
        return try SignedModelUpdate.verify(sealed.bytes, now: now.adding(.seconds(1))) { id in
            id == author.id ? .known : .unknown
        }.get()
    }
}

extension PrometheusCollectorRegistry {
    /// The registry in the text exposition format, as `/metrics` serves it.
    var text: String {
        var buffer: [UInt8] = []
        emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

extension String {
    /// The value of one series (`name` or `name{label="value"}`) in exposition text; nil if absent.
    func value(of series: String) -> Double? {
        for line in split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }
}

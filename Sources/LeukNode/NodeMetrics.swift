import LeukCore
import LeukGossip
public import Metrics

/// The node's federation metrics: the one type that owns their swift-metrics handles.
///
/// The node layer speaks swift-metrics only; `leuknode start` bootstraps it with a
/// `PrometheusMetricsFactory` on the registry `/metrics` serves, so these appear next to the API's
/// own families without a second metrics stack. Tests pass their own factory instead of bootstrapping
/// the process-wide one (which can be done once per process, and tests run in parallel).
///
/// Values are not counted a second time here: `FederationService` hands over a `Reading` built from
/// the same fields `status()` reports (the gossip core's tallies, the shell's traffic), and the
/// counters advance by how much those totals grew. A rejection is therefore counted once, where the
/// core counts it, and the metrics cannot drift from `leuknode status`.
public struct NodeMetrics: Sendable {
    /// The facts at one moment, in the node's own units. Every field is a total since the node
    /// started (or a current value), never a delta, so publishing the same reading twice is harmless.
    struct Reading {
        var trainingRound: UInt64
        var lastLoss: Double?
        var validationAccuracy: Double?
        var trainingImages: UInt64
        var modelVersion: UInt64
        var gossipRound: UInt64
        /// One entry per admitted peer, its state as `status` shows it; nil when the peer list could
        /// not be read (the previous gauge values stay).
        var peerStates: [PeerView.State]?
        /// Bytes per peer connection since start, as the network shell counts them.
        var traffic: [NodeID: (received: UInt64, sent: UInt64)]
        var updatesSent: Int
        var updatesReceived: Int
        var rejected: [RejectionReason: Int]
        var consensusDistance: Double?
        var refusedConnections: Int
        var storageFailures: Int
        var lastUpdateReceived: Timestamp?
    }

    /// The peer states a running node reports (`offline` only appears when the node is not running).
    static let peerStates: [PeerView.State] = [.connected, .connecting, .unreachable, .refused]

    private let round: Gauge
    private let gossipRound: Gauge
    private let loss: Gauge
    private let accuracy: Gauge
    private let modelVersion: Gauge
    private let distance: Gauge
    private let lastUpdate: Gauge
    private let peers: [PeerView.State: Gauge]
    private let images: Counter
    private let bytesSent: Counter
    private let bytesReceived: Counter
    private let updatesSent: Counter
    private let updatesReceived: Counter
    private let refused: Counter
    private let storeFailures: Counter
    private let rejected: [RejectionReason: Counter]

    /// What the counters already contain, so the next reading adds only the growth.
    private var counted = Totals()
    private var trafficCounted: [NodeID: (received: UInt64, sent: UInt64)] = [:]

    private struct Totals {
        var images: UInt64 = 0
        var updatesSent = 0
        var updatesReceived = 0
        var refused = 0
        var storeFailures = 0
        var rejected: [RejectionReason: Int] = [:]
    }

    /// - Parameter factory: where the handles live; the process-wide factory by default, which
    ///   `leuknode start` bootstraps with Prometheus (elsewhere it is swift-metrics' no-op factory).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Gauge {
            Gauge(label: "leuknode_" + name, dimensions: dimensions, factory: factory)
        }
        func counter(_ name: String, _ dimensions: [(String, String)] = []) -> Counter {
            Counter(label: "leuknode_" + name, dimensions: dimensions, factory: factory)
        }
        round = gauge("federation_round")
        gossipRound = gauge("gossip_round")
        loss = gauge("training_loss")
        accuracy = gauge("validation_accuracy_ratio")
        modelVersion = gauge("model_version")
        distance = gauge("consensus_distance")
        lastUpdate = gauge("last_update_received_timestamp_seconds")
        // Every label value exists from the start at 0, so a dashboard's rate() sees the first event.
        peers = Dictionary(uniqueKeysWithValues: Self.peerStates.map { ($0, gauge("peers", [("state", $0.rawValue)])) })
        images = counter("training_images_total")
        bytesSent = counter("gossip_bytes_sent_total")
        bytesReceived = counter("gossip_bytes_received_total")
        updatesSent = counter("gossip_updates_sent_total")
        updatesReceived = counter("gossip_updates_received_total")
        refused = counter("refused_connections_total")
        storeFailures = counter("store_failures_total")
        rejected = Dictionary(uniqueKeysWithValues: RejectionReason.allCases.map {
            ($0, counter("updates_rejected_total", [("reason", $0.rawValue)]))
        })
        // Unknown values are NaN rather than 0: a loss or distance of 0 would read as a perfect model.
        for unknown in [loss, accuracy, distance] { unknown.record(Double.nan) }
    }

    /// Sets the gauges to the reading and advances each counter by how much its total grew.
    mutating func publish(_ reading: Reading) {
        round.record(Double(reading.trainingRound))
        gossipRound.record(Double(reading.gossipRound))
        loss.record(reading.lastLoss ?? .nan)
        accuracy.record(reading.validationAccuracy ?? .nan)
        modelVersion.record(Double(reading.modelVersion))
        distance.record(reading.consensusDistance ?? .nan)
        lastUpdate.record(reading.lastUpdateReceived.map { Double($0.nanosecondsSinceEpoch) / 1e9 } ?? 0)
        if let states = reading.peerStates {
            for (state, gauge) in peers { gauge.record(states.count(where: { $0 == state })) }
        }

        Self.advance(images, from: &counted.images, to: reading.trainingImages)
        Self.advance(updatesSent, from: &counted.updatesSent, to: reading.updatesSent)
        Self.advance(updatesReceived, from: &counted.updatesReceived, to: reading.updatesReceived)
        Self.advance(refused, from: &counted.refused, to: reading.refusedConnections)
        Self.advance(storeFailures, from: &counted.storeFailures, to: reading.storageFailures)
        for (reason, counter) in rejected {
            Self.advance(counter, from: &counted.rejected[reason, default: 0], to: reading.rejected[reason] ?? 0)
        }

        // Per peer, so that the totals of different peers cannot mask each other; a reading older
        // than one already published (two refreshes crossing) adds nothing.
        var sent: UInt64 = 0, received: UInt64 = 0
        for (peer, now) in reading.traffic {
            let before = trafficCounted[peer] ?? (0, 0)
            received += now.received > before.received ? now.received - before.received : 0
            sent += now.sent > before.sent ? now.sent - before.sent : 0
            trafficCounted[peer] = (max(before.received, now.received), max(before.sent, now.sent))
        }
        if sent > 0 { bytesSent.increment(by: Int64(clamping: sent)) }
        if received > 0 { bytesReceived.increment(by: Int64(clamping: received)) }
    }

    /// Adds the growth of a monotonic total to its counter; a smaller total (an older reading) adds nothing.
    private static func advance<T: BinaryInteger>(_ counter: Counter, from counted: inout T, to total: T) {
        guard total > counted else { return }
        counter.increment(by: Int64(clamping: total - counted))
        counted = total
    }
}

import Foundation
import LeukCore
import Testing
@testable import LeukGossip

/// Deterministic simulation of both pure cores of a node, `PeerConnections` and `GossipInstance`, wired as
/// the node wires them (`ConnectedSimulator`), under seeded schedules of faults: partitions and heals, loss,
/// duplication, delay and reordering bursts, crashes and restarts from the last snapshot, clocks offset by up
/// to four minutes and drifting, strangers knocking (some never finishing their hello), an admitted peer
/// revoked mid-run, an admitted peer sending garbage, and one whose clock is beyond the allowed skew.
///
/// Invariants checked on every event (the simulator's `violations`): no session and no mixed state for a key
/// that is not admitted; no accepted version at or below one the node accepted before, across restarts; no
/// session or accepted state from a peer inside its ban or cool-down, across restarts. After every fault is
/// lifted the honest nodes agree within the spectral bound plus the reconnection allowance, and without
/// faults pure averaging keeps the sample-weighted mean. A failing seed prints the command that replays it.
@Suite struct ConnectedFaultScheduleTests {
    struct Scenario {
        var setup: ConnectedSimulator.Setup
        var honestCount: Int
        var faulty: Bool
        var faultRounds: Int
        var seed: UInt64

        init(seed: UInt64) {
            var rng = SeededGenerator(seed: seed &* 0xD1B5_4A32_D192_ED03)
            let n = 4 + Int(rng.next() % 5)
            var topology: GossipTopology = switch rng.next() % 3 {
            case 0: .full
            case 1: .ring
            default: .randomRegular(degree: min(3 + Int(rng.next() % 2), n - 1))
            }
            if case let .randomRegular(degree) = topology, (n * degree) % 2 == 1 { topology = .full }
            var adjacency = topology.adjacency(nodeCount: n, rng: &rng)
            faulty = rng.next() % 4 != 0
            var roles = Array(repeating: ConnectedSimulator.Role.honest, count: n)
            if faulty {
                if rng.next() % 2 == 0 { roles.append(.garbler) }
                if rng.next() % 2 == 0 { roles.append(.revoked) }
                if rng.next() % 3 == 0 { roles.append(.fastClock) }
            }
            // Each extra node is admitted by two honest nodes, and admits them.
            for extra in n..<roles.count {
                let first = Int(rng.next() % UInt64(n))
                let second = (first + 1 + Int(rng.next() % UInt64(n - 1))) % n
                adjacency.append([first, second])
                adjacency[first].append(extra)
                adjacency[second].append(extra)
            }
            let all = roles.count
            let offsets: [Int64] = roles.map { role in
                let honestOffset = Int64(rng.next() % 480_000_000_001) - 240_000_000_000
                return role == .fastClock ? 1_200_000_000_000 + honestOffset : honestOffset
            }
            let isFaulty = faulty
            let drift = roles.map { _ in isFaulty ? Double(Int(rng.next() % 401) - 200) : 0 }
            let rule: ClippingRule = faulty && rng.next() % 2 == 0 ? AggregationRule.defaultRule.clipping(trim: 1) : .none
            setup = ConnectedSimulator.Setup(
                roles: roles, adjacency: adjacency, counts: (0..<all).map { _ in 1 + Int(rng.next() % 400) },
                initial: (0..<all).map { _ in (0..<3).map { _ in Float(rng.nextGaussian()) } },
                clockOffsets: offsets, driftPPM: drift, strangers: Int(rng.next() % 4),
                revocationRound: roles.contains(.revoked) ? 3 + Int(rng.next() % 10) : nil,
                gossip: GossipConfiguration(tickJitter: 0, clipping: rule), seed: seed)
            honestCount = n
            faultRounds = 10 + Int(rng.next() % 20)
            self.seed = seed
        }

        var summary: String {
            let extras = setup.roles.filter { $0 != .honest }.map(\.description)
            return "\(honestCount) honest nodes\(extras.isEmpty ? "" : " + \(extras.joined(separator: ", "))"), \(setup.strangers) strangers, "
                + "\(setup.gossip.clipping == .none ? "mean" : "clipped"), \(faulty ? "faults" : "no faults")"
        }
    }

    struct Outcome: Equatable {
        var trace: [Double]
        var violations: [String]
        var counters: [String: Int]
        var meanBefore: [Double]
        var meanAfter: [Double]
        var atHeal: Double
        var end: Double
        var roundsAfterHeal: Int
        var bound: Int
        var peerStates: String
    }

    /// Rounds to reconnect after the heal, on top of the spectral bound: a keep-alive timeout (45 s) to drop a
    /// half-dead session, the longest redial backoff (60 s, jittered by half) and a ban's cool-down (60 s)
    /// that an honest peer may have earned from duplicated or reordered states, at one round a second.
    static let reconnectionRounds = 45 + 90 + 60

    /// The clipped rule moves a node towards each neighbour by at most its radius a round (the quantile of the
    /// neighbours' distances, never below its own last step), so after a wide split on a sparse graph (a ring,
    /// whose boundary nodes have one neighbour on each side) agreement comes in a linear phase before the
    /// geometric one, slower than exact averaging's spectral bound. Over the 1,000 seeds the slowest clipped
    /// seed needed 2.9 times that bound (seed 482, 1,355 rounds against 473); the allowance is 4 times.
    static let clippedSlowdown = 4

    static func run(_ s: Scenario) throws -> Outcome {
        var sim = try ConnectedSimulator(setup: s.setup)
        var rng = SeededGenerator(seed: s.seed ^ 0xFA17)
        let honest = sim.honest
        let counts = honest.map { Double(s.setup.counts[$0]) }
        let meanBefore = ParameterMath.weightedMean(honest.map { s.setup.initial[$0] }, weights: counts) ?? []
        sim.conditions.duplicate = Double(rng.next() % 11) / 100
        // Nodes under the clipped rule train, as they do in production: the own step is the floor of the clipping
        // radius. Without it (before this test found it), a node whose nearer neighbours sit on its own state gets a
        // radius of zero and never moves again; it survives restarts in the snapshot (docs/reliability.md).
        sim.training = s.setup.gossip.clipping != .none
        var trace: [Double] = []
        let nodes = s.setup.roles.count
        for _ in 0..<s.faultRounds {
            switch s.faulty ? rng.next() % 7 : 6 {
            case 0:
                sim.partition(cut: 1 + Int(rng.next() % UInt64(nodes - 1)))
            case 1:
                sim.heal()
            case 2:
                sim.conditions = ConnectedSimulator.Conditions(
                    drop: Double(rng.next() % 40) / 100, duplicate: Double(rng.next() % 11) / 100,
                    minimumDelay: 5_000_000, maximumDelay: 5_000_000 + rng.next() % 1_500_000_000)
            case 3:
                sim.crash(Int(rng.next() % UInt64(nodes)))
            case 4:
                for node in 0..<nodes where !sim.isAlive(node) { sim.restart(node) }
            case 5:
                sim.conditions = ConnectedSimulator.Conditions()
            default:
                break
            }
            trace.append(sim.runRound())
        }
        sim.heal()
        sim.training = false
        sim.conditions = ConnectedSimulator.Conditions()
        for node in 0..<nodes where !sim.isAlive(node) { sim.restart(node) }
        for _ in 0..<3 { trace.append(sim.runRound()) }
        let atHeal = sim.consensusDistance
        let honestAdjacency = honest.map { i in s.setup.adjacency[i].filter { honest.contains($0) } }
        let bound = (SeededFaultScheduleTests.roundsToAgree(adjacency: honestAdjacency, counts: honest.map { s.setup.counts[$0] })
            + Self.reconnectionRounds) * (s.setup.gossip.clipping == .none ? 1 : Self.clippedSlowdown)
        var end = atHeal
        var rounds = 0
        while rounds < bound {
            end = sim.runRound()
            rounds += 1
            trace.append(end)
            if end <= SeededFaultScheduleTests.agreed(atHeal) { break }
        }
        let finals = honest.compactMap { sim.parameters(of: $0) }
        let meanAfter = ParameterMath.weightedMean(finals, weights: counts) ?? []
        return Outcome(trace: trace, violations: sim.violations, counters: sim.counters, meanBefore: meanBefore, meanAfter: meanAfter,
                       atHeal: atHeal, end: end, roundsAfterHeal: rounds, bound: bound,
                       peerStates: sim.peerStates)
    }

    @Test func everySeedKeepsTheInvariants() throws {
        var failures: [String] = []
        var exercised: [String: Int] = [:]
        var slowest = (rounds: 0, bound: 0, seed: UInt64(0))
        for seed in SeededFaultScheduleTests.seeds {
            let scenario = Scenario(seed: seed)
            let outcome = try Self.run(scenario)
            let replay = "LEUKNODE_SIM_SEED=\(seed) swift test --filter ConnectedFaultScheduleTests"
            func fail(_ what: String) { failures.append("seed \(seed) (\(scenario.summary)): \(what); replay: \(replay)") }
            for v in outcome.violations.prefix(3) { fail(v) }
            if outcome.end > SeededFaultScheduleTests.agreed(outcome.atHeal) {
                fail("no agreement within \(outcome.bound) rounds after the heal: \(outcome.atHeal) -> \(outcome.end); peers: \(outcome.peerStates)")
            }
            if !scenario.faulty {
                let drift = zip(outcome.meanBefore, outcome.meanAfter).map { abs($0 - $1) }.max() ?? 0
                if drift > 1e-4 { fail("the weighted mean moved by \(drift)") }
            }
            if seed % 50 == 0, try Self.run(scenario) != outcome { fail("the replay differs") }
            exercised.merge(outcome.counters, uniquingKeysWith: +)
            if outcome.roundsAfterHeal > slowest.rounds { slowest = (outcome.roundsAfterHeal, outcome.bound, seed) }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(8).joined(separator: "\n"))")
        // The invariants are only as good as the faults that reached them: over the default thousand seeds each
        // kind must have happened.
        if SeededFaultScheduleTests.seeds.count >= 1_000 {
            for what in ["refused: not_admitted (stranger)", "refused: not_admitted", "refused: handshake_timeout", "refused: timestamp_in_future",
                         "replays refused", "bans", "garbage frames", "sessions established"] {
                #expect(exercised[what, default: 0] > 0, "no seed exercised \(what)")
            }
        }
        print("ConnectedFaultScheduleTests: \(SeededFaultScheduleTests.seeds.count) seeds; exercised \(exercised.sorted { $0.key < $1.key }); slowest agreement \(slowest.rounds) rounds after the heal (bound \(slowest.bound)), seed \(slowest.seed)")
    }
}

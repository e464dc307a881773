import Foundation
import LeukCore
import Testing
@testable import LeukGossip

/// Deterministic simulation of the pure gossip core under a seeded fault schedule (the FoundationDB habit):
/// every seed draws a federation (size, topology, sample counts) and a schedule of partitions, heals, loss,
/// delay and reordering bursts, crashes and restarts, runs it in `GossipSimulator`, and checks invariants
/// that must hold for every schedule. A failing seed names itself and replays exactly with
/// `LEUKNODE_SIM_SEED=<seed> swift test --filter SeededFaultScheduleTests`; `LEUKNODE_SIM_SEEDS=<n>` runs more.
@Suite struct SeededFaultScheduleTests {
    /// The seeds to run: one named seed, else `LEUKNODE_SIM_SEEDS` (default 1,000) from 1.
    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let one = environment["LEUKNODE_SIM_SEED"].flatMap(UInt64.init) { return [one] }
        let count = environment["LEUKNODE_SIM_SEEDS"].flatMap(Int.init) ?? 1_000
        return (1...UInt64(max(count, 1))).map { $0 }
    }

    /// One federation and its fault schedule, drawn from `seed`.
    struct Scenario {
        var nodes: Int
        var topology: GossipTopology
        var counts: [Int]
        var initial: [[Float]]
        /// A schedule with faults (partitions, loss and delay bursts, crashes). Without faults every exchange is
        /// pairwise symmetric and pure averaging must keep the sample-weighted mean; a fault breaks that symmetry
        /// (a node still mixes a neighbour's last state for up to `stateTimeToLive` after the link is cut, the
        /// neighbour does not), so then only agreement and the range are checked.
        var faulty: Bool
        var faultRounds: Int
        var seed: UInt64

        init(seed: UInt64) {
            var rng = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15)
            nodes = 4 + Int(rng.next() % 5)
            topology = switch rng.next() % 3 {
            case 0: .full
            case 1: .ring
            default: .randomRegular(degree: min(3 + Int(rng.next() % 2), nodes - 1))
            }
            if case let .randomRegular(degree) = topology, (nodes * degree) % 2 == 1 { topology = .full }
            counts = (0..<nodes).map { _ in 1 + Int(rng.next() % 400) }
            initial = (0..<nodes).map { _ in (0..<3).map { _ in Float(rng.nextGaussian()) } }
            faulty = rng.next() % 4 != 0
            faultRounds = 10 + Int(rng.next() % 20)
            self.seed = seed
        }
    }

    /// Runs `scenario`: `faultRounds` rounds under its faults, then every fault lifted (heal, restart, a clean
    /// network) and rounds until agreement. Returns the honest final states, the weighted mean before and after,
    /// and the consensus distance at the heal and at the end.
    static func run(_ s: Scenario) throws -> (finals: [[Float]], meanBefore: [Double], meanAfter: [Double], atHeal: Double, end: Double,
                                            trace: [Double], notes: String) {
        let gossip = GossipConfiguration(tickJitter: 0)
        var sim = try GossipSimulator(setup: SimulationSetup(topology: s.topology, gossip: gossip, seed: s.seed),
                                      initialParameters: s.initial, sampleCounts: s.counts)
        var rng = SeededGenerator(seed: s.seed ^ 0xFA17)
        let meanBefore = ParameterMath.weightedMean(s.initial, weights: s.counts.map(Double.init)) ?? []
        var trace: [Double] = []
        for _ in 0..<s.faultRounds {
            switch s.faulty ? rng.next() % 6 : 5 {
            case 0:
                let cut = 1 + Int(rng.next() % UInt64(s.nodes - 1))
                sim.partition([Set(0..<cut)])
            case 1:
                sim.heal()
            case 2:
                sim.setNetwork(NetworkConditions(dropProbability: Double(rng.next() % 40) / 100, minimumDelay: .milliseconds(5),
                                                 maximumDelay: .milliseconds(5 + Int64(rng.next() % 1500))))
            case 3:
                sim.crash(node: Int(rng.next() % UInt64(s.nodes)))
            case 4:
                for node in 0..<s.nodes where !sim.isAlive(node) { sim.restart(node: node) }
            default:
                break
            }
            trace.append(sim.runRound().consensusDistance)
        }
        sim.heal()
        sim.setNetwork(NetworkConditions())
        for node in 0..<s.nodes where !sim.isAlive(node) { sim.restart(node: node) }
        // Let restarted nodes reconnect before measuring.
        for _ in 0..<3 { trace.append(sim.runRound().consensusDistance) }
        let atHeal = sim.statistics().consensusDistance
        var end = atHeal
        // How many synchronous rounds the mixing matrix needs for the bound (`roundsToAgree`): the graph and the
        // sample counts set it (very unequal sites mix slowly), so the check is the theory's, not a guess.
        for _ in 0..<Self.roundsToAgree(adjacency: sim.adjacency, counts: s.counts) {
            end = sim.runRound().consensusDistance
            trace.append(end)
            if end <= Self.agreed(atHeal) { break }
        }
        let finals = (0..<s.nodes).compactMap { sim.parameters(of: $0) }
        let meanAfter = ParameterMath.weightedMean(finals, weights: s.counts.map(Double.init)) ?? []
        let down = (0..<s.nodes).flatMap { i in
            (sim.instance(of: i)?.peerSnapshots(now: sim.now) ?? []).filter { !$0.isUp }.compactMap { p in sim.nodeIDs.firstIndex(of: p.id).map { "\(i)x\($0)" } }
        }
        let notes = "links down at the end \(down), bans \(sim.disconnects.map { "\($0.node)->\($0.peer)" }), warnings \(sim.warnings.count): \(sim.warnings.prefix(3).map { "\($0.event)" })"
        return (finals, meanBefore, meanAfter, atHeal, end, trace, notes)
    }

    /// The rounds the reversible spectral bound gives for the distance to fall by `1e-3` (with the
    /// stationary-ratio term), plus slack for the asynchronous start after the heal: `2 k* + 20`.
    static func roundsToAgree(adjacency: [[Int]], counts: [Int]) -> Int {
        let weights = counts.map(Double.init)
        let lambda = secondLargestEigenvalueModulus(MetropolisHastings.mixingMatrix(adjacency: adjacency, sampleCounts: counts), weights: weights)
        let ratio = weights.max()! / weights.min()!
        guard lambda > 0, lambda < 1 else { return 20 }
        return 2 * Int(((log(1e-3) - 0.5 * log(ratio)) / log(lambda)).rounded(.up)) + 20
    }

    /// Agreement: a thousandth of the distance at the heal, or float precision on states of order 1.
    static func agreed(_ atHeal: Double) -> Double { max(1e-3 * atHeal, 1e-5) }

    @Test func everySeedKeepsTheInvariants() throws {
        var failures: [String] = []
        for seed in Self.seeds {
            let scenario = Scenario(seed: seed)
            let result = try Self.run(scenario)
            let replay = "LEUKNODE_SIM_SEED=\(seed) swift test --filter SeededFaultScheduleTests"
            func fail(_ what: String) { failures.append("seed \(seed) (\(scenario.nodes) nodes, \(scenario.topology), \(scenario.faulty ? "faults" : "no faults")): \(what); replay: \(replay)") }
            // 1. Nothing diverges: every state stays finite and inside the hull's scale.
            let scale = scenario.initial.flatMap { $0 }.map { abs(Double($0)) }.max() ?? 1
            if !result.finals.allSatisfy({ ParameterMath.allFinite($0) && $0.allSatisfy { abs(Double($0)) <= scale + 1e-3 } }) {
                fail("a state left the initial states' range")
            }
            // 2. Once every fault is lifted, the nodes agree again.
            if result.end > Self.agreed(result.atHeal) {
                fail("no agreement within the spectral bound after the heal: \(result.atHeal) -> \(result.end); \(result.notes)")
            }
            // 3. Pure averaging without faults keeps the sample-weighted mean, on any graph and any sample counts.
            if !scenario.faulty {
                let drift = zip(result.meanBefore, result.meanAfter).map { abs($0 - $1) }.max() ?? 0
                if drift > 1e-4 { fail("the weighted mean moved by \(drift)") }
            }
            // 4. The same seed replays exactly (checked on every 50th seed, which doubles its cost).
            if seed % 50 == 0, try Self.run(scenario).trace != result.trace { fail("the replay differs") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    }
}

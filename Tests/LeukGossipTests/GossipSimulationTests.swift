import Foundation
import LeukCore
import Testing
@testable import LeukGossip

@Suite struct GossipSimulationTests {
    /// Lock-step ticks and every state delivered within half an interval: the synchronous model in
    /// which one round of the protocol is exactly one multiplication by the mixing matrix.
    static let synchronous = GossipConfiguration(tickJitter: 0)

    @Test func oneSynchronousRoundIsOneMultiplicationByTheMixingMatrix() throws {
        let n = 12
        let x0 = gaussianVectors(count: n, width: 3, seed: 11)
        var rng = SeededGenerator(seed: 12)
        let counts = (0..<n).map { _ in 1 + Int(rng.next() % 100) }
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), gossip: Self.synchronous, seed: 13),
                                      initialParameters: x0, sampleCounts: counts)
        let w = MetropolisHastings.mixingMatrix(adjacency: sim.adjacency, sampleCounts: counts)
        _ = sim.runRound()  // first tick: states published, nothing to mix yet
        _ = sim.runRound()  // second tick: one mix; the states now report every node's full neighbourhood
        let x1 = try (0..<n).map { try #require(sim.parameters(of: $0)) }
        _ = sim.runRound()  // third tick: one multiplication by W
        for i in 0..<n {
            let expected = (0..<3).map { k in (0..<n).reduce(0.0) { $0 + w[i][$1] * Double(x1[$1][k]) } }
            let got = try #require(sim.parameters(of: i))
            for k in 0..<3 { #expect(abs(Double(got[k]) - expected[k]) < 1e-5) }
        }
    }

    /// 64 nodes, random 4-regular graph, equal weights. With W symmetric and SLEM lambda, the
    /// deviation from the mean obeys |e_k| <= lambda^k |e_0|, so consensus distance falls below
    /// eps * start within k* = ceil(ln eps / ln lambda) mixing rounds. The first round only publishes,
    /// so mixing rounds = rounds - 1.
    @Test func pureAveragingOn64NodesMeetsTheSpectralGapBound() throws {
        let n = 64
        let x0 = gaussianVectors(count: n, width: 8, seed: 21)
        let counts = Array(repeating: 100, count: n)
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), gossip: Self.synchronous, seed: 22),
                                      initialParameters: x0, sampleCounts: counts)
        #expect(sim.adjacency.allSatisfy { $0.count == 4 })
        let w = MetropolisHastings.mixingMatrix(adjacency: sim.adjacency, sampleCounts: counts)
        let lambda = secondLargestEigenvalueModulus(w, weights: counts.map(Double.init))
        #expect(lambda > 0 && lambda < 1)
        let eps = 1e-6
        let bound = Int((log(eps) / log(lambda)).rounded(.up))
        let start = sim.statistics().consensusDistance
        let reached = try #require(roundsUntilConsensus(&sim, fraction: eps, of: start, maxRounds: 2 * bound + 10))
        let mixingRounds = reached - 1
        print("spectral test: lambda2 = \(lambda), bound k* = \(bound), mixing rounds = \(mixingRounds)")
        #expect(mixingRounds <= bound)
        // Consistent from below too: a generic start cannot decay much faster than lambda allows.
        #expect(mixingRounds >= bound / 2)
    }

    /// Unequal sample counts: W is reversible with respect to pi ~ n, and the deviation from the
    /// sample-weighted mean obeys |e_k| <= sqrt(pi_max / pi_min) * lambda^k * |e_0| in the plain norm.
    @Test func weightedAveragingMeetsTheReversibleSpectralBound() throws {
        let n = 32
        let x0 = gaussianVectors(count: n, width: 4, seed: 25)
        var rng = SeededGenerator(seed: 26)
        let counts = (0..<n).map { _ in 10 + Int(rng.next() % 990) }
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), gossip: Self.synchronous, seed: 27),
                                      initialParameters: x0, sampleCounts: counts)
        let weights = counts.map(Double.init)
        let w = MetropolisHastings.mixingMatrix(adjacency: sim.adjacency, sampleCounts: counts)
        let lambda = secondLargestEigenvalueModulus(w, weights: weights)
        let ratio = weights.max()! / weights.min()!
        let eps = 1e-5
        let bound = Int(((log(eps) - 0.5 * log(ratio)) / log(lambda)).rounded(.up))
        let target = try #require(ParameterMath.weightedMean(x0, weights: weights))
        let start = ParameterMath.rootMeanSquareDistance(x0, to: target)
        var mixingRounds: Int?
        for _ in 0..<(bound + 10) {
            let stats = sim.runRound()
            let finals = (0..<n).compactMap { sim.parameters(of: $0) }
            if ParameterMath.rootMeanSquareDistance(finals, to: target) <= eps * start {
                mixingRounds = stats.round - 1
                break
            }
        }
        print("weighted spectral test: lambda2 = \(lambda), pi ratio = \(ratio), bound k* = \(bound), mixing rounds = \(mixingRounds ?? -1)")
        let rounds = try #require(mixingRounds)
        #expect(rounds <= bound)
    }

    @Test func consensusReturnsAfterAFiftyFiftyPartitionHeals() throws {
        let n = 64
        let x0 = (0..<n).map { i in gaussianVectors(count: 1, width: 4, seed: UInt64(100 + i), offset: i < n / 2 ? 3 : -3)[0] }
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), seed: 31),
                                      initialParameters: x0, sampleCounts: Array(repeating: 10, count: n))
        sim.partition([Set(0..<n / 2), Set(n / 2..<n)])
        var last = sim.statistics()
        for _ in 0..<60 { last = sim.runRound() }
        // The halves cannot agree while apart: each sits near its own mean (+3 or -3 per coordinate).
        #expect(last.consensusDistance > 4)
        sim.heal()
        let atHeal = last.consensusDistance
        let reached = roundsUntilConsensus(&sim, fraction: 1e-6, of: atHeal, maxRounds: 800)
        #expect(reached != nil)
    }

    @Test func convergesToTheSampleWeightedMean() throws {
        let n = 16
        let x0 = gaussianVectors(count: n, width: 4, seed: 41)
        var rng = SeededGenerator(seed: 42)
        let counts = (0..<n).map { i in i < 4 ? 2000 + Int(rng.next() % 500) : 10 + Int(rng.next() % 50) }
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), gossip: Self.synchronous, seed: 43),
                                      initialParameters: x0, sampleCounts: counts)
        let weighted = try #require(ParameterMath.weightedMean(x0, weights: counts.map(Double.init)))
        let plain = try #require(ParameterMath.weightedMean(x0, weights: Array(repeating: 1, count: n)))
        let start = sim.statistics().consensusDistance
        #expect(roundsUntilConsensus(&sim, fraction: 1e-6, of: start, maxRounds: 2000) != nil)
        let finals = (0..<n).compactMap { sim.parameters(of: $0) }
        let offWeighted = ParameterMath.rootMeanSquareDistance(finals, to: weighted)
        let offPlain = ParameterMath.rootMeanSquareDistance(finals, to: plain)
        #expect(offWeighted < 1e-4 * start)
        #expect(offPlain > 0.1)  // the test can tell the two means apart
    }

    @Test func messageLossDelaysAndReorderingStillConverge() throws {
        let n = 32
        let x0 = gaussianVectors(count: n, width: 4, seed: 51)
        let counts = Array(repeating: 10, count: n)
        let lossy = NetworkConditions(dropProbability: 0.2, minimumDelay: .milliseconds(10), maximumDelay: .milliseconds(1500))
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4), network: lossy, seed: 52),
                                      initialParameters: x0, sampleCounts: counts)
        let start = sim.statistics().consensusDistance
        _ = sim.runRound()
        let early = try #require(sim.runRound().meanNeighborDistance)
        let reached = roundsUntilConsensus(&sim, fraction: 1e-6, of: start, maxRounds: 1500)
        #expect(reached != nil)
        let late = try #require(sim.statistics().meanNeighborDistance)
        #expect(late < 1e-4 * early)  // what `leuknode status` shows as neighbor_distance falls
        let dropped = (0..<n).compactMap { sim.instance(of: $0) }.reduce(0) { $0 + ($1.rejected[.replay] ?? 0) }
        print("lossy run: consensus in \(reached ?? -1) rounds, \(dropped) out-of-order states refused as replays")
        #expect(dropped > 0)  // delays above one interval did reorder states...
        #expect(sim.disconnects.isEmpty)  // ...and no honest peer was banned for it.
        // Loss makes the weights momentarily asymmetric, so the agreed value may drift from the exact
        // mean, but it stays well inside the spread of the starting values.
        let mean = try #require(ParameterMath.weightedMean(x0, weights: counts.map(Double.init)))
        let finals = (0..<n).compactMap { sim.parameters(of: $0) }
        let drift = ParameterMath.rootMeanSquareDistance(finals, to: mean)
        print("lossy run: drift from the exact mean = \(drift), starting spread = \(start)")
        #expect(drift < 0.25 * start)
    }

    @Test func aCrashedNodeDoesNotStallOthersAndResumesFromItsSnapshot() throws {
        let n = 16
        let x0 = gaussianVectors(count: n, width: 4, seed: 61)
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 4),
                                                             gossip: GossipConfiguration(persistEveryRounds: 5), seed: 62),
                                      initialParameters: x0, sampleCounts: Array(repeating: 10, count: n))
        let start = sim.statistics().consensusDistance
        for _ in 0..<12 { _ = sim.runRound() }
        let stateAtCrash = try #require(sim.instance(of: 3))
        #expect(stateAtCrash.round > 10)
        sim.crash(node: 3)
        var stats: [SimulationRoundStatistics] = []
        for _ in 0..<30 { stats.append(sim.runRound()) }
        #expect(stats.last!.liveNodes == n - 1)
        #expect(stats.last!.consensusDistance < 1e-2 * start)  // the others went on
        let receivedBefore = sim.instance(of: sim.adjacency[3][0])!.peerSnapshots(now: sim.now)
            .first { $0.id == sim.nodeIDs[3] }!.updatesReceived
        sim.restart(node: 3)
        let resumed = try #require(sim.instance(of: 3))
        // It resumes from the snapshot persisted at round 10: not from scratch, and without what came after.
        #expect(resumed.round == 10)
        #expect(resumed.parameters != x0[3])
        #expect(resumed.parameters != stateAtCrash.parameters)
        // Back to full consensus (measured against the first start: a restart spread is already small and
        // Float parameters bottom out near 1e-7 of their magnitude).
        #expect(sim.statistics().liveNodes == n)
        #expect(roundsUntilConsensus(&sim, fraction: 1e-6, of: start, maxRounds: 800) != nil)
        let receivedAfter = sim.instance(of: sim.adjacency[3][0])!.peerSnapshots(now: sim.now)
            .first { $0.id == sim.nodeIDs[3] }!.updatesReceived
        #expect(receivedAfter > receivedBefore)  // its new versions were not taken for replays
    }

    @Test func sameSeedReplaysTheSameTraceAndAnotherSeedDoesNot() throws {
        func trace(seed: UInt64) throws -> ([SimulationRoundStatistics], [[Float]]) {
            let n = 20
            let setup = SimulationSetup(topology: .randomRegular(degree: 3),
                                        network: NetworkConditions(dropProbability: 0.1, maximumDelay: .milliseconds(900)),
                                        seed: seed)
            var sim = try GossipSimulator(setup: setup, initialParameters: gaussianVectors(count: n, width: 5, seed: 71),
                                          sampleCounts: Array(repeating: 10, count: n))
            var stats: [SimulationRoundStatistics] = []
            for r in 0..<40 {
                if r == 10 { sim.crash(node: 4); sim.partition([Set(0..<10)]) }
                if r == 20 { sim.restart(node: 4); sim.heal() }
                stats.append(sim.runRound())
            }
            return (stats, (0..<n).compactMap { sim.parameters(of: $0) })
        }
        let a = try trace(seed: 7), b = try trace(seed: 7), c = try trace(seed: 8)
        #expect(a.0 == b.0)
        #expect(a.1 == b.1)
        #expect(a.0 != c.0)
    }

    @Test func centredClippingBoundsAByzantinePeerInTheSimulation() throws {
        let n = 16
        let x0 = gaussianVectors(count: n, width: 4, seed: 81)
        let counts = Array(repeating: 10, count: n)
        let honestStart = try #require(ParameterMath.weightedMean(Array(x0[1...]), weights: Array(repeating: 1, count: n - 1)))
        func honestDrift(_ clipping: ClippingRule) throws -> Double {
            let setup = SimulationSetup(topology: .randomRegular(degree: 4), gossip: GossipConfiguration(clipping: clipping),
                                        seed: 82, byzantine: [0: .constant(1000)])
            var sim = try GossipSimulator(setup: setup, initialParameters: x0, sampleCounts: counts)
            for _ in 0..<40 { _ = sim.runRound() }
            let honest = sim.honestLiveNodes.compactMap { sim.parameters(of: $0) }
            return ParameterMath.rootMeanSquareDistance(honest, to: honestStart)
        }
        let plain = try honestDrift(.none)
        let clipped = try honestDrift(.adaptive(quantile: 0.5))
        let trimmed = try honestDrift(.trimmedMean(trim: 1))
        print("Byzantine constant 1000: honest drift without clipping \(plain), with centred clipping \(clipped), trimmed mean \(trimmed)")
        #expect(plain > 500)
        #expect(clipped < 5)
        // One attacker among each of its 4 neighbours' 4 neighbours: trimming one value per end removes it entirely.
        #expect(trimmed < 5)
    }

    @Test func theTrimmedMeanHoldsAgainstThreeAttackersOnACompleteGraphOfTen() throws {
        let n = 10
        let x0 = gaussianVectors(count: n, width: 6, seed: 85)
        let attackers: [Int: ByzantineBehaviour] = [2: .constant(1e4), 5: .constant(1e4), 7: .gaussianNoise(standardDeviation: 100)]
        let honest = (0..<n).filter { attackers[$0] == nil }
        let honestStart = try #require(ParameterMath.weightedMean(honest.map { x0[$0] }, weights: Array(repeating: 1, count: honest.count)))
        func finals(_ rule: ClippingRule) throws -> (drift: Double, consensus: Double) {
            let setup = SimulationSetup(topology: .full, gossip: GossipConfiguration(tickJitter: 0, clipping: rule), seed: 86,
                                        byzantine: attackers)
            var sim = try GossipSimulator(setup: setup, initialParameters: x0, sampleCounts: Array(repeating: 10, count: n))
            var last = sim.statistics()
            for _ in 0..<60 { last = sim.runRound() }
            let states = sim.honestLiveNodes.compactMap { sim.parameters(of: $0) }
            return (ParameterMath.rootMeanSquareDistance(states, to: honestStart), last.consensusDistance)
        }
        let plain = try finals(.none)
        let trimmed = try finals(.trimmedMean(trim: 3))
        #expect(plain.drift > 100)
        // The honest nodes agree and stay within their own starting spread (no pure averaging guarantee of the
        // exact mean: the trimmed values are the honest extremes).
        let spread = ParameterMath.rootMeanSquareDistance(honest.map { x0[$0] }, to: honestStart)
        #expect(trimmed.drift < spread, "trimmed drift \(trimmed.drift), honest spread \(spread)")
        #expect(trimmed.consensus < 1e-3 * spread)
    }

    @Test func peerEvaluationsScoreDownAndBenchAPeerWhoseModelIsPoor() throws {
        // Three nodes near the origin; node 2 publishes a constant model far from it. With two neighbours
        // each there is no distance evidence (that needs three), so the evaluations are the only evidence.
        // The "validation loss" is the squared distance from the origin; node 1 cannot judge (no split with
        // both classes) and records nothing.
        let n = 3
        let setup = SimulationSetup(topology: .full, gossip: GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)),
                                    seed: 87, byzantine: [2: .constant(5)])
        var sim = try GossipSimulator(setup: setup, initialParameters: gaussianVectors(count: n, width: 4, seed: 88).map { $0.map { $0 * 0.1 } },
                                      sampleCounts: Array(repeating: 10, count: n))
        func loss(_ x: [Float]) -> Double { x.reduce(0) { $0 + Double($1 * $1) } }
        for _ in 0..<6 {
            _ = sim.runRound()
            sim.evaluatePeers(of: 0, loss: loss)
            sim.evaluatePeers(of: 1) { _ in nil }
        }
        #expect(sim.benches.contains { $0.node == 0 && $0.peer == 2 }, "node 0 never benched the poor peer")
        #expect(!sim.benches.contains { $0.node == 1 }, "a node that cannot judge benched a peer")
        #expect(!sim.benches.contains { $0.peer != 2 }, "an honest peer was benched")
        #expect(sim.disconnects.isEmpty, "model evidence closed a session")
    }

    @Test func aNodeRestartedBeforeItsNeighboursNoticedTheCrashStaysConnected() throws {
        let n = 4
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .full, gossip: Self.synchronous, seed: 95),
                                      initialParameters: gaussianVectors(count: n, width: 2, seed: 96), sampleCounts: Array(repeating: 10, count: n))
        for _ in 0..<3 { _ = sim.runRound() }
        sim.crash(node: 0)
        _ = sim.runRound()
        sim.restart(node: 0)  // within the 3 s failure-detection delay: the neighbours' detectors fire after this
        for _ in 0..<6 { _ = sim.runRound() }
        for j in 1..<n {
            let view = try #require(sim.instance(of: j)?.peerSnapshots(now: sim.now).first { $0.id == sim.nodeIDs[0] })
            #expect(view.isUp, "node \(j) still thinks node 0 is down")
        }
    }

    @Test func topologiesHaveTheAdvertisedShape() {
        var rng = SeededGenerator(seed: 91)
        #expect(GossipTopology.ring.adjacency(nodeCount: 5, rng: &rng)[0] == [1, 4])
        #expect(GossipTopology.full.adjacency(nodeCount: 4, rng: &rng).allSatisfy { $0.count == 3 })
        let regular = GossipTopology.randomRegular(degree: 3).adjacency(nodeCount: 10, rng: &rng)
        #expect(regular.allSatisfy { Set($0).count == 3 })
        #expect(regular.enumerated().allSatisfy { i, list in list.allSatisfy { regular[$0].contains(i) && $0 != i } })
        #expect(GossipTopology(parsing: "random-4") == .randomRegular(degree: 4))
        #expect(GossipTopology(parsing: "star") == nil)
        #expect(GossipTopology.randomRegular(degree: 3).problem(nodeCount: 5) != nil)
        #expect(throws: SimulationSetupError.self) {
            try GossipSimulator(setup: SimulationSetup(topology: .randomRegular(degree: 3), seed: 1),
                                initialParameters: gaussianVectors(count: 5, width: 2, seed: 1), sampleCounts: Array(repeating: 1, count: 5))
        }
    }

    @Test func trainingHookRunsBetweenRoundsAndTrafficIsCounted() throws {
        struct PullTowardsOwnTarget: LocalTrainer {
            var calls = 0
            mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? {
                calls += 1
                // A step towards the node's own target value: a stand-in objective with a known optimum.
                let target = Float(node)
                return LocalTrainingResult(parameters: parameters.map { $0 + 0.1 * (target - $0) }, sampleCount: 10)
            }
        }
        let n = 8
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .ring, gossip: Self.synchronous, seed: 101),
                                      initialParameters: Array(repeating: [0, 0], count: n), sampleCounts: Array(repeating: 10, count: n))
        var trainer = PullTowardsOwnTarget()
        let stats = sim.run(rounds: 200, trainer: &trainer)
        #expect(trainer.calls == 200 * n)
        // Each ring node sends its 2-parameter state to 2 neighbours per round, twice: the trained
        // state at once, the mixed one at its tick.
        #expect(stats.last!.bytesSentPerNode == Double(4 * GossipMessage(author: sim.nodeIDs[0], version: 0, round: 0, sampleCount: 0,
                                                                       degree: 0, parameters: [0, 0]).approximateWireSize))
        // Gossip pulls every node towards the mean of the targets (3.5) instead of its own target.
        let finals = (0..<n).compactMap { sim.parameters(of: $0) }
        #expect(finals.allSatisfy { abs($0[0] - 3.5) < 3.5 })
        #expect(stats.last!.consensusDistance < ParameterMath.consensusDistance((0..<n).map { [Float($0), Float($0)] }))
    }

    /// The cause of the lagging consensus: with the trained state published only at the next tick, a
    /// tick mixes the neighbours' states from before their training, so each round ends at "previous
    /// average + own update" and the spread of one round's updates never averages out, even on a full
    /// graph where Metropolis-Hastings weights are exact. Pushing the trained state at once makes one
    /// round one exact averaging step.
    @Test func pushingTheTrainedStateAveragesEachRoundsUpdatesExactlyOnAFullGraph() throws {
        struct ConstantStep: LocalTrainer {
            mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? {
                LocalTrainingResult(parameters: parameters.map { $0 + Float(node) }, sampleCount: 10)
            }
        }
        func consensus(push: Bool) throws -> Double {
            var gossip = Self.synchronous
            gossip.publishAfterTraining = push
            var sim = try GossipSimulator(setup: SimulationSetup(topology: .full, gossip: gossip, seed: 7),
                                          initialParameters: Array(repeating: [0, 0], count: 4), sampleCounts: Array(repeating: 10, count: 4))
            var trainer = ConstantStep()
            return sim.run(rounds: 5, trainer: &trainer).last!.consensusDistance
        }
        let pushed = try consensus(push: true), lagging = try consensus(push: false)
        #expect(pushed < 1e-5, "consensus distance with the push: \(pushed)")
        // Without it the nodes stay one round's updates apart: the spread of (0, 1, 2, 3) per coordinate.
        #expect(lagging > 1.5, "consensus distance without the push: \(lagging)")
    }

    /// Label-skewed sites hold very different numbers of images. On a complete graph the
    /// neighbourhood-sum weight n_j / N lands every node on the sample-weighted mean in one step once
    /// the states report their neighbourhoods (round 3: round 1 publishes, round 2 reports).
    @Test func unequalSitesAgreeOnTheWeightedMeanInOneStepOnACompleteGraph() throws {
        let counts = [500, 20, 300, 40]
        let x0 = gaussianVectors(count: 4, width: 3, seed: 5)
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .full, gossip: Self.synchronous, seed: 9),
                                      initialParameters: x0, sampleCounts: counts)
        let weighted = try #require(ParameterMath.weightedMean(x0, weights: counts.map(Double.init)))
        let start = sim.statistics().consensusDistance
        for _ in 0..<3 { _ = sim.runRound() }
        let finals = (0..<4).compactMap { sim.parameters(of: $0) }
        #expect(ParameterMath.consensusDistance(finals) < 1e-5 * start)
        // Round 2 mixed with degree weights, which keep the weighted mean too: so the agreed value is it.
        #expect(ParameterMath.rootMeanSquareDistance(finals, to: weighted) < 1e-4 * start)
    }

    /// Local training must reach the federation's mean in full: with a constant local step `+g_i`
    /// on every node and equal sample counts, the mean of the nodes must move by `mean(g)` per round.
    /// Mixing against the current (just trained) parameters instead of the published state would
    /// keep only the self weight of each step, here 1/8 on a full graph of 8.
    @Test func localUpdatesMoveTheMeanByTheirFullAverage() throws {
        struct ConstantStep: LocalTrainer {
            mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? {
                LocalTrainingResult(parameters: parameters.map { $0 + Float(node + 1) }, sampleCount: 10)
            }
        }
        let n = 8, rounds = 20
        var sim = try GossipSimulator(setup: SimulationSetup(topology: .full, gossip: Self.synchronous, seed: 7),
                                      initialParameters: Array(repeating: [0], count: n), sampleCounts: Array(repeating: 10, count: n))
        var trainer = ConstantStep()
        _ = sim.run(rounds: rounds, trainer: &trainer)
        let mean = (0..<n).compactMap { sim.parameters(of: $0)?[0] }.reduce(0, +) / Float(n)
        // mean(g) = 4.5 per round; the damped rule would give about 4.5 / 8 per round.
        #expect(abs(mean - 4.5 * Float(rounds)) < 0.01 * 4.5 * Float(rounds), "mean after \(rounds) rounds: \(mean)")
    }
}

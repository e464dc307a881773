import LeukCore
import Testing
@testable import LeukGossip

@Suite struct GossipInstanceTests {
    let me = testID(1), alice = testID(2), mallory = testID(3)

    func instance(_ config: GossipConfiguration = GossipConfiguration(), parameters: [Float] = [0, 0], samples: Int = 10) -> GossipInstance {
        GossipInstance(configuration: config, selfID: me, initialParameters: parameters, sampleCount: samples)
    }

    @Test func tickPublishesToConnectedPeersAndMixesFreshStates() {
        var node = instance(GossipConfiguration(tickJitter: 0))
        var rng = SeededGenerator(seed: 1)
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 1, parameters: [4, 8], samples: 10, degree: 1), now: at(0.5))
        let directives = node.onTick(now: at(1), rng: &rng)
        // Two nodes of degree 1 with equal samples: W = 1/2, so one mix lands halfway.
        #expect(node.parameters == [2, 4])
        #expect(directives.contains(.send(to: alice, message: GossipMessage(author: me, version: node.version, round: 1,
                                                                            sampleCount: 10, degree: 1, parameters: [2, 4],
                                                                            neighborhoodSamples: 20))))
        #expect(directives.last == .scheduleTick(after: .seconds(1)))
        #expect(node.neighborDistance == ParameterMath.distance([2, 4], [4, 8]))
    }

    @Test func replayedOrOlderVersionIsRejected() {
        var node = instance()
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 5, parameters: [1, 1]), now: at(1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 5, parameters: [9, 9]), now: at(2))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 4, parameters: [9, 9]), now: at(3))
        #expect(node.rejected[.replay] == 2)
        #expect(node.updatesReceived == 1)
        let status = node.peerSnapshots(now: at(3)).first { $0.id == alice }
        #expect(status?.newestVersion == 5)
        #expect(status?.distance == ParameterMath.distance([0, 0], [1, 1]))
        // A newer version is accepted.
        _ = node.onMessage(from: alice, message: state(from: alice, version: 6, parameters: [2, 2]), now: at(4))
        #expect(node.updatesReceived == 2)
    }

    @Test func replayProtectionSurvivesRestartFromSnapshot() {
        var node = instance()
        var rng = SeededGenerator(seed: 2)
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 7, parameters: [1, 1]), now: at(1))
        _ = node.onTick(now: at(2), rng: &rng)
        let publishedBefore = node.version
        var restored = GossipInstance(configuration: GossipConfiguration(), selfID: me, restoring: node.snapshot())
        #expect(restored.parameters == node.parameters)
        _ = restored.onPeerUp(alice, now: at(3))
        _ = restored.onMessage(from: alice, message: state(from: alice, version: 7, parameters: [5, 5]), now: at(3))
        #expect(restored.rejected[.replay] == 1)
        _ = restored.onTick(now: at(3), rng: &rng)
        #expect(restored.version > publishedBefore)
    }

    @Test func malformedStatesAreRejectedWithTheirReason() {
        // A lenient threshold, so the sender is not banned half-way (banning is tested below).
        var node = instance(GossipConfiguration(scoring: ScoringParameters(banThreshold: -1e9)))
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onMessage(from: alice, message: state(from: mallory, version: 1, parameters: [1, 1]), now: at(1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 2, parameters: [1, 1, 1]), now: at(1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 3, parameters: [.nan, 1]), now: at(1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 4, parameters: [1, .infinity]), now: at(1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 5, parameters: [1, 1], samples: -3), now: at(1))
        #expect(node.rejected == [.authorMismatch: 1, .wrongParameterCount: 1, .nonFinite: 2, .invalidSampleCount: 1])
        #expect(node.updatesReceived == 0)
        #expect(node.neighborDistance == nil)
    }

    @Test func localTrainingReplacesTheModelButNotWithGarbage() {
        var node = instance()
        _ = node.onLocalTrainingStep(newParameters: [3, 4], sampleCount: 50, now: at(1))
        #expect(node.parameters == [3, 4] && node.sampleCount == 50)
        let wrongShape = node.onLocalTrainingStep(newParameters: [1], sampleCount: 50, now: at(2))
        let nan = node.onLocalTrainingStep(newParameters: [.nan, 1], sampleCount: 50, now: at(3))
        #expect(node.parameters == [3, 4])
        #expect(wrongShape.count == 1 && nan.count == 1)
    }

    /// Found by `ConnectedFaultScheduleTests`: a ban lived only in memory until the next periodic snapshot, so a
    /// node that crashed in between came back mixing the banned peer; and a restored ban reached the core but not
    /// the connection layer, which admitted the peer's session during its cool-down.
    @Test func aBanIsPersistedAtOnceAndAskedForAgainAfterARestart() throws {
        var node = instance(GossipConfiguration(tickJitter: 0))
        _ = node.onPeerUp(mallory, now: at(0))
        var banned: [GossipDirective] = []
        for _ in 0..<3 { banned += node.onInvalidMessage(from: mallory, reason: .malformed, now: at(1)) }
        #expect(banned.contains(.disconnect(peer: mallory, until: at(61))))
        let snapshot = try #require(banned.lazy.compactMap { if case let .persist(s) = $0 { s } else { nil } }.first)
        #expect(snapshot.scores[mallory]?.bannedUntil == at(61))

        var rng = SeededGenerator(seed: 1)
        var restored = GossipInstance(configuration: node.configuration, selfID: node.selfID, restoring: snapshot)
        #expect(restored.onStart(now: at(30), rng: &rng).contains(.disconnect(peer: mallory, until: at(61))))
        var late = GossipInstance(configuration: node.configuration, selfID: node.selfID, restoring: snapshot)
        #expect(!late.onStart(now: at(61), rng: &rng).contains { if case .disconnect = $0 { true } else { false } })
    }

    @Test func scoringBansAMisbehavingPeerForTheCoolDownAndRemembersAcrossReconnects() {
        var node = instance(GossipConfiguration(tickJitter: 0))
        var rng = SeededGenerator(seed: 3)
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onPeerUp(mallory, now: at(0))
        let first = node.onInvalidMessage(from: mallory, reason: .badSignature, now: at(1))
        let second = node.onInvalidMessage(from: mallory, reason: .badDigest, now: at(1))
        #expect(!(first + second).contains { if case .disconnect = $0 { return true } else { return false } })
        #expect(node.score(of: mallory, now: at(1)) == -40)
        let third = node.onInvalidMessage(from: mallory, reason: .malformed, now: at(1))
        #expect(third.contains(.disconnect(peer: mallory, until: at(61))))

        // While banned: its states are refused, and nothing is sent to it.
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [100, 100]), now: at(2))
        #expect(node.rejected[.banned] == 1)
        let tick = node.onTick(now: at(3), rng: &rng)
        #expect(!tick.contains { if case let .send(to, _) = $0 { return to == mallory } else { return false } })
        #expect(tick.contains { if case let .send(to, _) = $0 { return to == alice } else { return false } })
        #expect(node.parameters == [0, 0])

        // A reconnect does not forgive it.
        _ = node.onPeerDown(mallory, now: at(4))
        _ = node.onPeerUp(mallory, now: at(5))
        #expect(node.score(of: mallory, now: at(5)) < -50)
        #expect(node.peerSnapshots(now: at(5)).first { $0.id == mallory }?.bannedUntil == at(61))
        #expect(node.peerSnapshots(now: at(5)).first { $0.id == mallory }?.shutOut == true, "refused frames disconnect")

        // After the cool-down the counters have decayed (0.5 per 30 s) and it is heard again.
        #expect(node.score(of: mallory, now: at(62)) > -50)
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 2, parameters: [1, 1]), now: at(62))
        #expect(node.updatesReceived == 1)
    }

    @Test func scoresSurviveARestart() {
        var node = instance()
        _ = node.onPeerUp(mallory, now: at(0))
        for _ in 0..<3 { _ = node.onInvalidMessage(from: mallory, reason: .badSignature, now: at(1)) }
        var restored = GossipInstance(configuration: GossipConfiguration(), selfID: me, restoring: node.snapshot())
        _ = restored.onPeerUp(mallory, now: at(2))
        _ = restored.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [1, 1]), now: at(2))
        #expect(restored.rejected[.banned] == 1)
    }

    @Test func centredClippingBoundsOneByzantineNeighbour() {
        let radius = 0.5
        var clipped = instance(GossipConfiguration(tickJitter: 0, clipping: .fixed(radius: radius)))
        var plain = instance(GossipConfiguration(tickJitter: 0))
        var rng = SeededGenerator(seed: 4)
        for node in [0, 1] {
            var n = node == 0 ? clipped : plain
            _ = n.onPeerUp(alice, now: at(0))
            _ = n.onPeerUp(mallory, now: at(0))
            _ = n.onMessage(from: alice, message: state(from: alice, version: 1, parameters: [0.2, 0], samples: 10, degree: 2), now: at(0.5))
            _ = n.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [1e6, -1e6], samples: 10, degree: 2), now: at(0.5))
            _ = n.onTick(now: at(1), rng: &rng)
            if node == 0 { clipped = n } else { plain = n }
        }
        let clippedShift = ParameterMath.distance(clipped.parameters, [0, 0])
        let plainShift = ParameterMath.distance(plain.parameters, [0, 0])
        // Each neighbour weighs 1/3; the attacker's pull is cut to radius/3, the honest one (0.2) untouched.
        #expect(clippedShift <= radius / 3 + 0.2 / 3 + 1e-6)
        #expect(plainShift > 1e5)
    }

    @Test func adaptiveClippingUsesTheMedianNeighbourDistance() {
        var node = instance(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)))
        var rng = SeededGenerator(seed: 5)
        let honest = [testID(10), testID(11), testID(12)]
        for (k, id) in honest.enumerated() {
            _ = node.onPeerUp(id, now: at(0))
            _ = node.onMessage(from: id, message: state(from: id, version: 1, parameters: [Float(k + 1), 0], samples: 10, degree: 4), now: at(0.5))
        }
        _ = node.onPeerUp(mallory, now: at(0))
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [-1e9, 0], samples: 10, degree: 4), now: at(0.5))
        let directives = node.onTick(now: at(1), rng: &rng)
        // Distances 1, 2, 3, 1e9 (no training step yet): the lower median (index 1 of 0...3) is 2, so the
        // attacker pulls by at most 2/5 and the honest ones push by 1/5 + 2/5 + 2/5 (3 is clipped to 2).
        // The attacker was an outlier at this tick (1e9 > 4 x 2), so it also lost a little of its weight.
        let trust = node.trust(in: mallory, now: at(1))
        #expect(trust < 1 && trust > 0.9)
        #expect(abs(Double(node.parameters[0]) - (1 - 0.4 * trust)) < 1e-5, "\(node.parameters)")
        #expect(directives.contains { if case let .roundCompleted(s) = $0 { return s.clippedPeers == 2 } else { return false } })
    }

    @Test func theOwnTrainingStepBoundsTheRadiusWhenNeighboursAreFew() {
        // One honest neighbour and one attacker, or an attacker alone: the neighbours' median would be the
        // attacker's own distance. The node's last training step (length 0.1) is honest evidence of scale.
        for honestNeighbour in [true, false] {
            var node = instance(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)))
            var rng = SeededGenerator(seed: 6)
            _ = node.onLocalTrainingStep(newParameters: [0.1, 0], sampleCount: 10, now: at(0.1))
            if honestNeighbour {
                _ = node.onPeerUp(alice, now: at(0))
                _ = node.onMessage(from: alice, message: state(from: alice, version: 1, parameters: [0.15, 0], samples: 10, degree: 2), now: at(0.5))
            }
            _ = node.onPeerUp(mallory, now: at(0))
            _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [-1e6, 0], samples: 10, degree: 2),
                               now: at(0.5))
            _ = node.onTick(now: at(1), rng: &rng)
            // The attacker's pull is at most its weight times the radius 0.1 (weights are at most 1/2).
            #expect(node.parameters[0] > 0.1 - 0.05 - 1e-6, "honest neighbour \(honestNeighbour): \(node.parameters)")
        }
    }

    @Test func theDefaultRadiusLetsAFarCampInAndClipsAttackingNeighbours() {
        let rule = AggregationRule.defaultRule.clipping(trim: 1)
        // A two-and-two split: one neighbour beside the node, two far ones (distance 4), and a step of 0.1. The
        // neighbours' lower median (of 0.2, 4, 4) is 4, above the step: the far camp is mixed unclipped and the
        // split closes. (With the step among the values, the median of 0.1, 0.2, 4, 4 was 0.2.)
        var split = instance(GossipConfiguration(tickJitter: 0, clipping: rule))
        var rng = SeededGenerator(seed: 13)
        _ = split.onLocalTrainingStep(newParameters: [0.1, 0], sampleCount: 10, now: at(0.1))
        let peers = [testID(40), testID(41), testID(42)]
        for (k, id) in peers.enumerated() {
            _ = split.onPeerUp(id, now: at(0))
            _ = split.onMessage(from: id, message: state(from: id, version: 1, parameters: [k == 0 ? 0.3 : 4.1, 0], samples: 10, degree: 3),
                                now: at(0.5))
        }
        let directives = split.onTick(now: at(1), rng: &rng)
        #expect(directives.contains { if case let .roundCompleted(s) = $0 { return s.clippedPeers == 0 } else { return false } })
        // Six honest neighbours within 1 and three attackers far away, as in the 10-node harness: the radius is
        // the neighbours' lower median (0.8 of 0, 0.2, 0.4, 0.6, 0.8, 1 and the attackers'), above the step 0.5,
        // and each attacker pulls by at most its weight times 0.8.
        var attacked = instance(GossipConfiguration(tickJitter: 0, clipping: rule))
        _ = attacked.onLocalTrainingStep(newParameters: [0.5, 0], sampleCount: 10, now: at(0.1))
        let honest = (0..<6).map { testID(UInt8(50 + $0)) }, attackers = (0..<3).map { testID(UInt8(60 + $0)) }
        for (k, id) in honest.enumerated() {
            _ = attacked.onPeerUp(id, now: at(0))
            _ = attacked.onMessage(from: id, message: state(from: id, version: 1, parameters: [0.5 + Float(k) * 0.2, 0], samples: 10, degree: 9),
                                   now: at(0.5))
        }
        for id in attackers {
            _ = attacked.onPeerUp(id, now: at(0))
            _ = attacked.onMessage(from: id, message: state(from: id, version: 1, parameters: [-1e6, 0], samples: 10, degree: 9), now: at(0.5))
        }
        let attackedTick = attacked.onTick(now: at(1), rng: &rng)
        #expect(attackedTick.contains { if case let .roundCompleted(s) = $0 { return s.clippedPeers == 4 } else { return false } })
        // Weights 1/10 each: the honest ones pull by 0.1 x (0.2 + 0.4 + 0.6 + 0.8 + 0.8) = 0.28, the attackers by at
        // most 0.24.
        #expect(attacked.parameters[0] >= 0.5 - 1e-5, "\(attacked.parameters)")
    }

    @Test func theOwnStepFloorsTheRadiusAndSurvivesARestart() throws {
        // Three neighbours on the node's own state and one far away (a camp that agreed, beside the other side of
        // a healed partition): the quantile alone would be 0 and the node would never move again.
        let config = GossipConfiguration(tickJitter: 0, clipping: AggregationRule.defaultRule.clipping(trim: 1))
        var node = instance(config)
        var rng = SeededGenerator(seed: 14)
        _ = node.onLocalTrainingStep(newParameters: [0.2, 0], sampleCount: 10, now: at(0.1))
        let peers = [testID(70), testID(71), testID(72), testID(73)]
        func feed(_ n: inout GossipInstance, version: UInt64, at t: Double) {
            for (k, id) in peers.enumerated() {
                _ = n.onPeerUp(id, now: at(t - 0.5))
                _ = n.onMessage(from: id, message: state(from: id, version: version, parameters: [k < 3 ? n.parameters[0] : 10, 0], samples: 10, degree: 4),
                                now: at(t - 0.5))
            }
        }
        feed(&node, version: 1, at: 1)
        let before = node.parameters[0]
        _ = node.onTick(now: at(1), rng: &rng)
        // Weight 1/5 towards the far one (a little less: it is an outlier here, so its trust fell), clipped to the
        // step 0.2: it moves, by at most 0.04.
        let moved = Double(node.parameters[0] - before)
        #expect(moved > 0.03 && moved <= 0.2 * 0.2 + 1e-5, "\(node.parameters)")
        let snapshot = node.snapshot()
        #expect(snapshot.lastLocalStep.map { abs($0 - 0.2) < 1e-6 } == true)
        var restored = GossipInstance(configuration: config, selfID: me, restoring: snapshot)
        feed(&restored, version: 2, at: 2)
        let restoredBefore = restored.parameters[0]
        _ = restored.onTick(now: at(2), rng: &rng)
        let restoredMoved = Double(restored.parameters[0] - restoredBefore)
        #expect(restoredMoved > 0.02 && restoredMoved <= 0.2 * 0.2 + 1e-5, "\(restored.parameters)")
    }

    /// `clipStepFloor` scales the floor: three neighbours still on the node's round start (free riders) are one
    /// step away and set the median there, and an honest neighbour `sqrt(2)` steps away is clipped to one step
    /// under the default floor but mixed whole under a floor of `sqrt(2)`.
    @Test func theStepFloorFactorDecidesWhetherAnHonestNeighbourASqrt2StepAwayIsClipped() {
        func moved(floor: Double) -> Double {
            var config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
            config.clipStepFloor = floor
            var node = instance(config)
            var rng = SeededGenerator(seed: 15)
            _ = node.onLocalTrainingStep(newParameters: [1, 0], sampleCount: 10, now: at(0.1))
            let riders = [testID(80), testID(81), testID(82)], honest = testID(83)
            for (k, id) in (riders + [honest]).enumerated() {
                _ = node.onPeerUp(id, now: at(0.5))
                // The riders sit at the round's start (0, 0), one step from the node; the honest one trained the
                // other way, sqrt(2) steps away.
                let parameters: [Float] = k < 3 ? [0, 0] : [0, 1]
                _ = node.onMessage(from: id, message: state(from: id, version: 1, parameters: parameters, samples: 10, degree: 4),
                                   now: at(0.5))
            }
            _ = node.onTick(now: at(1), rng: &rng)
            // The honest neighbour's pull along the second coordinate (weight 1/5, clipped or not).
            return Double(node.parameters[1])
        }
        let clipped = moved(floor: 1), whole = moved(floor: 2.0.squareRoot())
        #expect(abs(clipped - 0.2 / 2.0.squareRoot()) < 1e-4, "clipped to one step: \(clipped)")
        #expect(abs(whole - 0.2) < 1e-4, "mixed whole: \(whole)")
    }

    @Test func trimmedMeanDropsTheExtremesPerParameterAndIsPlainAveragingWithNothingToDrop() {
        // Differences per parameter: [1, 2, 3, 100] and [-5, 0, 1, 2]; weights 1, 1, 1, 2 (total 5).
        let states: [[Float]] = [[1, -5], [2, 0], [3, 1], [100, 2]]
        let weights = [1.0, 1, 1, 2]
        let step = RobustMixing.trimmedMeanStep(reference: [0, 0], states: states, weights: weights, trim: 1)
        // Parameter 0 keeps peers 1 and 2 (2, 3), weight 2 rescaled to 5: (2 + 3) * 5 / 2.
        #expect(abs(step.delta[0] - 12.5) < 1e-9)
        // Parameter 1 keeps peers 1 and 2 (0, 1): 1 * 5 / 2.
        #expect(abs(step.delta[1] - 2.5) < 1e-9)
        #expect(step.trimmedPeers == 2)
        let plain = RobustMixing.trimmedMeanStep(reference: [0, 0], states: states, weights: weights, trim: 0)
        let expected: [Double] = [206, 0]
        #expect(plain.delta == expected)
        #expect(plain.trimmedPeers == 0)
    }

    @Test func trimmedMeanIgnoresOneByzantineNeighbourWhateverItSends() {
        var rng = SeededGenerator(seed: 7)
        let honest = [testID(10), testID(11), testID(12)]
        for attack: Float in [1e9, -1e9, 0.5, .greatestFiniteMagnitude] {
            var node = instance(GossipConfiguration(tickJitter: 0, clipping: .trimmedMean(trim: 1)))
            for id in honest {
                _ = node.onPeerUp(id, now: at(0))
                _ = node.onMessage(from: id, message: state(from: id, version: 1, parameters: [1, 1], samples: 10, degree: 4), now: at(0.5))
            }
            _ = node.onPeerUp(mallory, now: at(0))
            _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [attack, -attack], samples: 10, degree: 4),
                               now: at(0.5))
            _ = node.onTick(now: at(1), rng: &rng)
            // Every kept difference is the honest 1, carrying the whole neighbour weight (4 of 5 with self),
            // less what an outlying attacker lost of its weight at this tick.
            let expected = 0.6 + 0.2 * node.trust(in: mallory, now: at(1))
            #expect(abs(Double(node.parameters[0]) - expected) < 1e-5, "attack \(attack): \(node.parameters)")
            #expect(abs(Double(node.parameters[1]) - expected) < 1e-5, "attack \(attack): \(node.parameters)")
        }
    }

    @Test func whenEveryNeighbourMayBeByzantineTheNodeKeepsItsOwnState() {
        var rng = SeededGenerator(seed: 8)
        // Two neighbours cannot outvote one attacker when trim is 1 (2 < 2 * 1 + 1): no step at all.
        var node = instance(GossipConfiguration(tickJitter: 0, clipping: .trimmedMean(trim: 1)))
        for (k, id) in [mallory, testID(13)].enumerated() {
            _ = node.onPeerUp(id, now: at(0))
            _ = node.onMessage(from: id, message: state(from: id, version: 1, parameters: [Float(k) * 1e6 + 3, -7], samples: 10, degree: 1),
                               now: at(0.5))
        }
        let directives = node.onTick(now: at(1), rng: &rng)
        #expect(node.parameters == [0, 0])
        #expect(directives.contains { if case let .roundCompleted(s) = $0 { return s.clippedPeers == 2 } else { return false } })
    }

    /// Each honest neighbour `k` sends a state `0.01 (k + 1)` off the node's in each coordinate, half a second before tick `t`.
    static func feedNear(_ node: inout GossipInstance, from honest: [NodeID], tick t: Int) {
        for (k, id) in honest.enumerated() {
            let near = node.parameters.enumerated().map { $0.element + Float(k + 1) * 0.01 * ($0.offset == 0 ? 1 : -1) }
            _ = node.onMessage(from: id, message: state(from: id, version: UInt64(t), parameters: near, samples: 10, degree: 4),
                               now: at(Double(t) - 0.5))
        }
    }

    /// Runs `ticks` ticks at 1 s spacing in which three honest neighbours send states near the node and
    /// mallory sends `attack`; returns mallory's score after each tick and the directives.
    func outlierRun(_ config: GossipConfiguration, attack: [Float], honest honestCount: Int = 3, ticks: Int = 12, missesAClass: Bool = false,
                    start: [Float] = [0, 0])
        -> (scores: [Double], directives: [GossipDirective], node: GossipInstance) {
        var node = instance(config, parameters: start)
        var rng = SeededGenerator(seed: 9)
        let honest = (0..<honestCount).map { testID(UInt8(20 + $0)) }
        for id in honest + [mallory] { _ = node.onPeerUp(id, now: at(0)) }
        var scores: [Double] = []
        var all: [GossipDirective] = []
        for t in 1...ticks {
            let time = Double(t)
            Self.feedNear(&node, from: honest, tick: t)
            var far = state(from: mallory, version: UInt64(t), parameters: attack, samples: 10, degree: 4)
            far.missesAClass = missesAClass
            all += node.onMessage(from: mallory, message: far, now: at(time - 0.5))
            all += node.onTick(now: at(time), rng: &rng)
            scores.append(node.score(of: mallory, now: at(time)))
        }
        return (scores, all, node)
    }

    /// The peer a `.disconnect` or `.bench` directive names, if it is one.
    static func penalised(_ directive: GossipDirective) -> NodeID? {
        switch directive {
        case let .disconnect(peer, _), let .bench(peer, _): return peer
        default: return nil
        }
    }

    @Test func aPeerWhoseStateIsPersistentlyFarOutsideTheOthersIsScoredDownAndBenched() {
        let config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        let run = outlierRun(config, attack: [-50, 50])
        // Each tick counts an outlier; the score falls until the ban threshold benches mallory.
        #expect(run.scores.first! < 1)
        let benched = run.directives.contains { if case .bench(mallory, _) = $0 { return true } else { return false } }
        #expect(benched, "scores \(run.scores)")
        #expect(run.scores.min()! < config.scoring.banThreshold)
        // Model evidence alone benches without closing the session: an honest site that drifted away must keep
        // hearing its neighbours to come back.
        #expect(!run.directives.contains { if case .disconnect = $0 { return true } else { return false } })
        #expect(run.node.snapshot().scores[mallory]?.shutOut == false)
        let shown = run.node.peerSnapshots(now: at(12)).first { $0.id == mallory }
        #expect(shown?.bannedUntil != nil && shown?.shutOut == false, "operators see a bench, not a disconnect")
        // The honest neighbours are never counted against.
        #expect(!run.directives.contains { Self.penalised($0).map { $0 != mallory } ?? false })
        // The evidence is in the persisted counters, so it survives a restart.
        #expect((run.node.snapshot().scores[mallory]?.outliers ?? 0) > 1)
    }

    @Test func aBenchedPeerKeepsHearingTheNodeButIsNotHeardUntilItsCoolDownEnds() throws {
        let config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        var run = outlierRun(config, attack: [-50, 50])
        let until = try #require(run.node.snapshot().scores[mallory]?.bannedUntil)
        var rng = SeededGenerator(seed: 3)
        let now = at(13)
        #expect(now < until)
        let tick = run.node.onTick(now: now, rng: &rng)
        #expect(tick.contains { if case .send(to: mallory, _) = $0 { return true } else { return false } })
        let before = run.node.rejected[.banned] ?? 0
        _ = run.node.onMessage(from: mallory, message: state(from: mallory, version: 100, parameters: [-50, 50], samples: 10, degree: 4),
                               now: at(13.5))
        #expect(run.node.rejected[.banned] == before + 1)
        // After a restart the bench holds, and still closes nothing.
        var restored = GossipInstance(configuration: config, selfID: me, restoring: run.node.snapshot())
        var startRNG = SeededGenerator(seed: 4)
        let start = restored.onStart(now: at(14), rng: &startRNG)
        #expect(!start.contains { if case .disconnect = $0 { return true } else { return false } })
        _ = restored.onPeerUp(mallory, now: at(14))
        _ = restored.onMessage(from: mallory, message: state(from: mallory, version: 101, parameters: [-50, 50], samples: 10, degree: 4),
                               now: at(14.5))
        #expect(restored.rejected[.banned] == 1)
    }

    @Test func aCampOfFarNeighboursIsNotCountedAsOutliers() {
        // Two neighbours near the node and two far ones that agree with each other: the other side of a healed
        // partition, or sites whose data differ. More far neighbours than the third the rules tolerate as
        // attackers is a camp, and counting it would bench honest peers.
        var node = instance(GossipConfiguration(tickJitter: 0, clipping: AggregationRule.defaultRule.clipping(trim: 1)))
        var rng = SeededGenerator(seed: 12)
        let near = [testID(30), testID(31)], far = [testID(32), testID(33)]
        for id in near + far { _ = node.onPeerUp(id, now: at(0)) }
        var all: [GossipDirective] = []
        for t in 1...20 {
            for (k, id) in (near + far).enumerated() {
                let x: Float = k < 2 ? 0.01 * Float(k + 1) : 5 + 0.01 * Float(k)
                _ = node.onMessage(from: id, message: state(from: id, version: UInt64(t), parameters: [x, 0], samples: 10, degree: 4),
                                   now: at(Double(t) - 0.5))
            }
            all += node.onTick(now: at(Double(t)), rng: &rng)
        }
        #expect(!all.contains { Self.penalised($0) != nil })
        #expect(far.allSatisfy { (node.snapshot().scores[$0]?.outliers ?? 0) == 0 })
    }

    @Test func aSiteThatMissesAClassIsNotMeasuredAgainstTheOthersButStillClipped() {
        // The node sits at [30, 40] (norm 50), its honest neighbours within 0.03 of it. A state 40 away is thousands
        // of times their distance: from an ordinary peer it is an outlier, from a peer whose class counts say it
        // misses a class it counts nothing (such a site strays by design).
        let config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        let start: [Float] = [30, 40]
        let counted = outlierRun(config, attack: [-10, 40], start: start)
        #expect((counted.node.snapshot().scores[mallory]?.outliers ?? 0) > 0)
        let exempt = outlierRun(config, attack: [-10, 40], missesAClass: true, start: start)
        #expect(exempt.node.snapshot().scores[mallory]?.outliers ?? 0 == 0)
        #expect(!exempt.directives.contains { Self.penalised($0) != nil })
        // Its pull is still clipped to the honest neighbours' distances: the node stays near them.
        #expect(zip(exempt.node.parameters, start).allSatisfy { abs($0 - $1) < 1 }, "\(exempt.node.parameters)")
    }

    @Test func aSiteThatMissesAClassIsAnOutlierFartherThanTheNodesOwnNorm() {
        // No honest model lies farther from the node's state than that state lies from zero (all start from the same
        // initial parameters); a diverged or noise-filled one does, and claiming to miss a class does not hide it.
        let config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        let start: [Float] = [30, 40]
        let diverged = outlierRun(config, attack: [-50, 50], missesAClass: true, start: start)  // 80.6 away, beyond 50
        #expect((diverged.node.snapshot().scores[mallory]?.outliers ?? 0) > 1)
        #expect(diverged.directives.contains { if case .bench(mallory, _) = $0 { return true } else { return false } })
        // The bound holds with a single neighbour too, where the relative test cannot run.
        let alone = outlierRun(config, attack: [-50, 50], honest: 0, ticks: 3, missesAClass: true, start: start)
        #expect((alone.node.snapshot().scores[mallory]?.outliers ?? 0) > 0)
        // And it scales with the configured limit: at 2 times the norm (100) the same state is within it.
        var wide = config
        wide.scoring.missingClassDistanceLimit = 2
        let within = outlierRun(wide, attack: [-50, 50], missesAClass: true, start: start)
        #expect(within.node.snapshot().scores[mallory]?.outliers ?? 0 == 0)
    }

    @Test func aNeighbourThatMissesAClassCanBeClippedToAWiderRadius() {
        // Three near neighbours and one far one-class site; its pull grows with the factor, never beyond its state.
        func pull(_ factor: Double) -> Float {
            var config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
            config.missingClassRadiusFactor = factor
            let run = outlierRun(config, attack: [50, 0], ticks: 1, missesAClass: true)
            return run.node.parameters[0]
        }
        #expect(pull(3) > pull(1) + 0.01 && pull(1) > 0, "\(pull(1)) \(pull(3))")
        #expect(pull(1e9) < 50 && pull(0.5) == pull(1), "below 1 counts as 1")
    }

    @Test func aNodeSaysInItsMessagesThatItMissesAClass() {
        var node = instance(GossipConfiguration(tickJitter: 0))
        node.missesAClass = true
        _ = node.onPeerUp(mallory, now: at(0))
        var rng = SeededGenerator(seed: 3)
        let sent = node.onTick(now: at(1), rng: &rng).compactMap { directive -> GossipMessage? in
            if case let .send(_, message) = directive { return message } else { return nil }
        }
        #expect(!sent.isEmpty && sent.allSatisfy(\.missesAClass))
    }

    @Test func outlierEvidenceNeedsARobustRuleAndThreeNeighbours() {
        // Plain averaging is the undefended baseline: no evidence is collected.
        let plain = outlierRun(GossipConfiguration(tickJitter: 0), attack: [-50, 50])
        #expect(!plain.directives.contains { Self.penalised($0) != nil })
        // With two neighbours the median is one of them: nothing can be told apart.
        let two = outlierRun(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)), attack: [-50, 50], honest: 1)
        #expect(two.node.snapshot().scores[mallory]?.outliers ?? 0 == 0)
        // A neighbour within the others' spread is not an outlier.
        let near = outlierRun(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)), attack: [0.02, -0.02])
        #expect(near.node.snapshot().scores[mallory]?.outliers ?? 0 == 0)
        #expect(!near.directives.contains { Self.penalised($0) != nil })
    }

    @Test func aTrainingNodeMixesNothingBeforeItsFirstLocalStep() {
        var config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        config.mixesBeforeFirstLocalStep = false
        var node = instance(config)
        var rng = SeededGenerator(seed: 11)
        _ = node.onPeerUp(mallory, now: at(0))
        // The first state at start-up is an attacker's, alone: with nothing to compare it with it is not mixed.
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [-1e6, 0], samples: 10, degree: 3), now: at(0.5))
        _ = node.onTick(now: at(1), rng: &rng)
        #expect(node.parameters == [0, 0])
        // After a step of length 0.1, the attacker's pull is bounded by it.
        _ = node.onLocalTrainingStep(newParameters: [0.1, 0], sampleCount: 10, now: at(1.5))
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 2, parameters: [-1e6, 0], samples: 10, degree: 3), now: at(1.6))
        _ = node.onTick(now: at(2), rng: &rng)
        #expect(node.parameters[0] >= 0.1 - 0.1 * 0.5 - 1e-6, "\(node.parameters)")
    }

    @Test func aPeerWhoseModelIsFarWorseOnTheNodesValidationSplitIsScoredDown() {
        var node = instance(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)))
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onPeerUp(mallory, now: at(0))
        // A non-IID honest peer: worse than the node's own model, but within the margins (3x and +1).
        for t in 1...10 { _ = node.onPeerEvaluation(alice, loss: 1.2, referenceLoss: 0.3, now: at(Double(t))) }
        #expect(node.score(of: alice, now: at(10)) == 0)
        // A sign-flipped model: loss 9 against 0.3, evaluation after evaluation, until it is benched.
        var benched = false
        for t in 1...10 {
            let directives = node.onPeerEvaluation(mallory, loss: t.isMultiple(of: 2) ? 9 : .nan, referenceLoss: 0.3, now: at(Double(t)))
            benched = benched || directives.contains { if case .bench(mallory, _) = $0 { return true } else { return false } }
        }
        #expect(benched)
        #expect(node.score(of: mallory, now: at(10)) < GossipConfiguration().scoring.banThreshold)
        // Plain averaging collects no evidence.
        var plain = instance(GossipConfiguration(tickJitter: 0))
        _ = plain.onPeerUp(mallory, now: at(0))
        _ = plain.onPeerEvaluation(mallory, loss: 9, referenceLoss: 0.3, now: at(1))
        #expect(plain.score(of: mallory, now: at(1)) == 0)
    }

    @Test func aPeerWithEvidenceAgainstItIsHeardLessBeforeItIsBenched() {
        // Fixed radius large enough never to clip: only the trust factor moves the weights.
        var node = instance(GossipConfiguration(tickJitter: 0, clipping: .fixed(radius: 1e9)))
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onPeerUp(mallory, now: at(0))
        #expect(node.trust(in: mallory, now: at(0)) == 1)
        // Two poor models: outliers 2, score -4 * 2^2 = -16 against the ban threshold -50.
        for t in [0.1, 0.2] { _ = node.onPeerEvaluation(mallory, loss: 9, referenceLoss: 0.3, now: at(t)) }
        let trust = node.trust(in: mallory, now: at(0.2))
        #expect(abs(trust - (1 - 16.0 / 50)) < 1e-3, "\(trust)")
        #expect(node.peerSnapshots(now: at(0.2)).first { $0.id == mallory }?.trust == trust, "operators see the same share")
        #expect(node.trust(in: alice, now: at(0.2)) == 1)
        // Equal samples and degrees: alice's full weight pulls as far as mallory's reduced one pushes.
        var rng = SeededGenerator(seed: 9)
        _ = node.onMessage(from: alice, message: state(from: alice, version: 1, parameters: [3, 0], samples: 10, degree: 2), now: at(0.5))
        _ = node.onMessage(from: mallory, message: state(from: mallory, version: 1, parameters: [-3, 0], samples: 10, degree: 2), now: at(0.5))
        _ = node.onLocalTrainingStep(newParameters: [0, 0], sampleCount: 10, now: at(0.6))
        _ = node.onTick(now: at(1), rng: &rng)
        #expect(node.parameters[0] > 0.2, "\(node.parameters)")
        // Plain averaging keeps exact weights whatever the evidence.
        var plain = instance(GossipConfiguration(tickJitter: 0))
        _ = plain.onPeerUp(mallory, now: at(0))
        #expect(plain.trust(in: mallory, now: at(0)) == 1)
    }

    @Test func theReferenceLossIsTheUpperMedianOfTheOwnAndTheFinitePeerLosses() {
        #expect(GossipInstance.referenceLoss(own: 0.3, peers: []) == 0.3)
        #expect(GossipInstance.referenceLoss(own: 0.3, peers: [0.5, .nan, 9]) == 0.5)
        // A majority of poor peers sets the reference: the rule assumes a minority of attacking neighbours.
        #expect(GossipInstance.referenceLoss(own: 0.3, peers: [0.4, 9, 9]) == 9)
    }

    @Test func staleStatesAreNotMixed() {
        var node = instance(GossipConfiguration(tickJitter: 0, stateTimeToLive: .seconds(5)))
        var rng = SeededGenerator(seed: 6)
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 1, parameters: [4, 4]), now: at(0))
        _ = node.onTick(now: at(10), rng: &rng)
        #expect(node.parameters == [0, 0])
    }

    /// A node under clipping that has trained one step of length 1 (its yardstick), with alice up.
    func replayJudge(_ config: GossipConfiguration = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))) -> GossipInstance {
        var node = instance(config)
        _ = node.onPeerUp(alice, now: at(0))
        _ = node.onLocalTrainingStep(newParameters: [1, 0], sampleCount: 10, now: at(0))
        return node
    }

    @Test func anOldStateSentAgainUnderAFreshVersionIsRefusedAndCountsAsModelEvidence() {
        var node = replayJudge()
        let old: [Float] = [-20, 20], fresh: [Float] = [1.5, 0]
        _ = node.onMessage(from: alice, message: state(from: alice, version: 1, parameters: old), now: at(0.1))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 2, parameters: fresh), now: at(0.2))
        let directives = node.onMessage(from: alice, message: state(from: alice, version: 3, parameters: old), now: at(0.3))
        #expect(node.rejected[.repeatedState] == 1)
        #expect(node.updatesReceived == 2)
        #expect(directives.contains { if case let .log(event) = $0 { return event.message.contains("repeated_state") } else { return false } })
        // The fresh state stays the one mixed, and the refusal is model evidence (an outlier), not a protocol fault.
        #expect(node.peerSnapshots(now: at(0.3)).first { $0.id == alice }?.distance == ParameterMath.distance(node.parameters, fresh))
        #expect(node.snapshot().scores[alice]?.outliers == 1)
        #expect(node.snapshot().scores[alice]?.invalidMessages == 0)
        // Its version is spent: the same message again is a plain replay; the same state again, twice in a row
        // under fresh versions, is refused each time.
        _ = node.onMessage(from: alice, message: state(from: alice, version: 3, parameters: old), now: at(0.4))
        #expect(node.rejected[.replay] == 1)
        _ = node.onMessage(from: alice, message: state(from: alice, version: 4, parameters: old), now: at(0.5))
        _ = node.onMessage(from: alice, message: state(from: alice, version: 5, parameters: old), now: at(0.6))
        #expect(node.rejected[.repeatedState] == 3)
        #expect(node.updatesReceived == 2)
    }

    @Test func aPeerThatKeepsReplayingAnOldStateBetweenOthersIsBenchedNotDisconnected() {
        /// Like the `stale` attacker: the replay after every training stretch, a mixed state at every tick.
        func run(_ config: GossipConfiguration) -> (node: GossipInstance, directives: [GossipDirective]) {
            var node = replayJudge(config)
            var rng = SeededGenerator(seed: 4)
            var all: [GossipDirective] = []
            for t in 1...8 {
                let time = Double(t)
                all += node.onMessage(from: alice, message: state(from: alice, version: UInt64(2 * t), parameters: [-20, 20]), now: at(time - 0.6))
                all += node.onMessage(from: alice, message: state(from: alice, version: UInt64(2 * t + 1), parameters: [1, Float(t) * 0.01]),
                                      now: at(time - 0.3))
                all += node.onTick(now: at(time), rng: &rng)
            }
            return (node, all)
        }
        // Never benched (a lenient threshold): every replay after the first sighting is refused, every mixed state taken.
        let lenient = run(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5), scoring: ScoringParameters(banThreshold: -1e9)))
        #expect(lenient.node.rejected[.repeatedState] == 7)
        #expect(lenient.node.updatesReceived == 9)
        // The default threshold benches alice on that evidence, without closing its session.
        let benched = run(GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5)))
        #expect(benched.directives.contains { if case .bench(alice, _) = $0 { return true } else { return false } })
        #expect(!benched.directives.contains { if case .disconnect = $0 { return true } else { return false } })
    }

    @Test func aStateSentAgainAtOnceOrNearTheNodeOrUnderPlainAveragingIsNoReplay() {
        // A node that neither trained nor heard anyone since its last tick publishes the same state again.
        var node = replayJudge()
        for v in 1...3 { _ = node.onMessage(from: alice, message: state(from: alice, version: UInt64(v), parameters: [-20, 20]), now: at(0.1)) }
        #expect(node.rejected[.repeatedState] == nil)
        #expect(node.updatesReceived == 3)
        // Within the node's own training step of its state: rounding near consensus, not an old model.
        var near = replayJudge()
        for (v, p) in [[1.5, 0], [1.6, 0], [1.5, 0]].enumerated() {
            _ = near.onMessage(from: alice, message: state(from: alice, version: UInt64(v + 1), parameters: p.map(Float.init)), now: at(0.1))
        }
        #expect(near.rejected[.repeatedState] == nil)
        // Plain averaging is the undefended baseline, and checking can be turned off.
        var off = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        off.recentStateMemory = 0
        for config in [GossipConfiguration(tickJitter: 0), off] {
            var plain = replayJudge(config)
            for (v, p) in [[-20, 20], [1.5, 0], [-20, 20]].enumerated() {
                _ = plain.onMessage(from: alice, message: state(from: alice, version: UInt64(v + 1), parameters: p.map(Float.init)), now: at(0.1))
            }
            #expect(plain.rejected[.repeatedState] == nil)
            #expect(plain.updatesReceived == 3)
        }
    }

    @Test func aStateReplayedEveryRoundIsRecognisedHoweverManyOthersComeBetween() {
        // A lenient ban threshold, so alice is not benched half-way (benching is tested above).
        var config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5), scoring: ScoringParameters(banThreshold: -1e9))
        config.recentStateMemory = 4
        var node = replayJudge(config)
        let old: [Float] = [-20, 20]
        var version: UInt64 = 0
        func send(_ p: [Float]) { version += 1; _ = node.onMessage(from: alice, message: state(from: alice, version: version, parameters: p), now: at(0.1)) }
        // Seen again, the old state becomes the newest remembered, so three others between replays never push it out
        // of a memory of four; six fresh states between two sightings do.
        send(old)
        for round in 0..<5 {
            for k in 0..<3 { send([1, Float(round * 10 + k) * 0.001]) }
            send(old)
        }
        #expect(node.rejected[.repeatedState] == 5)
        var forgetting = replayJudge(config)
        version = 0
        func sendTo(_ p: [Float]) { version += 1; _ = forgetting.onMessage(from: alice, message: state(from: alice, version: version, parameters: p), now: at(0.1)) }
        sendTo([-30, 30])
        for k in 0..<6 { sendTo([1, Float(k) * 0.001]) }
        sendTo([-30, 30])
        #expect(forgetting.rejected[.repeatedState] == nil)
    }

    @Test func theParameterDigestSeesEveryBitAndTheLength() {
        let a: [Float] = [1, 2, 3]
        #expect(ParameterMath.digest(a) == ParameterMath.digest([1, 2, 3]))
        #expect(ParameterMath.digest(a) != ParameterMath.digest([1, 2, 3.0000002]))
        #expect(ParameterMath.digest([0]) != ParameterMath.digest([-0.0]))
        #expect(ParameterMath.digest([]) != ParameterMath.digest([0]))
        #expect(ParameterMath.digest([1, 2]) != ParameterMath.digest([2, 1]))
    }

    /// Three honest neighbours near the node and mallory sending `mallory(t, the node's parameters)`, one tick a second
    /// for `ticks` seconds; returns the ticks at which mallory was banned.
    func benchRun(judging: Bool, ticks: Int, mallory attack: (Int, [Float]) -> [Float]) -> [Int] {
        var config = GossipConfiguration(tickJitter: 0, clipping: .adaptive(quantile: 0.5))
        config.judgesBenchedPeers = judging
        var node = instance(config)
        var rng = SeededGenerator(seed: 9)
        let honest = (0..<3).map { testID(UInt8(20 + $0)) }
        for id in honest + [mallory] { _ = node.onPeerUp(id, now: at(0)) }
        var banned: [Int] = []
        for t in 1...ticks {
            let time = Double(t)
            Self.feedNear(&node, from: honest, tick: t)
            _ = node.onMessage(from: mallory, message: state(from: mallory, version: UInt64(t), parameters: attack(t, node.parameters), samples: 10, degree: 4),
                               now: at(time - 0.5))
            _ = node.onTick(now: at(time), rng: &rng)
            if node.peerSnapshots(now: at(time)).first(where: { $0.id == mallory })?.bannedUntil != nil { banned.append(t) }
        }
        return banned
    }

    @Test func aBenchedPeerThatStaysFarStaysBenchedWhenBenchedPeersAreJudged() {
        let far: (Int, [Float]) -> [Float] = { _, _ in [-50, 50] }
        // Not judged: its evidence decays during the 60 s cool-down, and it is heard again for a while after it.
        let unjudged = benchRun(judging: false, ticks: 150, mallory: far)
        #expect(unjudged.first.map { $0 < 10 } == true)
        #expect(unjudged.count < 140, "benched at \(unjudged.count) of 150 ticks")
        // Judged while benched: every tick from the first bench on.
        let judged = benchRun(judging: true, ticks: 150, mallory: far)
        let first = judged.first ?? 150
        #expect(first < 10)
        #expect(judged == Array(first...150), "benched at \(judged.count) of 150 ticks")
    }

    @Test func aJudgedBenchedPeerThatComesBackNearIsHeardAgain() {
        // Far for 20 ticks, then at the honest neighbours' distance from the node.
        let judged = benchRun(judging: true, ticks: 300, mallory: { t, own in t <= 20 ? [-50, 50] : [own[0] - 0.02, own[1] + 0.02] })
        #expect(judged.first.map { $0 < 10 } == true)
        #expect(judged.last.map { $0 < 250 } == true, "still benched at tick \(judged.last ?? 0)")
    }

    @Test func persistIsEmittedEveryConfiguredRound() {
        var node = instance(GossipConfiguration(persistEveryRounds: 3))
        var rng = SeededGenerator(seed: 7)
        let persisted = (1...6).map { r in
            node.onTick(now: at(Double(r)), rng: &rng).contains { if case .persist = $0 { return true } else { return false } }
        }
        #expect(persisted == [false, false, true, false, false, true])
    }

    @Test func metropolisHastingsWeightsAreReversibleInSampleCounts() {
        let counts = [5, 50, 500], degrees = [1, 2, 3]
        for i in 0..<3 {
            for j in 0..<3 where i != j {
                let wij = MetropolisHastings.weight(ownSamples: counts[i], ownDegree: degrees[i], peerSamples: counts[j], peerDegree: degrees[j])
                let wji = MetropolisHastings.weight(ownSamples: counts[j], ownDegree: degrees[j], peerSamples: counts[i], peerDegree: degrees[i])
                #expect(abs(Double(counts[i]) * wij - Double(counts[j]) * wji) < 1e-12)
                #expect(wij <= 1 / Double(1 + degrees[i]))
            }
        }
        #expect(MetropolisHastings.weight(ownSamples: 7, ownDegree: 4, peerSamples: 7, peerDegree: 2) == 1.0 / 5)
    }
}

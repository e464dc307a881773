import Foundation
import LeukCore
import LeukMetrics
import LeukGossip
import LeukReport
import LeukTraining
import Testing
@testable import LeukExperiment

/// `simulate --byzantine`: who attacks, what each attack publishes, and what the result says about it.
@Suite struct AttackHarnessTests {
    /// 5 nodes of 16x16 synthetic cells, everyone with everyone, 2 short rounds.
    static func request(byzantine: Int, attack: ByzantineAttack, aggregation: AggregationRule = .mean) -> SimulationRequest {
        var request = SimulationRequest(nodes: 5, rounds: 2, source: .synthetic(imagesPerNode: 16, testImages: 16, difficulty: 0.3),
                                        partition: .dirichlet(alpha: 0.5), topology: .full, seed: 3, stepsPerRound: 2, threads: 1,
                                        size: 16, batchSize: 8, learningRate: 0.02, roundEvaluationImages: 16, baselines: false, optimizer: .sgd())
        request.byzantine = byzantine
        request.attack = attack
        request.aggregation = aggregation
        return request
    }

    @Test func alieStaysInsideTheHonestSpreadByBaruchsZ() {
        // n = 10, f = 3: s = 6 - 3 = 3 honest nodes to win over, z = Phi^-1(7/10).
        #expect(abs(AttackingTrainer.alieZ(nodes: 10, attackers: 3) - 0.5244005) < 1e-6)
        #expect(abs(AttackingTrainer.inverseNormal(0.975) - 1.959964) < 1e-6)
        #expect(abs(AttackingTrainer.inverseNormal(0.001) + 3.090232) < 1e-5)
        let state = AttackingTrainer.alie([[1, 10], [3, 10]], z: 2)
        // Means 2 and 10, standard deviations 1 and 0.
        #expect(state == [0, 10])
        #expect(AttackingTrainer.alie([], z: 1) == nil)
    }

    @Test func theGateNeverServesAGaussianPoisonedModelAndReportsWhatItServes() throws {
        // Plain averaging with two noise attackers: the merged models are noise, and no floor-passing
        // model can come of them.
        var request = Self.request(byzantine: 2, attack: .gaussian)
        request.gate = PromotionFloors(minimumSensitivity: 0.6, minimumSpecificity: 0.6, minimumImagesPerClass: 1)
        let result = try SimulationRunner.run(request)
        let gate = try #require(result.config.gate)
        #expect(gate.promoted + gate.held + gate.followed == 3 * 2, "3 honest nodes judge once per round: \(gate)")
        for round in result.rounds {
            let served = try #require(round.servedNodes)
            #expect((0...3).contains(served))
            // A served model met the floors on its node's split; on noise it cannot, so none is served.
            #expect(served == 0 || (round.servedMinAccuracy ?? 0) > 0.5, "\(round)")
        }
        // Without --gate nothing of this is written.
        let plain = try SimulationRunner.run(Self.request(byzantine: 2, attack: .gaussian))
        #expect(plain.config.gate == nil && plain.rounds.allSatisfy { $0.servedNodes == nil })
    }

    @Test func theSeedNamesTheAttackers() {
        let a = AttackingTrainer.chooseAttackers(count: 3, nodes: 10, seed: 1)
        #expect(a == AttackingTrainer.chooseAttackers(count: 3, nodes: 10, seed: 1))
        #expect(a.count == 3 && Set(a).count == 3 && a.allSatisfy { (0..<10).contains($0) } && a == a.sorted())
        #expect(AttackingTrainer.chooseAttackers(count: 0, nodes: 10, seed: 1).isEmpty)
    }

    @Test func theResultNamesTheAttackersAndReportsTheHonestNodesApart() throws {
        let result = try SimulationRunner.run(Self.request(byzantine: 2, attack: .gaussian))
        let attackers = try #require(result.config.attackers)
        #expect(attackers.count == 2)
        #expect(result.config.attack == "gaussian" && result.config.aggregation == "mean")
        let honest = try #require(result.honest)
        #expect(honest.perNode.count == 3 && result.federated.perNode.count == 5)
        let honestIndices = (0..<5).filter { !attackers.contains($0) }
        #expect(honest.perNode == honestIndices.map { result.federated.perNode[$0] })
        #expect(result.rounds.allSatisfy { $0.honestMeanAccuracy != nil })
        let object = try #require(try JSONSerialization.jsonObject(with: result.jsonData()) as? [String: Any])
        #expect(object["honest"] != nil)
        let config = try #require(object["config"] as? [String: Any])
        #expect(config["attackers"] as? [Int] == attackers)

        // Without attackers nothing of this is written (the committed results stay byte for byte).
        let clean = try SimulationRunner.run(Self.request(byzantine: 0, attack: .gaussian))
        #expect(clean.honest == nil && clean.config.attackers == nil && clean.config.aggregation == nil)
        #expect(clean.rounds.allSatisfy { $0.honestMeanAccuracy == nil })
    }

    @Test func gaussianNoiseWrecksPlainAveragingAndTheTrimmedMeanKeepsTheHonestNodesClose() throws {
        let plain = try SimulationRunner.run(Self.request(byzantine: 1, attack: .gaussian))
        let trimmed = try SimulationRunner.run(Self.request(byzantine: 1, attack: .gaussian, aggregation: .trimmedMean))
        let clean = try SimulationRunner.run(Self.request(byzantine: 0, attack: .gaussian))
        // Standard deviation 1 per parameter is far outside any trained weight: on a complete graph plain averaging
        // hands every node the same noise (their AUC falls to chance), while the trimmed mean drops the attacker's
        // values and the honest nodes rank cells about as well as in the run without it.
        let plainAUC = try #require(plain.honest?.mean.auc), trimmedAUC = try #require(trimmed.honest?.mean.auc)
        let cleanAUC = try #require(clean.federated.mean.auc)
        #expect(plainAUC <= 0.6, "plain \(plainAUC)")
        #expect(trimmedAUC >= cleanAUC - 0.1, "trimmed \(trimmedAUC), clean \(cleanAUC)")
        #expect(trimmed.config.aggregation == "trimmed-mean(1)")
        // Same seed, same run.
        let again = try SimulationRunner.run(Self.request(byzantine: 1, attack: .gaussian, aggregation: .trimmedMean))
        #expect(again.rounds == trimmed.rounds)
    }

    @Test func everyAttackRunsAndLabelFlipTrainsOnOtherLabels() throws {
        for attack in ByzantineAttack.allCases {
            let result = try SimulationRunner.run(Self.request(byzantine: 1, attack: attack, aggregation: .clipped))
            #expect(result.config.attack == attack.rawValue)
            #expect(result.honest?.perNode.count == 4)
        }
        #expect(throws: ExperimentError.self) { try SimulationRunner.run(Self.request(byzantine: 5, attack: .stale)) }
    }
}

import Foundation
import Testing
@testable import LeukMetrics

@Suite struct MetricsTests {
    @Test func binaryKnownAnswer() throws {
        // classes hem (negative), all (positive). 6 samples.
        // true:      all  all  all  hem  hem  hem
        // p(all):    0.9  0.8  0.3  0.6  0.2  0.1
        // predicted: all  all  hem  all  hem  hem
        let p: [Float] = [0.1, 0.9, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6, 0.8, 0.2, 0.9, 0.1]
        let metrics = EvaluationMetrics(classes: ["hem", "all"], labels: [1, 1, 1, 0, 0, 0], probabilities: p,
                                            responseTimesMs: [1, 2, 3, 4, 5])
        #expect(metrics.n == 6)
        #expect(abs(metrics.accuracy - 4.0 / 6) < 1e-12)
        #expect(abs(metrics.precision - 2.0 / 3) < 1e-12)
        #expect(abs(metrics.recall - 2.0 / 3) < 1e-12)
        #expect(metrics.detectionRate == metrics.recall)
        #expect(abs(metrics.specificity - 2.0 / 3) < 1e-12)
        #expect(abs(metrics.f1 - 2.0 / 3) < 1e-12)
        // Pairs (pos, neg) ranked correctly: 0.9 beats all 3, 0.8 beats all 3, 0.3 beats 0.2 and 0.1 -> 8/9.
        #expect(abs(metrics.auc! - 8.0 / 9) < 1e-12)
        #expect(metrics.confusion.matrix == [[2, 1], [1, 2]])
        #expect(metrics.responseTimeMs == ResponseTimePercentiles(p50: 3, p95: 4.8, p99: 4.96))
    }

    @Test func tiesCountHalfInTheAUC() {
        let metrics = EvaluationMetrics(classes: ["hem", "all"], labels: [1, 0], probabilities: [0.5, 0.5, 0.5, 0.5])
        #expect(metrics.auc == 0.5)
    }

    @Test func jsonKeysMatchTheContract() throws {
        let metrics = EvaluationMetrics(classes: ["hem", "all"], labels: [1, 1], probabilities: [0.1, 0.9, 0.2, 0.8])
        let data = try JSONEncoder().encode(metrics)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["accuracy", "precision", "recall", "detection_rate", "specificity", "f1", "auc",
                                     "confusion", "response_time_ms", "n"])
        #expect(object["auc"] is NSNull)  // one class only: undefined, but present
        let confusion = try #require(object["confusion"] as? [String: Any])
        #expect(confusion["labels"] as? [String] == ["hem", "all"])
        let decoded = try JSONDecoder().decode(EvaluationMetrics.self, from: data)
        #expect(decoded == metrics)
        #expect(metrics.table.contains("accuracy"))
    }
}

/// The two ways into the one metrics type, probabilities (`evaluate`, `train`) and `all` scores
/// (`simulate`), must give identical metrics for a binary screen, or the same model would score
/// differently in `evaluate --json` and in a simulation result.
@Test func probabilitiesAndScoresAgreeOnABinaryScreen() throws {
    let labels = [1, 1, 1, 0, 0, 0, 1, 0, 1]
    let all: [Float] = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.5, 0.5, 0.7]
    let probabilities = all.flatMap { [1 - $0, $0] }
    let fromProbabilities = EvaluationMetrics(classes: ["hem", "all"], labels: labels, probabilities: probabilities,
                                              responseTimesMs: [1, 2, 3])
    let fromScores = try MetricsComputation.evaluate(labels: labels, scores: all.map(Double.init), responseTimesMs: [1, 2, 3])
    #expect(fromProbabilities == fromScores)
    // A three-class model: argmax over all classes, `all` still the positive class whatever its index.
    let three = EvaluationMetrics(classes: ["all", "hem", "other"], labels: [0, 1, 2, 0],
                                  probabilities: [0.5, 0.3, 0.2, 0.1, 0.8, 0.1, 0.4, 0.2, 0.4, 0.2, 0.7, 0.1])
    #expect(three.confusion.matrix == [[1, 1, 0], [0, 1, 0], [1, 0, 0]])
    #expect(three.recall == 0.5 && three.precision == 0.5)
    #expect(abs(three.specificity - 0.5) < 1e-12)  // of hem and other, hem kept, other called all
    #expect(three.auc == 0.75)  // positives {0.5, 0.2} vs negatives {0.1, 0.4}: 2 + 1 of 4 pairs
}

import Foundation
import Testing
@testable import LeukModel

@Suite struct MetricsTests {
    @Test func binaryKnownAnswer() throws {
        // classes hem (negative), all (positive). 6 samples.
        // true:      all  all  all  hem  hem  hem
        // p(all):    0.9  0.8  0.3  0.6  0.2  0.1
        // predicted: all  all  hem  all  hem  hem
        let p: [Float] = [0.1, 0.9, 0.2, 0.8, 0.7, 0.3, 0.4, 0.6, 0.8, 0.2, 0.9, 0.1]
        let metrics = ClassificationMetrics(classes: ["hem", "all"], labels: [1, 1, 1, 0, 0, 0], probabilities: p,
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
        let metrics = ClassificationMetrics(classes: ["hem", "all"], labels: [1, 0], probabilities: [0.5, 0.5, 0.5, 0.5])
        #expect(metrics.auc == 0.5)
    }

    @Test func jsonKeysMatchTheContract() throws {
        let metrics = ClassificationMetrics(classes: ["hem", "all"], labels: [1, 1], probabilities: [0.1, 0.9, 0.2, 0.8])
        let data = try JSONEncoder().encode(metrics)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["accuracy", "precision", "recall", "detection_rate", "specificity", "f1", "auc",
                                     "confusion", "response_time_ms", "n"])
        #expect(object["auc"] is NSNull)  // one class only: undefined, but present
        let confusion = try #require(object["confusion"] as? [String: Any])
        #expect(confusion["labels"] as? [String] == ["hem", "all"])
        let decoded = try JSONDecoder().decode(ClassificationMetrics.self, from: data)
        #expect(decoded == metrics)
        #expect(metrics.table.contains("accuracy"))
    }
}

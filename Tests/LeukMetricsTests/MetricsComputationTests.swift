import Foundation
import Testing
@testable import LeukMetrics

/// Metrics on inputs small enough to count by hand; the expected numbers are worked out in comments.
struct MetricsComputationTests {
    @Test func binaryMetricsMatchHandCount() throws {
        // Called `all` (score > 0.5): 1, 0, 1, 1, 0. True: 1, 1, 0, 0, 0.
        // tp = 1 (index 0), fn = 1 (index 1), fp = 2 (indices 2, 3), tn = 1 (index 4).
        let metrics = try MetricsComputation.evaluate(labels: [1, 1, 0, 0, 0], scores: [0.9, 0.2, 0.8, 0.7, 0.1])
        #expect(metrics.confusion == ConfusionMatrix(labels: ["hem", "all"], matrix: [[1, 2], [1, 1]]))
        #expect(metrics.accuracy == 0.4)
        #expect(abs(metrics.precision - 1.0 / 3) < 1e-12)
        #expect(metrics.recall == 0.5)
        #expect(metrics.detectionRate == 0.5)
        #expect(abs(metrics.specificity - 1.0 / 3) < 1e-12)
        // F1 = 2 * (1/3) * (1/2) / (1/3 + 1/2) = (1/3) / (5/6) = 0.4.
        #expect(abs(metrics.f1 - 0.4) < 1e-12)
        // Positive scores {0.9, 0.2} against negatives {0.8, 0.7, 0.1}: 0.9 wins 3, 0.2 wins 1; 4 of 6 pairs.
        #expect(abs(try #require(metrics.auc) - 4.0 / 6) < 1e-12)
        #expect(metrics.n == 5)
        #expect(metrics.responseTimeMs == nil)
    }

    @Test func eightSampleCase() throws {
        let labels = [1, 1, 1, 0, 0, 0, 1, 0]
        let scores = [0.9, 0.8, 0.4, 0.3, 0.6, 0.1, 0.7, 0.2]
        let metrics = try MetricsComputation.evaluate(labels: labels, scores: scores, responseTimesMs: [2, 1, 4, 3])
        // tp = 3, fn = 1, fp = 1, tn = 3.
        #expect(metrics.confusion.matrix == [[3, 1], [1, 3]])
        #expect(metrics.accuracy == 0.75 && metrics.precision == 0.75 && metrics.recall == 0.75)
        #expect(metrics.specificity == 0.75 && metrics.f1 == 0.75)
        // Only the positive 0.4 loses, to the negative 0.6: 15 of 16 pairs.
        #expect(metrics.auc == 15.0 / 16)
        // Linear interpolation over [1, 2, 3, 4] at positions q/100 * 3: p50 -> 1.5, p95 -> 2.85, p99 -> 2.97.
        let times = try #require(metrics.responseTimeMs)
        #expect(times.p50 == 2.5)
        #expect(abs(times.p95 - 3.85) < 1e-12 && abs(times.p99 - 3.97) < 1e-12)
    }

    @Test func aucSharesTiesHalfAndHalf() throws {
        // Pairs: (0.8, 0.5) 1, (0.8, 0.2) 1, (0.5, 0.5) 1/2, (0.5, 0.2) 1 -> 3.5 / 4.
        #expect(try MetricsComputation.rocAUC(labels: [1, 1, 0, 0], scores: [0.8, 0.5, 0.5, 0.2]) == 0.875)
        // Everything tied: chance.
        #expect(try MetricsComputation.rocAUC(labels: [1, 0, 1, 0], scores: [0.5, 0.5, 0.5, 0.5]) == 0.5)
        // Perfectly reversed ranking.
        #expect(try MetricsComputation.rocAUC(labels: [0, 0, 1], scores: [0.9, 0.8, 0.1]) == 0)
    }

    @Test func thresholdTieIsCalledHem() throws {
        // A score of exactly 0.5 is an argmax tie, resolved to the first class, hem.
        let metrics = try MetricsComputation.evaluate(labels: [1, 0], scores: [0.5, 0.5])
        #expect(metrics.confusion.matrix == [[1, 0], [1, 0]])
        #expect(metrics.precision == 0)  // nothing called `all`: zero_division = 0
        #expect(metrics.f1 == 0)
    }

    @Test func singleClassInputHasNoAUCAndEncodesNull() throws {
        let metrics = try MetricsComputation.evaluate(labels: [1, 1, 1], scores: [0.9, 0.4, 0.7])
        #expect(metrics.auc == nil)
        #expect(metrics.recall == 2.0 / 3)
        #expect(metrics.specificity == 0)  // no hem image
        #expect(metrics.confusion.matrix == [[0, 0], [1, 2]])
        #expect(try MetricsComputation.rocCurve(labels: [1, 1, 1], scores: [0.9, 0.4, 0.7]).isEmpty)
        let json = String(decoding: try JSONEncoder().encode(metrics), as: UTF8.self)
        #expect(json.contains("\"auc\":null"))
        #expect(json.contains("\"response_time_ms\":null"))
        #expect(try JSONDecoder().decode(EvaluationMetrics.self, from: Data(json.utf8)) == metrics)
        #expect(try MetricsComputation.evaluate(labels: [], scores: []).accuracy == 0)
    }

    @Test func rocCurveStepsDiagonallyThroughTiesAndMatchesRankAUC() throws {
        let labels = [1, 1, 0, 0], scores = [0.8, 0.5, 0.5, 0.2]
        let curve = try MetricsComputation.rocCurve(labels: labels, scores: scores)
        #expect(curve.map(\.falsePositiveRate) == [0, 0, 0.5, 1])
        #expect(curve.map(\.truePositiveRate) == [0, 0.5, 1, 1])
        #expect(curve.map(\.threshold) == [nil, 0.8, 0.5, 0.2])
        #expect(MetricsComputation.trapezoidArea(curve) == 0.875)
    }

    /// numpy's default (`np.percentile(..., method="linear")`): position q/100 * (n - 1) between the
    /// sorted values, the definition docs/cnn.md gives for `response_time_ms`.
    @Test func linearlyInterpolatedPercentiles() throws {
        // Sorted: 15, 20, 35, 40, 50 at positions 0...4.
        let values: [Double] = [50, 15, 40, 20, 35]
        #expect(try abs(#require(MetricsComputation.percentile(values, 30)) - 23) < 1e-12)  // position 1.2: 20 + 0.2 * 15
        #expect(try abs(#require(MetricsComputation.percentile(values, 40)) - 29) < 1e-12)  // position 1.6: 20 + 0.6 * 15
        #expect(MetricsComputation.percentile(values, 50) == 35)   // position 2, an observed value
        #expect(MetricsComputation.percentile(values, 100) == 50)
        #expect(MetricsComputation.percentile(values, 0) == 15)
        #expect(MetricsComputation.percentile([7], 1) == 7)
        #expect(MetricsComputation.percentile([], 50) == nil)
        // 1...100: position 49.5 -> 50.5, 94.05 -> 95.05, 98.01 -> 99.01.
        let hundred = try #require(MetricsComputation.responseTimePercentiles((1...100).map(Double.init)))
        #expect(hundred.p50 == 50.5)
        #expect(abs(hundred.p95 - 95.05) < 1e-9 && abs(hundred.p99 - 99.01) < 1e-9)
        #expect(MetricsComputation.responseTimePercentiles([]) == nil)
    }

    @Test func badInputIsRejectedWithTheIndex() {
        #expect(throws: MetricsComputation.InputError.lengthMismatch(labels: 2, scores: 1)) {
            try MetricsComputation.evaluate(labels: [0, 1], scores: [0.3])
        }
        #expect(throws: MetricsComputation.InputError.labelOutOfRange(index: 1, label: 2)) {
            try MetricsComputation.rocAUC(labels: [0, 2], scores: [0.3, 0.4])
        }
        #expect(throws: MetricsComputation.InputError.scoreNotFinite(index: 0)) {
            try MetricsComputation.rocCurve(labels: [0, 1], scores: [.nan, 0.4])
        }
    }

    @Test func meanOverNodesAveragesRatesAndSumsCounts() throws {
        let a = try MetricsComputation.evaluate(labels: [1, 1, 0, 0], scores: [0.9, 0.8, 0.1, 0.2], responseTimesMs: [1])
        let b = try MetricsComputation.evaluate(labels: [1, 1, 0, 0], scores: [0.9, 0.1, 0.6, 0.2], responseTimesMs: [3])
        let c = try MetricsComputation.evaluate(labels: [1, 1], scores: [0.9, 0.8])  // AUC undefined
        let mean = try #require(MetricsComputation.mean(of: [a, b, c]))
        #expect(abs(mean.accuracy - (1 + 0.5 + 1) / 3) < 1e-12)
        #expect(mean.auc == ((a.auc ?? 0) + (b.auc ?? 0)) / 2)  // c has no AUC, so it is left out
        #expect(mean.confusion.matrix == [[3, 1], [1, 5]])
        #expect(mean.n == 10 && mean.confusion.total == 10)
        #expect(mean.responseTimeMs == ResponseTimePercentiles(p50: 2, p95: 2, p99: 2))
        #expect(MetricsComputation.mean(of: []) == nil)
    }
}

import Foundation

extension EvaluationMetrics {
    /// Metrics of a K-class classifier from its softmax outputs: each image is called its argmax class
    /// (an exact tie goes to the earlier class), the confusion matrix is K x K in `classes` order, and
    /// the AUC ranks the positive class's probability. `evaluate` and `train` use this; a binary
    /// screen scored by `all` probability alone goes through `MetricsComputation.evaluate`, and both
    /// end in `init(confusion:positiveClass:auc:responseTimeMs:)`.
    ///
    /// - Parameters:
    ///   - labels: true class index per sample.
    ///   - probabilities: samples x classes, row-major.
    ///   - responseTimesMs: single-image response times, when measured.
    public init(classes: [String], labels: [Int], probabilities: [Float], responseTimesMs: [Double]? = nil) {
        let k = classes.count
        precondition(probabilities.count == labels.count * k, "metrics: probabilities do not match labels x classes")
        let positive = Self.positiveClassIndex(classes)
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var scores: [Double] = []
        scores.reserveCapacity(labels.count)
        for (i, label) in labels.enumerated() {
            var best = 0
            for c in 1..<k where probabilities[i * k + c] > probabilities[i * k + best] { best = c }
            matrix[label][best] += 1
            scores.append(Double(probabilities[i * k + positive]))
        }
        // Only a NaN probability (a diverged model) makes the AUC fail; it is then undefined.
        let auc = (try? MetricsComputation.rocAUC(labels: labels.map { $0 == positive ? 1 : 0 }, scores: scores)) ?? nil
        self.init(confusion: ConfusionMatrix(labels: classes, matrix: matrix), positiveClass: positive, auc: auc,
                  responseTimeMs: responseTimesMs.flatMap(MetricsComputation.responseTimePercentiles))
    }

    /// A readable table for a terminal (`evaluate`, `train` without `--json`).
    public var table: String {
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        var lines = [
            "n            \(n)",
            "accuracy     \(f(accuracy))",
            "precision    \(f(precision))",
            "recall       \(f(recall))   (detection rate of '\(confusion.labels[Self.positiveClassIndex(confusion.labels)])')",
            "specificity  \(f(specificity))",
            "f1           \(f(f1))",
            "auc          \(auc.map(f) ?? "n/a (one class only)")",
        ]
        if let times = responseTimeMs {
            lines.append(String(format: "response ms  p50 %.3f  p95 %.3f  p99 %.3f", times.p50, times.p95, times.p99))
        }
        let width = max(8, (confusion.labels.map(\.count).max() ?? 0) + 2)
        func pad(_ s: String) -> String { s.count >= width ? s : String(repeating: " ", count: width - s.count) + s }
        lines.append("")
        lines.append("confusion (rows: true, columns: predicted)")
        lines.append(pad("") + confusion.labels.map(pad).joined())
        for (label, row) in zip(confusion.labels, confusion.matrix) {
            lines.append(pad(label) + row.map { pad(String($0)) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

import Foundation

/// A confusion matrix: `matrix[true class][predicted class]`, classes in `labels` order.
public struct ConfusionMatrix: Codable, Sendable, Equatable {
    public var labels: [String]
    public var matrix: [[Int]]
}

/// Percentiles of single-image response times, in milliseconds.
public struct ResponseTimePercentiles: Codable, Sendable, Equatable {
    public var p50: Double
    public var p95: Double
    public var p99: Double

    public init(p50: Double, p95: Double, p99: Double) { self.p50 = p50; self.p95 = p95; self.p99 = p99 }

    /// Linear-interpolated percentiles (numpy's default) of the samples.
    public init(samples: [Double]) {
        p50 = Self.percentile(samples, 50); p95 = Self.percentile(samples, 95); p99 = Self.percentile(samples, 99)
    }

    public static func percentile(_ samples: [Double], _ q: Double) -> Double {
        guard !samples.isEmpty else { return 0 }
        let sorted = samples.sorted()
        let position = q / 100 * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }
}

/// Screening metrics of a classifier on a labelled set; the JSON of `evaluate --json` and
/// `simulate --json`.
///
/// The positive class is `all` (a leukemic blast) when the classes include it, otherwise the last class.
/// `precision`, `recall` and `f1` are those of the positive class; `detection_rate` is the recall of the
/// positive class (the clinical name for it); `specificity` is the recall of everything else;
/// `auc` is the ROC AUC of the positive class's probability (ties counted half), `null` when the set
/// lacks one side. Values with a zero denominator are 0.
public struct ClassificationMetrics: Codable, Sendable, Equatable {
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var detectionRate: Double
    public var specificity: Double
    public var f1: Double
    public var auc: Double?
    public var confusion: ConfusionMatrix
    public var responseTimeMs: ResponseTimePercentiles?
    public var n: Int

    enum CodingKeys: String, CodingKey {
        case accuracy, precision, recall, detectionRate = "detection_rate", specificity, f1, auc, confusion
        case responseTimeMs = "response_time_ms", n
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accuracy, forKey: .accuracy)
        try container.encode(precision, forKey: .precision)
        try container.encode(recall, forKey: .recall)
        try container.encode(detectionRate, forKey: .detectionRate)
        try container.encode(specificity, forKey: .specificity)
        try container.encode(f1, forKey: .f1)
        try container.encode(auc, forKey: .auc)  // null when undefined, never omitted
        try container.encode(confusion, forKey: .confusion)
        try container.encode(responseTimeMs, forKey: .responseTimeMs)
        try container.encode(n, forKey: .n)
    }

    /// The index of the positive class: `all` when present, else the last class.
    public static func positiveClassIndex(_ classes: [String]) -> Int {
        classes.firstIndex(of: "all") ?? (classes.count - 1)
    }

    /// - Parameters:
    ///   - labels: true class index per sample.
    ///   - probabilities: samples x classes, row-major.
    ///   - responseTimesMs: single-image response times, when measured.
    public init(classes: [String], labels: [Int], probabilities: [Float], responseTimesMs: [Double]? = nil) {
        let k = classes.count
        precondition(probabilities.count == labels.count * k, "metrics: probabilities do not match labels x classes")
        let positive = Self.positiveClassIndex(classes)
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var scores: [(score: Double, positive: Bool)] = []
        for (i, label) in labels.enumerated() {
            var best = 0
            for c in 1..<k where probabilities[i * k + c] > probabilities[i * k + best] { best = c }
            matrix[label][best] += 1
            scores.append((Double(probabilities[i * k + positive]), label == positive))
        }
        let n = labels.count
        let correct = (0..<k).reduce(0) { $0 + matrix[$1][$1] }
        let truePositive = matrix[positive][positive]
        let actualPositive = matrix[positive].reduce(0, +)
        let predictedPositive = (0..<k).reduce(0) { $0 + matrix[$1][positive] }
        let actualNegative = n - actualPositive
        let trueNegative = actualNegative - (predictedPositive - truePositive)
        func ratio(_ a: Int, _ b: Int) -> Double { b > 0 ? Double(a) / Double(b) : 0 }
        accuracy = ratio(correct, n)
        precision = ratio(truePositive, predictedPositive)
        recall = ratio(truePositive, actualPositive)
        detectionRate = recall
        specificity = ratio(trueNegative, actualNegative)
        f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        auc = Self.rocAUC(scores)
        confusion = ConfusionMatrix(labels: classes, matrix: matrix)
        responseTimeMs = responseTimesMs.map { ResponseTimePercentiles(samples: $0) }
        self.n = n
    }

    /// Mann-Whitney form of the ROC AUC with average ranks for ties.
    static func rocAUC(_ scores: [(score: Double, positive: Bool)]) -> Double? {
        let positives = scores.filter(\.positive).count, negatives = scores.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let sorted = scores.sorted { $0.score < $1.score }
        var rankSum = 0.0
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1].score == sorted[i].score { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for m in i...j where sorted[m].positive { rankSum += averageRank }
            i = j + 1
        }
        let u = rankSum - Double(positives) * Double(positives + 1) / 2
        return u / (Double(positives) * Double(negatives))
    }

    /// A readable table for a terminal.
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

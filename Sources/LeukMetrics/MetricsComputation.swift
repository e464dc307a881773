public import LeukCore

/// The reference computation of the evaluation metrics, used by `simulate` and `report`, so every
/// number in a result file means the same thing wherever it was produced.
///
/// Conventions (all documented here once):
/// - Label 1 is the positive class `all`, label 0 the negative class `hem`.
/// - A sample is called `all` when its `all` probability is strictly above the threshold (0.5 by
///   default). With two softmax outputs this is the argmax that resolves an exact tie to the first
///   class (`hem`), as an argmax over logits in class order does.
/// - A ratio whose denominator is zero (precision with nothing called `all`, recall without any `all`
///   image, specificity without any `hem` image) is 0, like scikit-learn's `zero_division=0`.
/// - AUC is the Mann-Whitney statistic: the probability that a random `all` image scores above a
///   random `hem` image, ties counting one half (average ranks). Undefined, so `nil`, with one class.
/// - Percentiles interpolate linearly between the two nearest ranks (numpy's default): the p-th
///   percentile of n sorted values sits at 0-based position p/100 * (n - 1). This is the definition
///   docs/cnn.md gives for `response_time_ms`, and the one `evaluate` and `bench` always used.
public enum MetricsComputation {
    /// Why a metric cannot be computed from the given inputs.
    public enum InputError: LeukUserFacingError, Equatable {
        case lengthMismatch(labels: Int, scores: Int)
        case labelOutOfRange(index: Int, label: Int)
        case scoreNotFinite(index: Int)

        public var description: String {
            switch self {
            case .lengthMismatch(let labels, let scores):
                "metrics need one score per label, got \(labels) labels and \(scores) scores"
            case .labelOutOfRange(let index, let label):
                "label at index \(index) is \(label); only 0 (hem) and 1 (all) are allowed"
            case .scoreNotFinite(let index):
                "score at index \(index) is not a finite number"
            }
        }
    }

    /// All metrics of a binary screen from true labels (0 = `hem`, 1 = `all`) and the predicted
    /// probability of `all`, plus optional single-image response times in milliseconds.
    public static func evaluate(
        labels: [Int], scores: [Double], threshold: Double = 0.5,
        responseTimesMs: [Double] = [], classNames: [String] = ["hem", "all"]
    ) throws(InputError) -> EvaluationMetrics {
        try validate(labels: labels, scores: scores)
        var matrix = [[0, 0], [0, 0]]
        for (label, score) in zip(labels, scores) { matrix[label][score > threshold ? 1 : 0] += 1 }
        return EvaluationMetrics(confusion: ConfusionMatrix(labels: classNames, matrix: matrix), positiveClass: 1,
                                 auc: try rocAUC(labels: labels, scores: scores),
                                 responseTimeMs: responseTimePercentiles(responseTimesMs))
    }

    /// ROC AUC by ranks (Mann-Whitney U / (positives * negatives)), ties sharing their average rank.
    /// `nil` when either class is absent.
    public static func rocAUC(labels: [Int], scores: [Double]) throws(InputError) -> Double? {
        try validate(labels: labels, scores: scores)
        let positives = labels.count { $0 == 1 }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var positiveRankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            // 1-based ranks start+1 ... end+1 share their mean.
            let averageRank = Double(start + end + 2) / 2
            for position in start...end where labels[order[position]] == 1 { positiveRankSum += averageRank }
            start = end + 1
        }
        let u = positiveRankSum - Double(positives) * Double(positives + 1) / 2
        return u / (Double(positives) * Double(negatives))
    }

    /// The ROC curve's corner points, from (0, 0) to (1, 1): one point per distinct score, taken from
    /// the highest score down, so tied scores move diagonally as they should. Empty when either class
    /// is absent (the rates would divide by zero).
    public static func rocCurve(labels: [Int], scores: [Double]) throws(InputError) -> [ROCPoint] {
        try validate(labels: labels, scores: scores)
        let positives = labels.count { $0 == 1 }
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return [] }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points = [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0)]
        var tp = 0, fp = 0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count, scores[order[end + 1]] == scores[order[start]] { end += 1 }
            for position in start...end {
                if labels[order[position]] == 1 { tp += 1 } else { fp += 1 }
            }
            points.append(ROCPoint(falsePositiveRate: Double(fp) / Double(negatives),
                                   truePositiveRate: Double(tp) / Double(positives),
                                   threshold: scores[order[start]]))
            start = end + 1
        }
        return points
    }

    /// Area under a polyline of ROC points by the trapezoid rule, after sorting by false-positive
    /// rate. Used when a result carries `roc` points but no per-sample scores.
    public static func trapezoidArea(_ points: [ROCPoint]) -> Double? {
        guard points.count >= 2 else { return nil }
        let sorted = points.sorted {
            ($0.falsePositiveRate, $0.truePositiveRate) < ($1.falsePositiveRate, $1.truePositiveRate)
        }
        var area = 0.0
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            area += (b.falsePositiveRate - a.falsePositiveRate) * (a.truePositiveRate + b.truePositiveRate) / 2
        }
        return area
    }

    /// Linearly interpolated percentile (see the type's documentation); `nil` for no values. `p` in [0, 100].
    public static func percentile(_ values: [Double], _ p: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let position = min(max(p, 0), 100) / 100 * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    /// p50, p95 and p99 (linearly interpolated); `nil` when no time was measured.
    public static func responseTimePercentiles(_ millis: [Double]) -> ResponseTimePercentiles? {
        guard let p50 = percentile(millis, 50), let p95 = percentile(millis, 95), let p99 = percentile(millis, 99)
        else { return nil }
        return ResponseTimePercentiles(p50: p50, p95: p95, p99: p99)
    }

    /// The "mean model" of several nodes, as `local_only.mean` and `federated.mean` report it:
    /// every rate is the arithmetic mean over nodes (each node's model counts once, whatever its
    /// test-set size); `auc` is the mean over the nodes where it is defined (`nil` if none);
    /// response-time percentiles are the mean of each percentile over the nodes that measured them;
    /// the confusion matrices and `n` are summed, so the matrix stays a matrix of counts whose total is `n`.
    /// `nil` for no nodes or for confusion matrices whose labels differ.
    public static func mean(of nodes: [EvaluationMetrics]) -> EvaluationMetrics? {
        guard let first = nodes.first else { return nil }
        let labels = first.confusion.labels
        guard nodes.allSatisfy({ $0.confusion.labels == labels && $0.confusion.shapeProblem == nil }) else { return nil }
        func average(_ value: (EvaluationMetrics) -> Double) -> Double {
            nodes.reduce(0) { $0 + value($1) } / Double(nodes.count)
        }
        let aucs = nodes.compactMap(\.auc)
        let times = nodes.compactMap(\.responseTimeMs)
        var matrix = Array(repeating: Array(repeating: 0, count: labels.count), count: labels.count)
        for node in nodes {
            for row in 0..<labels.count {
                for column in 0..<labels.count { matrix[row][column] += node.confusion.matrix[row][column] }
            }
        }
        let meanTimes: ResponseTimePercentiles? = times.isEmpty ? nil : ResponseTimePercentiles(
            p50: times.reduce(0) { $0 + $1.p50 } / Double(times.count),
            p95: times.reduce(0) { $0 + $1.p95 } / Double(times.count),
            p99: times.reduce(0) { $0 + $1.p99 } / Double(times.count))
        return EvaluationMetrics(
            accuracy: average(\.accuracy), precision: average(\.precision), recall: average(\.recall),
            detectionRate: average(\.detectionRate), specificity: average(\.specificity), f1: average(\.f1),
            auc: aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count),
            confusion: ConfusionMatrix(labels: labels, matrix: matrix),
            responseTimeMs: meanTimes,
            n: nodes.reduce(0) { $0 + $1.n })
    }

    private static func validate(labels: [Int], scores: [Double]) throws(InputError) {
        guard labels.count == scores.count else {
            throw .lengthMismatch(labels: labels.count, scores: scores.count)
        }
        if let bad = labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw .labelOutOfRange(index: bad, label: labels[bad])
        }
        if let bad = scores.firstIndex(where: { !$0.isFinite }) { throw .scoreNotFinite(index: bad) }
    }
}

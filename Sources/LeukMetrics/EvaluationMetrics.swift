/// The one metrics type of the project: the object of `leuknode evaluate --json` and of
/// `train --json`'s `test` (issue 4), reused verbatim inside the `leuknode simulate --json` result
/// (issue 7) and read back by `report`. Keys are a contract: `accuracy`, `precision`, `recall`,
/// `detection_rate`, `specificity`, `f1`, `auc`, `confusion`, `response_time_ms`, `n`.
///
/// The positive class is `all` (leukemic blast) when the classes include it, otherwise the last class
/// (`positiveClassIndex`); everything else is negative. `recall` and `detection_rate` are the same
/// number, kept under both names because clinicians and the seed's metrics use different words for it.
/// It lives in its own small module so the engine (`evaluate`, `train`), the federated trainer and
/// the report read and write one definition, with one AUC, one percentile and one confusion matrix.
public struct EvaluationMetrics: Codable, Sendable, Hashable {
    public var accuracy: Double
    /// Of the images called `all`, the fraction that are `all`. 0 when nothing was called `all`.
    public var precision: Double
    /// Of the `all` images, the fraction called `all`. 0 when there is no `all` image.
    public var recall: Double
    /// The recall of the positive class `all`, under the name the screening literature uses.
    public var detectionRate: Double
    /// Of the `hem` images, the fraction called `hem`. 0 when there is no `hem` image.
    public var specificity: Double
    /// Harmonic mean of precision and recall; 0 when both are 0.
    public var f1: Double
    /// ROC AUC of the `all` probability. `nil` (JSON `null`) when the test set holds one class only,
    /// because the area is then undefined, and 0 or 0.5 would both be lies.
    public var auc: Double?
    public var confusion: ConfusionMatrix
    /// Single-image response-time percentiles. `nil` (JSON `null`) when latency was not measured,
    /// for example when a simulation evaluates in batches.
    public var responseTimeMs: ResponseTimePercentiles?
    /// Number of evaluated images.
    public var n: Int

    public init(
        accuracy: Double, precision: Double, recall: Double, detectionRate: Double, specificity: Double,
        f1: Double, auc: Double?, confusion: ConfusionMatrix, responseTimeMs: ResponseTimePercentiles?, n: Int
    ) {
        self.accuracy = accuracy
        self.precision = precision
        self.recall = recall
        self.detectionRate = detectionRate
        self.specificity = specificity
        self.f1 = f1
        self.auc = auc
        self.confusion = confusion
        self.responseTimeMs = responseTimeMs
        self.n = n
    }

    /// Every rate derived from a confusion matrix, with `positiveClass` the row and column of the
    /// positive class: the single place where precision, recall, specificity and F1 are defined.
    /// A ratio whose denominator is zero is 0 (scikit-learn's `zero_division=0`); `specificity` is the
    /// recall of everything that is not the positive class.
    public init(confusion: ConfusionMatrix, positiveClass positive: Int, auc: Double?,
                responseTimeMs: ResponseTimePercentiles?) {
        let matrix = confusion.matrix
        let k = matrix.count
        let n = confusion.total
        let correct = (0..<k).reduce(0) { $0 + matrix[$1][$1] }
        let truePositive = matrix[positive][positive]
        let actualPositive = matrix[positive].reduce(0, +)
        let predictedPositive = (0..<k).reduce(0) { $0 + matrix[$1][positive] }
        let actualNegative = n - actualPositive
        let trueNegative = actualNegative - (predictedPositive - truePositive)
        func ratio(_ a: Int, _ b: Int) -> Double { b > 0 ? Double(a) / Double(b) : 0 }
        let precision = ratio(truePositive, predictedPositive)
        let recall = ratio(truePositive, actualPositive)
        self.init(accuracy: ratio(correct, n), precision: precision, recall: recall, detectionRate: recall,
                  specificity: ratio(trueNegative, actualNegative),
                  f1: precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0,
                  auc: auc, confusion: confusion, responseTimeMs: responseTimeMs, n: n)
    }

    /// The index of the positive class: `all` when present, else the last class.
    public static func positiveClassIndex(_ classes: [String]) -> Int {
        classes.firstIndex(of: "all") ?? (classes.count - 1)
    }

    enum CodingKeys: String, CodingKey {
        case accuracy, precision, recall
        case detectionRate = "detection_rate"
        case specificity, f1, auc, confusion
        case responseTimeMs = "response_time_ms"
        case n
    }

    /// Every key is required; `auc` and `response_time_ms` may be `null` but not absent, so a
    /// result written by an older or broken writer is caught by name instead of read as "unknown".
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accuracy = try container.decode(Double.self, forKey: .accuracy)
        precision = try container.decode(Double.self, forKey: .precision)
        recall = try container.decode(Double.self, forKey: .recall)
        detectionRate = try container.decode(Double.self, forKey: .detectionRate)
        specificity = try container.decode(Double.self, forKey: .specificity)
        f1 = try container.decode(Double.self, forKey: .f1)
        auc = try Self.decodeNullable(Double.self, .auc, in: container)
        confusion = try container.decode(ConfusionMatrix.self, forKey: .confusion)
        responseTimeMs = try Self.decodeNullable(ResponseTimePercentiles.self, .responseTimeMs, in: container)
        n = try container.decode(Int.self, forKey: .n)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accuracy, forKey: .accuracy)
        try container.encode(precision, forKey: .precision)
        try container.encode(recall, forKey: .recall)
        try container.encode(detectionRate, forKey: .detectionRate)
        try container.encode(specificity, forKey: .specificity)
        try container.encode(f1, forKey: .f1)
        try container.encode(auc, forKey: .auc)  // Optional.encode writes `null`, keeping the key.
        try container.encode(confusion, forKey: .confusion)
        try container.encode(responseTimeMs, forKey: .responseTimeMs)
        try container.encode(n, forKey: .n)
    }

    private static func decodeNullable<T: Decodable>(
        _ type: T.Type, _ key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>
    ) throws -> T? {
        guard container.contains(key) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: container.codingPath, debugDescription: "key '\(key.stringValue)' is required (it may be null)"))
        }
        return try container.decodeIfPresent(T.self, forKey: key)
    }
}

/// A confusion matrix with its class names: `matrix[true][predicted]`, rows are the true class and
/// columns the predicted class, both in the order of `labels`. For the binary screen,
/// `labels == ["hem", "all"]` and `matrix == [[tn, fp], [fn, tp]]`.
public struct ConfusionMatrix: Codable, Sendable, Hashable {
    public var labels: [String]
    public var matrix: [[Int]]

    public init(labels: [String], matrix: [[Int]]) {
        self.labels = labels
        self.matrix = matrix
    }

    /// The binary screen's matrix from its four counts.
    public init(trueNegatives: Int, falsePositives: Int, falseNegatives: Int, truePositives: Int,
                labels: [String] = ["hem", "all"]) {
        self.labels = labels
        self.matrix = [[trueNegatives, falsePositives], [falseNegatives, truePositives]]
    }

    /// Total number of counted images.
    public var total: Int { matrix.reduce(0) { $0 + $1.reduce(0, +) } }

    /// `nil` when the matrix is square and matches its labels; otherwise what is wrong with it.
    public var shapeProblem: String? {
        if labels.isEmpty { return "has no labels" }
        if matrix.count != labels.count {
            return "has \(matrix.count) rows for \(labels.count) labels"
        }
        for (index, row) in matrix.enumerated() where row.count != labels.count {
            return "row \(index) has \(row.count) columns for \(labels.count) labels"
        }
        if matrix.contains(where: { $0.contains { $0 < 0 } }) { return "holds a negative count" }
        return nil
    }

    /// Row `index` as fractions of its row total (0 for an empty row), as the heatmap shows it.
    public func rowNormalized(_ index: Int) -> [Double] {
        let row = matrix[index]
        let sum = row.reduce(0, +)
        return row.map { sum == 0 ? 0 : Double($0) / Double(sum) }
    }
}

/// Percentiles of single-image response time, in milliseconds (`response_time_ms`).
public struct ResponseTimePercentiles: Codable, Sendable, Hashable {
    public var p50: Double
    public var p95: Double
    public var p99: Double

    public init(p50: Double, p95: Double, p99: Double) {
        self.p50 = p50
        self.p95 = p95
        self.p99 = p99
    }
}

/// One test image as the final federated model saw it: true label (0 = `hem`, 1 = `all`) and the
/// predicted probability of `all`.
public struct ScoredSample: Codable, Sendable, Hashable {
    public var label: Int
    public var score: Double

    public init(label: Int, score: Double) {
        self.label = label
        self.score = score
    }
}

/// One point of a ROC curve (`{"fpr", "tpr", "threshold"}`); `threshold` is the score at or above
/// which images are called `all` to reach this point (absent for the (0, 0) corner).
public struct ROCPoint: Codable, Sendable, Hashable {
    public var falsePositiveRate: Double
    public var truePositiveRate: Double
    public var threshold: Double?

    public init(falsePositiveRate: Double, truePositiveRate: Double, threshold: Double? = nil) {
        self.falsePositiveRate = falsePositiveRate
        self.truePositiveRate = truePositiveRate
        self.threshold = threshold
    }

    enum CodingKeys: String, CodingKey {
        case falsePositiveRate = "fpr"
        case truePositiveRate = "tpr"
        case threshold
    }
}

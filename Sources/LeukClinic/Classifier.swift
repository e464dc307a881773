public import LeukCore

/// The node's current model, as the clinic sees it. LeukClinic does not know how a model is built or
/// trained: the node implements this protocol with its federated CNN and hands it to `Clinic`.
///
/// Implementations run the model off the caller's executor (the clinic calls it from a request
/// handler) and throw `ClassificationError` for the two failures a person can act on.
public protocol CellClassifier: Sendable {
    func classify(imageBytes: [UInt8], fileName: String) async throws -> Classification
}

/// One class and its probability.
public struct ClassProbability: Sendable, Codable, Equatable, Hashable {
    public var label: String
    public var probability: Double

    public init(label: String, probability: Double) {
        self.label = label
        self.probability = probability
    }
}

/// What the model said about one image, and which model said it.
public struct Classification: Sendable, Equatable {
    /// Every class's probability (they sum to about 1).
    public var probabilities: [String: Double]
    /// The most likely class.
    public var predicted: String
    /// SHA-256 (hex) of the model's parameters, as `model history` shows it.
    public var modelSHA256: String
    /// The model's version (grows with every federated update the node adopts).
    public var modelVersion: UInt64
    /// How long the model took, in milliseconds.
    public var responseTimeMs: Double

    public init(probabilities: [String: Double], predicted: String, modelSHA256: String, modelVersion: UInt64,
                responseTimeMs: Double) {
        self.probabilities = probabilities
        self.predicted = predicted
        self.modelSHA256 = modelSHA256
        self.modelVersion = modelVersion
        self.responseTimeMs = responseTimeMs
    }
}

/// The failures of a classifier that the person submitting an image can do something about.
public enum ClassificationError: LeukUserFacingError, Equatable {
    /// The bytes are not an image the model can read (HTTP 422).
    case unreadableImage(String)
    /// The node has no model yet, or it is being replaced (HTTP 503).
    case modelUnavailable(String)

    public var description: String {
        switch self {
        case let .unreadableImage(why): return "the image could not be read: \(why)"
        case let .modelUnavailable(why): return "no model is available for diagnosis: \(why)"
        }
    }

    public var hint: String? {
        switch self {
        case .unreadableImage: return "send a PNG, JPEG, BMP or TIFF image of a single blood cell"
        case .modelUnavailable: return "wait until the node has trained or received a model (see `leuknode status`)"
        }
    }
}

/// The follow-up an outcome calls for.
public enum FollowUp: String, Sendable, Codable, CaseIterable {
    /// Urgent hematology follow-up (within 48 hours by default).
    case urgent
    /// Review within 7 days by default.
    case review
    /// Routine care, no appointment.
    case routine

    public var needsAppointment: Bool { self != .routine }
}

/// Maps the probability of the leukemia class to a follow-up. The defaults are the clinic's
/// protocol (>= 0.5 urgent within 48 h, 0.2 to 0.5 review within 7 days, below 0.2 routine); an
/// institution may set its own thresholds.
public struct FollowUpPolicy: Sendable, Equatable {
    /// The class whose probability decides (`all`: acute lymphoblastic leukemia).
    public var positiveClass: String
    public var urgentThreshold: Double
    public var reviewThreshold: Double
    public var urgentWithin: Duration
    public var reviewWithin: Duration

    public init(positiveClass: String = "all", urgentThreshold: Double = 0.5, reviewThreshold: Double = 0.2,
                urgentWithin: Duration = .seconds(48 * 3600), reviewWithin: Duration = .seconds(7 * 24 * 3600)) {
        precondition(0 <= reviewThreshold && reviewThreshold <= urgentThreshold && urgentThreshold <= 1,
                     "follow-up thresholds must satisfy 0 <= review <= urgent <= 1")
        self.positiveClass = positiveClass
        self.urgentThreshold = urgentThreshold
        self.reviewThreshold = reviewThreshold
        self.urgentWithin = urgentWithin
        self.reviewWithin = reviewWithin
    }

    public func followUp(forPositiveProbability p: Double) -> FollowUp {
        if p >= urgentThreshold { return .urgent }
        if p >= reviewThreshold { return .review }
        return .routine
    }

    public func deadline(for followUp: FollowUp, after time: Timestamp) -> Timestamp? {
        switch followUp {
        case .urgent: return time.adding(urgentWithin)
        case .review: return time.adding(reviewWithin)
        case .routine: return nil
        }
    }
}

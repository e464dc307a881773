/// What a model scored on a site's held-out validation split: the counts behind sensitivity and
/// specificity, kept as counts so a decision can show how many images a figure rests on, and so a
/// figure resting on too few images is recognised as unmeasured rather than trusted.
public struct ValidationFigures: Codable, Sendable, Hashable {
    /// Validation images of the positive class (`all`), and how many of them the model called `all`.
    public var positives: Int
    public var truePositives: Int
    /// Validation images of every other class, and how many of them the model did not call `all`.
    public var negatives: Int
    public var trueNegatives: Int
    /// Mean cross-entropy on the split; not a floor, shown so an operator can see a model's confidence.
    public var loss: Double

    public init(positives: Int, truePositives: Int, negatives: Int, trueNegatives: Int, loss: Double) {
        self.positives = positives
        self.truePositives = truePositives
        self.negatives = negatives
        self.trueNegatives = trueNegatives
        self.loss = loss
    }

    /// The figures of a confusion matrix whose row and column `positive` is the positive class.
    public init(confusion: ConfusionMatrix, positiveClass positive: Int, loss: Double) {
        let matrix = confusion.matrix
        let positiveRow = positive < matrix.count ? matrix[positive] : []
        let truePositives = positive < positiveRow.count ? positiveRow[positive] : 0
        let positives = positiveRow.reduce(0, +)
        let predictedPositive = matrix.reduce(0) { $0 + (positive < $1.count ? $1[positive] : 0) }
        let negatives = confusion.total - positives
        self.init(positives: positives, truePositives: truePositives, negatives: negatives,
                  trueNegatives: negatives - (predictedPositive - truePositives), loss: loss)
    }

    public var sensitivity: Double? { positives > 0 ? Double(truePositives) / Double(positives) : nil }
    public var specificity: Double? { negatives > 0 ? Double(trueNegatives) / Double(negatives) : nil }

    enum CodingKeys: String, CodingKey {
        case positives, truePositives = "true_positives", negatives, trueNegatives = "true_negatives", loss
    }
}

/// The site's floors for clinical use (`leuknode start --min-sensitivity --min-specificity --max-drop`).
public struct PromotionFloors: Codable, Sendable, Hashable {
    /// The least recall of `all` a served model may have on the site's validation split.
    public var minimumSensitivity: Double
    /// The least recall of the other classes.
    public var minimumSpecificity: Double
    /// How much lower than the served model's a candidate's score (the mean of the measured recalls)
    /// may be. A small allowance, because a handful of validation images moves the score in steps.
    public var maximumDrop: Double
    /// A recall measured on fewer images than this is not trusted: its floor is not applied, and
    /// the decision says so. With neither class measured, `partialValidation` decides for a site with
    /// some validation images and `withoutValidation` for a site with none.
    public var minimumImagesPerClass: Int
    /// What a site without validation images does with merged models (a node without a dataset:
    /// following is its only way to diagnose).
    public var withoutValidation: UnvalidatedRule
    /// What a site that holds validation images but cannot measure both recalls does (a one-class site,
    /// or a small one with fewer than `minimumImagesPerClass` of each class). Holding is
    /// the default: a model that calls every cell this site's class passes the one floor it can check
    /// (seen in `simulate --gate`: a hem-only site served the all-hem model a sign-flip attack made).
    public var partialValidation: UnvalidatedRule

    public init(minimumSensitivity: Double = 0.8, minimumSpecificity: Double = 0.8, maximumDrop: Double = 0.05,
                minimumImagesPerClass: Int = 10, withoutValidation: UnvalidatedRule = .follow,
                partialValidation: UnvalidatedRule = .hold) {
        self.minimumSensitivity = minimumSensitivity
        self.minimumSpecificity = minimumSpecificity
        self.maximumDrop = maximumDrop
        self.minimumImagesPerClass = max(1, minimumImagesPerClass)
        self.withoutValidation = withoutValidation
        self.partialValidation = partialValidation
    }

    enum CodingKeys: String, CodingKey {
        case minimumSensitivity = "min_sensitivity", minimumSpecificity = "min_specificity", maximumDrop = "max_drop"
        case minimumImagesPerClass = "min_images_per_class", withoutValidation = "without_validation"
        case partialValidation = "partial_validation"
    }
}

/// The explicit rule of a site without enough validation images to check a model.
public enum UnvalidatedRule: String, Codable, Sendable, CaseIterable {
    /// Serve each merged model unchecked (the robust mixing is then the only defence), and say so in
    /// every decision.
    case follow
    /// Serve nothing the site could not check: diagnoses wait for an operator's `model promote`.
    case hold
}

/// The gate's verdict on one candidate.
public struct PromotionVerdict: Sendable, Hashable {
    public enum Outcome: String, Codable, Sendable {
        /// Passed every floor that could be measured: serve it.
        case promoted
        /// Failed a floor, dropped too far, or the served model is pinned: keep the served model.
        case held
        /// Nothing could be measured and the site's rule is `follow`: serve it, unchecked.
        case followed
    }

    public var outcome: Outcome
    /// Why, in words an operator reads in `leuknode model history`: every failed floor, every floor
    /// not applied for want of images, the pin.
    public var reasons: [String]

    public var serves: Bool { outcome != .held }
}

/// Decides whether a newly merged model may replace the one doctors diagnose with. Pure: the node
/// evaluates both models on its validation split off the event loop and hands the figures in; the
/// simulator drives the same type, so a decision replays exactly.
///
/// What it guarantees: a served model met every floor the site could measure, at the time it was
/// judged, and scored no more than `maximumDrop` below the model it replaced. What it does not: a
/// floor on a class the site holds no images of (a one-class site cannot check sensitivity), or a
/// model that passes on this site's images but is worse elsewhere.
public struct PromotionGate: Sendable, Hashable {
    public var floors: PromotionFloors

    public init(floors: PromotionFloors = PromotionFloors()) { self.floors = floors }

    /// Judges `candidate` (nil: the site has no validation split) against the served model's figures
    /// (nil: nothing is served yet). `finite` is false when the candidate's parameters hold a NaN or
    /// an infinity: such a model is never served, whatever it scores.
    public func judge(candidate: ValidationFigures?, served: ValidationFigures?, pinned: Bool, finite: Bool = true) -> PromotionVerdict {
        if pinned { return PromotionVerdict(outcome: .held, reasons: ["the served model is pinned by an operator"]) }
        guard finite else { return PromotionVerdict(outcome: .held, reasons: ["the parameters are not all finite numbers"]) }
        let minimum = floors.minimumImagesPerClass
        let figures = candidate ?? ValidationFigures(positives: 0, truePositives: 0, negatives: 0, trueNegatives: 0, loss: .nan)
        let sensitivity = figures.positives >= minimum ? figures.sensitivity : nil
        let specificity = figures.negatives >= minimum ? figures.specificity : nil
        var reasons: [String] = []
        if sensitivity == nil {
            reasons.append("sensitivity not checked: \(figures.positives) validation images of the positive class, fewer than \(minimum)")
        }
        if specificity == nil {
            reasons.append("specificity not checked: \(figures.negatives) validation images of the other classes, fewer than \(minimum)")
        }
        guard sensitivity != nil || specificity != nil else {
            if figures.positives + figures.negatives > 0 {
                // A site with a few validation images, too few to measure either recall, is a site that
                // cannot check both classes, not a site without data: `partialValidation` decides. (Under
                // `follow` for such sites, `simulate --gate` on Aria showed a node with 6 validation images
                // serving a first-round model of 0.15 accuracy.)
                switch floors.partialValidation {
                case .follow:
                    return PromotionVerdict(outcome: .followed, reasons: reasons + ["served unchecked: the site's rule is to follow when it cannot check both classes"])
                case .hold:
                    return PromotionVerdict(outcome: .held, reasons: reasons + ["held: the site's rule is to serve nothing it could not check on both classes"])
                }
            }
            switch floors.withoutValidation {
            case .follow:
                return PromotionVerdict(outcome: .followed, reasons: reasons + ["served unchecked: the site's rule is to follow the federation"])
            case .hold:
                return PromotionVerdict(outcome: .held, reasons: reasons + ["held: the site's rule is to serve nothing it cannot check"])
            }
        }
        var failed = false
        if (sensitivity == nil || specificity == nil) && floors.partialValidation == .hold {
            failed = true
            reasons.append("held: the site's rule is to serve nothing it could not check on both classes")
        }
        if let sensitivity, sensitivity < floors.minimumSensitivity {
            failed = true
            reasons.append("sensitivity \(Self.format(sensitivity)) is below the floor \(Self.format(floors.minimumSensitivity))")
        }
        if let specificity, specificity < floors.minimumSpecificity {
            failed = true
            reasons.append("specificity \(Self.format(specificity)) is below the floor \(Self.format(floors.minimumSpecificity))")
        }
        if let served, let candidateScore = score(figures), let servedScore = score(served),
           servedScore - candidateScore > floors.maximumDrop + 1e-12 {
            failed = true
            reasons.append("score \(Self.format(candidateScore)) is more than \(Self.format(floors.maximumDrop)) below the served model's \(Self.format(servedScore))")
        }
        return PromotionVerdict(outcome: failed ? .held : .promoted, reasons: reasons)
    }

    /// The mean of the recalls this site can measure: the balanced accuracy with both classes, the
    /// one recall with one. Nil when neither is measured.
    public func score(_ figures: ValidationFigures) -> Double? {
        let minimum = floors.minimumImagesPerClass
        let measured = [figures.positives >= minimum ? figures.sensitivity : nil,
                        figures.negatives >= minimum ? figures.specificity : nil].compactMap { $0 }
        return measured.isEmpty ? nil : measured.reduce(0, +) / Double(measured.count)
    }

    static func format(_ value: Double) -> String {
        let scaled = (value * 1000).rounded() / 1000
        return String(scaled)
    }
}

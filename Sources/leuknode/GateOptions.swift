import ArgumentParser
import LeukMetrics

/// The site's floors for serving a merged model (`PromotionFloors`).
struct GateOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Least recall of `all` (blasts) a served model must have on this node's validation split.", valueName: "RATE"))
    var minSensitivity = PromotionFloors().minimumSensitivity

    @Option(help: ArgumentHelp("Least recall of the other classes.", valueName: "RATE"))
    var minSpecificity = PromotionFloors().minimumSpecificity

    @Option(help: ArgumentHelp("How far below the served model's a candidate's score (mean of the measured recalls) may be.", valueName: "RATE"))
    var maxDrop = PromotionFloors().maximumDrop

    @Option(help: ArgumentHelp("Validation images a class needs before its floor is applied.", valueName: "N"))
    var minValidationImages = PromotionFloors().minimumImagesPerClass

    @Option(help: ArgumentHelp("What a node without validation images (no dataset) does with merged models: follow (serve them unchecked) or hold (serve nothing an operator did not promote).",
                               valueName: "follow|hold"))
    var withoutValidation = PromotionFloors().withoutValidation.rawValue

    @Option(help: ArgumentHelp("What a node with validation images that cannot check both recalls (a one-class site, or fewer than --min-validation-images of a class) does: hold (serve nothing it could not check on both classes) or follow (serve on the floors it can check).",
                               valueName: "follow|hold"))
    var partialValidation = PromotionFloors().partialValidation.rawValue

    func check() throws {
        for (name, value) in [("--min-sensitivity", minSensitivity), ("--min-specificity", minSpecificity), ("--max-drop", maxDrop)] {
            guard value.isFinite, (0...1).contains(value) else { throw ValidationError("\(name) must be a rate from 0 to 1, not \(value)") }
        }
        guard (1...100_000).contains(minValidationImages) else { throw ValidationError("--min-validation-images must be 1 to 100000") }
        for (name, value) in [("--without-validation", withoutValidation), ("--partial-validation", partialValidation)]
        where UnvalidatedRule(rawValue: value) == nil {
            throw ValidationError("\(name) must be 'follow' or 'hold', got '\(value)'")
        }
    }

    var floors: PromotionFloors {
        PromotionFloors(minimumSensitivity: minSensitivity, minimumSpecificity: minSpecificity, maximumDrop: maxDrop,
                        minimumImagesPerClass: minValidationImages, withoutValidation: UnvalidatedRule(rawValue: withoutValidation) ?? .follow,
                        partialValidation: UnvalidatedRule(rawValue: partialValidation) ?? .hold)
    }
}

import ArgumentParser
import LeukGossip

/// `--aggregation RULE --trim B`: how a node mixes its neighbours' models, the same flags for `start` (a real
/// node) and `simulate` (every node of the simulation). network/PROTOCOL.md says what each rule guarantees;
/// the default, `clipped`, is the measured best (docs/results.md, "Byzantine peers").
struct AggregationOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How to mix the neighbours' models: \(AggregationRule.allCases.map(\.rawValue).joined(separator: ", ")) (network/PROTOCOL.md).",
                               valueName: "RULE"))
    var aggregation = AggregationRule.defaultRule.rawValue

    @Option(help: ArgumentHelp("With --aggregation trimmed-mean: neighbour values dropped from each end per parameter, i.e. the attacking neighbours tolerated (a node mixes only when it hears 2*B+1).",
                               valueName: "B"))
    var trim = 1

    func validate() throws {
        guard AggregationRule(rawValue: aggregation) != nil else {
            throw ValidationError("--aggregation must be one of \(AggregationRule.allCases.map(\.rawValue).joined(separator: ", ")), got '\(aggregation)'")
        }
        guard trim >= 0, trim <= 100 else { throw ValidationError("--trim must be 0 to 100, got \(trim)") }
    }

    var rule: AggregationRule { AggregationRule(rawValue: aggregation) ?? .mean }
}

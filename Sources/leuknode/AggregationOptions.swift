import ArgumentParser
import LeukGossip
import LeukTraining
import LeukModel

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

/// `--exchanges-per-round E --class-balance MODE`: how often a node publishes inside a round and whose class
/// counts weight its loss, the same flags for `start` and `simulate` (docs/results.md, "Averaging inside the
/// round", says why the defaults are 80 and `adaptive`).
struct InRoundOptions: ParsableArguments {
    @Option(name: .customLong("exchanges-per-round"), help: ArgumentHelp(
        "Stretches a round's --steps-per-round steps are cut into: after each, a node folds its training into its model and publishes it to its neighbours, who mix it in (1 = once per round; fewer means less traffic on a slow link). Default: \(FederationDefaults.exchangesPerRound), or --steps-per-round if fewer.",
        valueName: "E"))
    var exchangesPerRound: Int?

    @Option(name: .customLong("class-balance"), help: ArgumentHelp(
        "Whose class counts weight a node's loss: 'adaptive' (its own mix when it holds every class; else the weights that give every class the same mass in the neighbourhood's averaged step, from its peers' reported counts), 'federation' (its own plus the per-class counts its neighbours report in their signed updates; on a complete graph the nodes then train the pooled data's balanced loss), 'local' (its own mix) or 'none' (plain cross-entropy, an ablation).",
        valueName: "adaptive|federation|local|none"))
    var classBalance = FederationDefaults.classBalance.rawValue

    func validate() throws {
        guard ClassBalance(rawValue: classBalance) != nil else {
            throw ValidationError("--class-balance must be 'adaptive', 'federation', 'local' or 'none', got '\(classBalance)'")
        }
    }

    /// Checks the exchanges against the round's steps (the options' own `validate` cannot see them); each
    /// command calls it from its `validate`.
    func validate(stepsPerRound: Int) throws {
        if let exchangesPerRound, !(1...max(stepsPerRound, 1)).contains(exchangesPerRound) {
            throw ValidationError("--exchanges-per-round must be from 1 to --steps-per-round (\(stepsPerRound)), got \(exchangesPerRound)")
        }
    }

    func exchanges(stepsPerRound: Int) -> Int { FederationDefaults.exchanges(requested: exchangesPerRound, stepsPerRound: stepsPerRound) }
    var balance: ClassBalance { ClassBalance(rawValue: classBalance) ?? FederationDefaults.classBalance }
}

extension OptimizerPlacement {
    /// `--optimizer-placement` as typed (nil: the default of the optimiser named `optimizer`), or a clear error.
    static func parsing(_ text: String?, optimizer: String) throws -> OptimizerPlacement {
        guard let text else { return FederationDefaults.optimizerPlacement(for: OptimizerKind(named: optimizer) ?? FederationDefaults.optimizer) }
        guard let placement = OptimizerPlacement(rawValue: text) else {
            throw ValidationError("--optimizer-placement must be \(allCases.map { "'\($0.rawValue)'" }.joined(separator: " or ")), got '\(text)'")
        }
        return placement
    }
}

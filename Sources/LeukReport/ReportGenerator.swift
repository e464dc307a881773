import LeukMetrics
internal import Foundation
public import LeukCore

/// Why a report could not be written.
public enum ReportError: LeukUserFacingError, Equatable {
    case result(ResultFileError)
    case cannotCreateDirectory(path: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .result(let error): error.description
        case .cannotCreateDirectory(let path, let reason): "cannot create the report directory '\(path)': \(reason)"
        case .cannotWrite(let path, let reason): "cannot write '\(path)': \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .result(let error): error.hint
        case .cannotCreateDirectory, .cannotWrite: "choose a writable --out directory"
        }
    }
}

/// What `generate` wrote, and anything the reader should know (for example a plot it had to skip).
public struct ReportFiles: Sendable, Hashable {
    public var directory: String
    /// File names written inside `directory`, in writing order.
    public var written: [String]
    public var notes: [String]
}

/// Turns a simulation result into the four plots and the Markdown summary of issue 7:
/// `accuracy.svg`, `consensus.svg`, `confusion.svg`, `roc.svg` and `summary.md`.
public enum ReportGenerator {
    public static let accuracyFile = "accuracy.svg"
    public static let consensusFile = "consensus.svg"
    public static let confusionFile = "confusion.svg"
    public static let rocFile = "roc.svg"
    public static let summaryFile = "summary.md"

    /// Reads `resultPath` (the JSON of `simulate --json`) and writes the report into
    /// `outputDirectory`, creating it if needed. This is what `leuknode report` runs.
    public static func generate(from resultPath: String, to outputDirectory: String) throws(ReportError) -> ReportFiles {
        let result: SimulationResult
        do {
            result = try SimulationResult.load(path: resultPath)
        } catch {
            throw .result(error)
        }
        return try generate(result: result, to: outputDirectory)
    }

    /// Writes the report for an already decoded result.
    public static func generate(result: SimulationResult, to outputDirectory: String) throws(ReportError) -> ReportFiles {
        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw .cannotCreateDirectory(path: outputDirectory, reason: error.localizedDescription)
        }
        var files = ReportFiles(directory: outputDirectory, written: [], notes: [])
        func write(_ name: String, _ text: String) throws(ReportError) {
            let path = (outputDirectory as NSString).appendingPathComponent(name)
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw .cannotWrite(path: path, reason: error.localizedDescription)
            }
            files.written.append(name)
        }

        try write(accuracyFile, accuracyChart(result).render())
        try write(consensusFile, consensusChart(result).render())
        try write(confusionFile, confusionHeatmap(result).render())
        if let roc = rocChart(result) {
            try write(rocFile, roc.render())
        } else {
            files.notes.append("no ROC curve: the result has neither `federated_scores` nor `roc`, so \(rocFile) was not written")
        }
        if result.rounds.isEmpty { files.notes.append("the result has no rounds; the round plots are empty") }
        try write(summaryFile, summaryMarkdown(result, plots: files.written, notes: files.notes))
        return files
    }

    /// Federated mean accuracy per round, with the node spread as a band when the result has it,
    /// local-only accuracy per round when tracked, and centralized and local-only as dashed references.
    public static func accuracyChart(_ result: SimulationResult) -> LineChart {
        let rounds = result.rounds
        var series = [LineChart.Series(name: "Federated (mean of nodes)",
                                       points: rounds.map { (Double($0.round), $0.meanAccuracy) },
                                       color: ChartPalette.blue)]
        let localPerRound: [(x: Double, y: Double)] = rounds.compactMap { round in round.localOnlyAccuracy.map { (Double(round.round), $0) } }
        if !localPerRound.isEmpty {
            series.append(LineChart.Series(name: "Local-only (mean, per round)", points: localPerRound,
                                           color: ChartPalette.orange, dash: "3 3"))
        }
        var bands: [LineChart.Band] = []
        let spread = rounds.compactMap { round -> (x: Double, lower: Double, upper: Double)? in
            guard let low = round.minAccuracy, let high = round.maxAccuracy else { return nil }
            return (Double(round.round), low, high)
        }
        if spread.count >= 2 { bands.append(LineChart.Band(name: "Federated node range", points: spread, color: ChartPalette.blue)) }
        return LineChart(
            title: "Accuracy against rounds (\(result.config.nodes) nodes, \(result.config.topology))",
            xLabel: "Round", yLabel: "Accuracy on the common test set", series: series, bands: bands,
            referenceLines: [
                LineChart.ReferenceLine(name: "Centralized", value: result.centralized.accuracy, color: ChartPalette.green),
                LineChart.ReferenceLine(name: "Local-only mean (final)", value: result.localOnly.mean.accuracy,
                                        color: ChartPalette.vermillion),
            ],
            yClamp: 0...1)
    }

    /// Consensus distance per round on a log scale: a straight falling line means geometric agreement.
    public static func consensusChart(_ result: SimulationResult) -> LineChart {
        LineChart(
            title: "Consensus distance against rounds (log scale)",
            xLabel: "Round", yLabel: "Consensus distance between node models",
            series: [LineChart.Series(name: "Consensus distance",
                                      points: result.rounds.map { (Double($0.round), $0.consensusDistance) },
                                      color: ChartPalette.purple)],
            logScaleY: true)
    }

    /// The final federated confusion matrix (`federated.mean.confusion`).
    public static func confusionHeatmap(_ result: SimulationResult) -> ConfusionHeatmap {
        let perNode = result.federated.perNode
        let summed = perNode.count > 1 && result.federated.mean.confusion.total == perNode.reduce(0) { $0 + $1.confusion.total }
        return ConfusionHeatmap(title: "Confusion matrix: final federated model",
                                subtitle: summed ? "summed over the \(perNode.count) nodes' models" : nil,
                                confusion: result.federated.mean.confusion)
    }

    /// The ROC curve of the final federated model, from `federated_scores` when present (exact AUC
    /// by ranks) or else from `roc` points (AUC by trapezoids); `nil` when the result has neither.
    public static func rocChart(_ result: SimulationResult) -> ROCChart? {
        let title = "ROC: final federated model"
        if let scores = result.federatedScores, !scores.isEmpty {
            let labels = scores.map(\.label), values = scores.map(\.score)
            // validate(source:) has already rejected bad labels and scores, so these cannot throw;
            // fall back to an empty curve rather than trap if that ever changes.
            let points = (try? MetricsComputation.rocCurve(labels: labels, scores: values)) ?? []
            let auc: Double? = try? MetricsComputation.rocAUC(labels: labels, scores: values)
            return ROCChart(title: title, points: points, auc: auc)
        }
        if let roc = result.roc, !roc.isEmpty {
            return ROCChart(title: title, points: roc, auc: MetricsComputation.trapezoidArea(roc))
        }
        return nil
    }
}

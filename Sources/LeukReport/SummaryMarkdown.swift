import LeukMetrics
internal import Foundation

extension ReportGenerator {
    /// The Markdown summary: configuration, the headline gaps in points, the model comparison
    /// table, the per-node federated table, and links to the plots in `plots`.
    public static func summaryMarkdown(_ result: SimulationResult, plots: [String], notes: [String] = []) -> String {
        let config = result.config
        var lines: [String] = ["# Simulation report", ""]

        lines += ["## Configuration", "", "| Setting | Value |", "|---|---|"]
        var settings: [(String, String)] = [
            ("Nodes", String(config.nodes)),
            ("Rounds", String(config.rounds)),
            ("Topology", config.topology),
        ]
        if let partition = config.partition { settings.append(("Partition", partition)) }
        settings += [
            ("Dirichlet alpha", config.dirichlet.map { formatPlain($0) } ?? "none"),
            ("Seed", String(config.seed)),
            ("Dataset", config.dataset),
        ]
        if let architecture = config.architecture { settings.append(("Architecture", architecture)) }
        if let size = config.imageSize { settings.append(("Image size", "\(size) x \(size)")) }
        if let steps = config.stepsPerRound { settings.append(("Local SGD steps per round", String(steps))) }
        if let gossip = config.gossipPerRound { settings.append(("Gossip exchanges between rounds", String(gossip))) }
        if let exchanges = config.exchangesPerRound { settings.append(("Exchanges inside each round", String(exchanges))) }
        if let rate = config.learningRate { settings.append(("Peak learning rate (cosine)", formatPlain(rate))) }
        if let balance = config.classBalance { settings.append(("Class balance from", balance == "federation" ? "the federation's class counts" : "each node's own class counts")) }
        settings += [
            ("Threads", String(config.threads)),
            ("Wall time", SVGNumber.fixed(config.wallSeconds, decimals: 1) + " s"),
        ]
        if let rss = config.peakRSSMiB { settings.append(("Peak resident memory", SVGNumber.fixed(rss, decimals: 1) + " MiB")) }
        settings.append(("Bytes per node per round", formatBytes(result.bytesPerNodePerRound)))
        lines += settings.map { "| \($0.0) | \(cell($0.1)) |" }

        let federated = result.federated.mean, central = result.centralized, local = result.localOnly.mean
        lines += ["", "## Gaps", ""]
        lines.append("- Federated vs centralized: **\(points(federated.accuracy - central.accuracy))** accuracy "
            + "(\(percent(federated.accuracy)) vs \(percent(central.accuracy))), AUC \(aucGap(federated.auc, central.auc)).")
        lines.append("- Federated vs local-only: **\(points(federated.accuracy - local.accuracy))** accuracy "
            + "(\(percent(federated.accuracy)) vs \(percent(local.accuracy))), AUC \(aucGap(federated.auc, local.auc)).")
        if let first = result.rounds.first, let last = result.rounds.last, result.rounds.count > 1 {
            lines.append("- Consensus distance: \(scientific(first.consensusDistance)) after round \(first.round), "
                + "\(scientific(last.consensusDistance)) after round \(last.round).")
        }
        lines.append("")
        lines.append("A point is one percentage point of accuracy; positive means federated is higher. "
            + "Means over nodes weigh each node's model once.")

        lines += ["", "## Models on the common test set", ""]
        lines += metricsHeader(firstColumn: "Model")
        lines.append(metricsRow("Centralized", central))
        lines.append(metricsRow("Local-only (mean of \(result.localOnly.perNode.count))", local))
        lines.append(metricsRow("Federated (mean of \(result.federated.perNode.count))", federated))

        lines += ["", "## Federated models, per node", ""]
        let localPerNode = result.localOnly.perNode
        let pairLocal = localPerNode.count == result.federated.perNode.count
        var header = metricsHeader(firstColumn: "Node")
        if pairLocal {
            header[0] += " Local-only accuracy % |"
            header[1] += "---:|"
        }
        lines += header
        for (index, metrics) in result.federated.perNode.enumerated() {
            var row = metricsRow(String(index + 1), metrics)
            if pairLocal { row += " \(SVGNumber.fixed(localPerNode[index].accuracy * 100, decimals: 2)) |" }
            lines.append(row)
        }
        if result.federated.perNode.isEmpty { lines.append("(no per-node results in the file)") }

        lines += ["", "## Plots", ""]
        let captions = [
            accuracyFile: "Accuracy against rounds",
            consensusFile: "Consensus distance against rounds (log scale)",
            confusionFile: "Confusion matrix of the final federated model",
            rocFile: "ROC curve of the final federated model",
        ]
        for plot in plots where plot.hasSuffix(".svg") {
            lines.append("![\(captions[plot] ?? plot)](\(plot))")
            lines.append("")
        }
        if !notes.isEmpty {
            lines += ["## Notes", ""]
            lines += notes.map { "- \($0)" }
            lines.append("")
        }
        lines.append("Percentages are of the common held-out test set. Response times are single-image diagnosis "
            + "percentiles in milliseconds (n/a when not measured). In the mean rows, rates and AUC are means over "
            + "the nodes' models, while `n` and the confusion matrix are summed over them.")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func metricsHeader(firstColumn: String) -> [String] {
        ["| \(firstColumn) | Accuracy % | Precision % | Recall % | Specificity % | F1 % | Detection rate % | AUC "
            + "| p50 ms | p95 ms | p99 ms | n |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    }

    private static func metricsRow(_ name: String, _ m: EvaluationMetrics) -> String {
        let rates = [m.accuracy, m.precision, m.recall, m.specificity, m.f1, m.detectionRate]
            .map { SVGNumber.fixed($0 * 100, decimals: 2) }
        let auc = m.auc.map { SVGNumber.fixed($0, decimals: 4) } ?? "n/a"
        let times = m.responseTimeMs.map { [$0.p50, $0.p95, $0.p99].map { SVGNumber.fixed($0, decimals: 2) } }
            ?? ["n/a", "n/a", "n/a"]
        return "| " + ([cell(name)] + rates + [auc] + times + [String(m.n)]).joined(separator: " | ") + " |"
    }

    /// A table cell: pipes and newlines would break the table, so they are escaped or flattened.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "|", with: "\\|")
            .replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }

    /// A signed gap in percentage points: "+3.10 points", "−1.25 points".
    static func points(_ difference: Double) -> String {
        let value = difference * 100
        let sign = value > 0.005 ? "+" : (value < -0.005 ? "−" : "±")
        return sign + SVGNumber.fixed(abs(value), decimals: 2) + " points"
    }

    private static func percent(_ fraction: Double) -> String {
        SVGNumber.fixed(fraction * 100, decimals: 2) + " %"
    }

    private static func aucGap(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "gap n/a (AUC undefined)" }
        let difference = a - b
        let sign = difference > 0.00005 ? "+" : (difference < -0.00005 ? "−" : "±")
        return "\(sign)\(SVGNumber.fixed(abs(difference), decimals: 4)) (\(SVGNumber.fixed(a, decimals: 4)) vs \(SVGNumber.fixed(b, decimals: 4)))"
    }

    private static func formatPlain(_ value: Double) -> String {
        var text = SVGNumber.fixed(value, decimals: 4)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    private static func formatBytes(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = bytes, unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let exact = String(Int(bytes.rounded()))
        return unit == 0 ? "\(exact) B" : "\(SVGNumber.fixed(value, decimals: 2)) \(units[unit]) (\(exact) B)"
    }

    /// "3.20e-4" style, readable for values spanning decades.
    static func scientific(_ value: Double) -> String {
        guard value.isFinite, value != 0 else { return value == 0 ? "0" : String(value) }
        var exponent = Int(AxisScale.log10Floor(abs(value)))
        var mantissa = value / AxisScale.power10(exponent)
        if abs(mantissa) >= 9.995 {
            mantissa /= 10
            exponent += 1
        }
        return SVGNumber.fixed(mantissa, decimals: 2) + "e" + String(exponent)
    }
}

import Foundation
import Testing
import LeukMetrics
@testable import LeukReport

/// The report command's work, run in-process on results written by the test.
struct ReportGeneratorTests {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("leukreport-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A small three-node result built from real metric computations on made-up scores.
    private func sampleResult() throws -> SimulationResult {
        let labels = [1, 1, 1, 0, 0, 0, 1, 0, 1, 0]
        let central = try MetricsComputation.evaluate(
            labels: labels, scores: [0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.95, 0.4, 0.6, 0.45], responseTimesMs: [0.5, 0.7, 0.6])
        let localScores: [[Double]] = [
            [0.9, 0.4, 0.3, 0.6, 0.1, 0.3, 0.7, 0.4, 0.2, 0.6],
            [0.6, 0.8, 0.7, 0.7, 0.6, 0.3, 0.4, 0.8, 0.6, 0.2],
            [0.4, 0.3, 0.9, 0.2, 0.1, 0.7, 0.6, 0.4, 0.3, 0.1],
        ]
        let federatedScores: [[Double]] = [
            [0.9, 0.8, 0.7, 0.2, 0.1, 0.6, 0.95, 0.4, 0.4, 0.3],
            [0.9, 0.8, 0.7, 0.2, 0.1, 0.6, 0.95, 0.4, 0.6, 0.3],
            [0.9, 0.7, 0.7, 0.3, 0.1, 0.6, 0.95, 0.4, 0.4, 0.3],
        ]
        let local = try localScores.map { try MetricsComputation.evaluate(labels: labels, scores: $0) }
        let federated = try federatedScores.map { try MetricsComputation.evaluate(labels: labels, scores: $0) }
        let rounds = (1...6).map { round in
            RoundRecord(round: round, consensusDistance: 0.8 * pow(0.25, Double(round - 1)),
                        meanAccuracy: 0.55 + 0.05 * Double(round), localOnlyAccuracy: 0.6,
                        minAccuracy: 0.5 + 0.05 * Double(round), maxAccuracy: 0.6 + 0.05 * Double(round))
        }
        return SimulationResult(
            config: SimulationConfig(nodes: 3, rounds: 6, topology: "ring", dirichlet: 0.5, seed: 7,
                                     dataset: "synthetic | <odd> name", threads: 2, wallSeconds: 3.25,
                                     partition: "dirichlet", architecture: "leuknet-s", peakRSSMiB: 88.5),
            centralized: central,
            localOnly: try #require(NodeMetricsGroup(perNode: local)),
            federated: NodeMetricsGroup(mean: try #require(MetricsComputation.mean(of: federated)), perNode: federated),
            rounds: rounds, bytesPerNodePerRound: 2 * 1024 * 1024,
            federatedScores: zip(labels, federatedScores[0]).map { ScoredSample(label: $0, score: $1) })
    }

    @Test func writesAllPlotsAndSummaryIntoANewDirectory() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let result = try sampleResult()
        let input = root.appendingPathComponent("result.json")
        try result.jsonData().write(to: input)
        let output = root.appendingPathComponent("nested/report").path

        let files = try ReportGenerator.generate(from: input.path, to: output)
        #expect(files.written == ["accuracy.svg", "consensus.svg", "confusion.svg", "roc.svg", "summary.md"])
        #expect(files.notes.isEmpty)
        func read(_ name: String) throws -> String {
            try String(contentsOfFile: (output as NSString).appendingPathComponent(name), encoding: .utf8)
        }

        let accuracy = try #require(ParsedXML.parse(try read("accuracy.svg")))
        #expect(accuracy.withClass("legend").map(\.text) == ["Federated (mean of nodes)", "Local-only (mean, per round)",
                                                             "Federated node range", "Centralized", "Local-only mean (final)"])
        #expect(accuracy.withClass("x-tick").map(\.text) == ["1", "2", "3", "4", "5", "6"])
        let consensus = try #require(ParsedXML.parse(try read("consensus.svg")))
        // 0.8 * 0.25^5 = 7.8e-4 ... 0.8: decades 10^-4 ... 10^0.
        #expect(consensus.withClass("y-tick").compactMap { $0.attributes["data-value"] }
                == ["10^-4", "10^-3", "10^-2", "10^-1", "10^0"])
        let confusion = try #require(ParsedXML.parse(try read("confusion.svg")))
        let summed = result.federated.mean.confusion.matrix.flatMap { $0 }.map(String.init)
        #expect(confusion.withClass("count").map(\.text) == summed)
        #expect(confusion.withClass("subtitle").first?.text == "summed over the 3 nodes' models")
        let roc = try #require(ParsedXML.parse(try read("roc.svg")))
        let auc = try #require(try MetricsComputation.rocAUC(labels: result.federatedScores!.map(\.label),
                                                             scores: result.federatedScores!.map(\.score)))
        #expect(roc.withClass("title").first?.text == "ROC: final federated model (AUC = \(SVGNumber.fixed(auc, decimals: 4)))")

        let summary = try read("summary.md")
        let gapToCentral = ReportGenerator.points(result.federated.mean.accuracy - result.centralized.accuracy)
        let gapToLocal = ReportGenerator.points(result.federated.mean.accuracy - result.localOnly.mean.accuracy)
        #expect(summary.contains("- Federated vs centralized: **\(gapToCentral)**"))
        #expect(summary.contains("- Federated vs local-only: **\(gapToLocal)**"))
        #expect(gapToLocal.hasPrefix("+"))
        #expect(summary.contains("| Dataset | synthetic \\| <odd> name |"))
        #expect(summary.contains("| Bytes per node per round | 2.00 MiB (2097152 B) |"))
        for plot in ["accuracy.svg", "consensus.svg", "confusion.svg", "roc.svg"] { #expect(summary.contains("](\(plot))")) }
        let tableRows = summary.split(separator: "\n").filter { $0.hasPrefix("| 1 |") || $0.hasPrefix("| 2 |") || $0.hasPrefix("| 3 |") }
        #expect(tableRows.count == 3)
        #expect(summary.contains("| Centralized | \(SVGNumber.fixed(result.centralized.accuracy * 100, decimals: 2)) |"))
        // Centralized response-time percentiles of [0.5, 0.7, 0.6], linearly interpolated (p95 at position 1.9
        // -> 0.69, p99 at 1.98 -> 0.698), and n.
        #expect(summary.contains("| 0.60 | 0.69 | 0.70 | 10 |"))
    }

    @Test func handWrittenContractFileProducesAReport() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let input = root.appendingPathComponent("contract.json")
        try Data(contractJSON.utf8).write(to: input)
        let files = try ReportGenerator.generate(from: input.path, to: root.appendingPathComponent("out").path)
        #expect(files.written.contains("roc.svg"))
        let summary = try String(contentsOfFile: root.appendingPathComponent("out/summary.md").path, encoding: .utf8)
        // 0.85 - 0.9 and 0.85 - 0.7, in points.
        #expect(summary.contains("Federated vs centralized: **−5.00 points**"))
        #expect(summary.contains("Federated vs local-only: **+15.00 points**"))
        #expect(summary.contains("AUC gap n/a"))  // federated.mean.auc is null in that file
    }

    @Test func resultWithoutScoresSkipsROCWithANote() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var result = try sampleResult()
        result.federatedScores = nil
        let files = try ReportGenerator.generate(result: result, to: root.path)
        #expect(!files.written.contains("roc.svg"))
        #expect(files.notes.count == 1)
        result.roc = [ROCPoint(falsePositiveRate: 0, truePositiveRate: 0), ROCPoint(falsePositiveRate: 0, truePositiveRate: 1),
                      ROCPoint(falsePositiveRate: 1, truePositiveRate: 1)]
        #expect(ReportGenerator.rocChart(result)?.auc == 1)
    }

    @Test func degenerateRoundsStillGiveWellFormedPlots() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        var result = try sampleResult()
        result.rounds = []
        var files = try ReportGenerator.generate(result: result, to: root.path)
        #expect(files.notes == ["the result has no rounds; the round plots are empty"])
        // Every consensus distance 0 (identical models): nothing to draw on a log axis, but a valid file.
        result.rounds = [RoundRecord(round: 1, consensusDistance: 0, meanAccuracy: 0.9)]
        files = try ReportGenerator.generate(result: result, to: root.path)
        for name in files.written where name.hasSuffix(".svg") {
            let text = try String(contentsOfFile: root.appendingPathComponent(name).path, encoding: .utf8)
            #expect(ParsedXML.parse(text) != nil, "\(name) is not well-formed")
        }
        let consensus = try String(contentsOfFile: root.appendingPathComponent("consensus.svg").path, encoding: .utf8)
        #expect(try #require(ParsedXML.parse(consensus)).withClass("note").first?.text.contains("1 value(s)") == true)
    }

    @Test func errorsNameTheFileAndTheKey() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let missing = root.appendingPathComponent("nope.json").path
        #expect(throws: ReportError.result(.fileNotFound(path: missing))) {
            try ReportGenerator.generate(from: missing, to: root.appendingPathComponent("out").path)
        }
        let incomplete = root.appendingPathComponent("incomplete.json")
        try Data(contractJSON.replacingOccurrences(of: "\"centralized\"", with: "\"centralised\"").utf8).write(to: incomplete)
        do {
            _ = try ReportGenerator.generate(from: incomplete.path, to: root.appendingPathComponent("out").path)
            Issue.record("a result without `centralized` was accepted")
        } catch {
            #expect(error == .result(.missingKey(path: incomplete.path, key: "centralized")))
            #expect(error.userMessage.contains("lacks the key 'centralized'"))
        }
        // The output path is a file, so the directory cannot be created.
        let input = root.appendingPathComponent("ok.json")
        try Data(contractJSON.utf8).write(to: input)
        do {
            _ = try ReportGenerator.generate(from: input.path, to: incomplete.path)
            Issue.record("wrote a report into a file path")
        } catch {
            guard case .cannotCreateDirectory(let path, _) = error else {
                Issue.record("expected cannotCreateDirectory, got \(error)")
                return
            }
            #expect(path == incomplete.path)
        }
    }
}

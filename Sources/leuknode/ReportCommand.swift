import ArgumentParser
import LeukReport

/// `leuknode report --from RESULT.json --out DIR`: plots and a Markdown summary of a simulation.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a `simulate --json` result into SVG plots and a Markdown summary.",
        discussion: """
        Writes DIR/accuracy.svg (federated mean accuracy against rounds, with centralized and local-only \
        reference lines), DIR/consensus.svg (consensus distance, log scale), DIR/confusion.svg and DIR/roc.svg \
        (final federated model) and DIR/summary.md. DIR is created if needed; existing files of those names are replaced.
        """)

    @Option(name: .customLong("from"), help: ArgumentHelp("The JSON written by `leuknode simulate --json`.", valueName: "RESULT.json"))
    var resultPath: String

    @Option(name: .customLong("out"), help: ArgumentHelp("Directory for the plots and summary.", valueName: "DIR"))
    var outputDirectory: String

    func validate() throws {
        guard !resultPath.isEmpty else { throw ValidationError("--from needs a file path") }
        guard !outputDirectory.isEmpty else { throw ValidationError("--out needs a directory path") }
    }

    func run() async throws {
        let files = try await reportingErrors {
            try ReportGenerator.generate(from: resultPath, to: outputDirectory)
        }
        for note in files.notes { printError("note: \(note)") }
        print("Wrote \(files.written.count) files to \(files.directory):")
        for name in files.written { print("  \(name)") }
    }
}

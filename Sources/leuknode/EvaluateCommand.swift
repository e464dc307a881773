import ArgumentParser
import Foundation
import LeukData
import LeukModel
import LeukTensor

/// `leuknode evaluate`: screening metrics of a model on a labelled image folder.
struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Accuracy, precision, recall (detection rate), specificity, F1, AUC, confusion and response times of a model on a labelled folder.",
        discussion: "Every image goes through single-image diagnosis (decode included), as in the clinic; --threads spreads the images across threads.")

    @Option(help: "Model file (safetensors).") var model: String
    @Option(help: "Dataset folder (DIR/<class>/images).") var dataset: String
    @Option(help: "Map folder names onto the model's classes, e.g. Benign=hem,Early=all,Pre=all,Pro=all.") var labelMap: String?
    @Option(help: "CSV manifest 'file,group'.") var manifest: String?
    @Option(help: "Threads: the images are spread across them (same metrics for any count; response times are per image).") var threads: Int = 1
    @Flag(help: "Test-time augmentation: average each image's probabilities over its eight rotations and reflections.") var tta = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let labelMap { do { _ = try LabelMap(parsing: labelMap) } catch { throw ValidationError(error.userMessage) } }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() async throws {
        let (outcome, recipe) = try await reportingErrors {
            let loaded = try Model.load(from: model, threads: threads)
            return (try Evaluation.evaluate(loaded, datasetDirectory: dataset, labelMap: try labelMap.map { try LabelMap(parsing: $0) },
                                            manifest: manifest, testTimeAugmentation: tta), loaded.recipe)
        }
        for problem in outcome.problems { printError("warning: skipped \(problem)") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(outcome.metrics), as: UTF8.self))
        } else {
            if let recipe { print("model trained: \(recipe)\(tta ? "; evaluated with test-time augmentation" : "")\n") }
            print(outcome.metrics.table)
        }
    }
}

import ArgumentParser
import Foundation
import LeukCore
import LeukCrypto
import LeukData
import LeukModel
import LeukTensor

/// `leuknode diagnose`: classify cell images with a model file.
struct Diagnose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify cell images: predicted class, every class's probability and the response time, plus the model's SHA-256.",
        discussion: """
        Two forms. `--patient NAME` asks the running node: it diagnoses with the node's current federated model,         stores the diagnosis for the patient and proposes the follow-up (log in first with `leuknode login`).         `--model FILE` works offline on a model file and stores nothing. A bad image fails alone, with its reason;         the others are still diagnosed. Exits 1 if any image failed.
        """)

    @Option(help: "Model file (safetensors), for an offline diagnosis.") var model: String?
    @Option(help: "Diagnose through the running node for this patient (stored, with a follow-up proposal).") var patient: String?
    @OptionGroup var data: DataDirOptions
    @Argument(help: "Images (PNG, JPEG, BMP, TIFF), or folders: every image under a folder, in path order.") var images: [String]
    @Option(help: "Threads for an offline diagnosis: the images are spread across them (same results, in the same order, for any count).") var threads: Int = 1
    @Flag(help: "Test-time augmentation (offline): average each image's probabilities over its eight rotations and reflections.") var tta = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !images.isEmpty else { throw ValidationError("name at least one image") }
        switch (model, patient) {
        case (nil, nil): throw ValidationError("say which model: --patient NAME (the running node's model) or --model FILE (offline)")
        case (.some, .some): throw ValidationError("--model and --patient do not go together: --patient uses the node's own model")
        case (nil, .some) where tta: throw ValidationError("--tta is for an offline diagnosis with --model")
        default: break
        }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() async throws {
        let images = try Self.expandingFolders(images)
        if let patient {
            try await diagnoseThroughNode(patient: patient, images: images, json: json, dataDir: data.dataDir)
            return
        }
        guard let model else { return }
        let (loaded, digest) = try await reportingErrors {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
            let loaded = try Model.load(bytes: [UInt8](bytes), path: model, threads: threads)
            return (loaded, Hex.encode(SHA256Hasher.hash([UInt8](bytes))))
        }
        let results = Diagnosis.diagnose(loaded, imagePaths: images, testTimeAugmentation: tta)
        if json {
            print(try DiagnoseReport(modelSHA256: digest, results: results, modelRecipe: loaded.recipe,
                                     stainNormalization: loaded.stainNormalizer.map { _ in "macenko" }).jsonText())
        } else {
            print("model \(model) sha256 \(digest)")
            if let recipe = loaded.recipe { print("trained: \(recipe)") }
            for result in results {
                if let error = result.error {
                    print("\(result.image): FAILED: \(error)")
                } else {
                    let probabilities = result.probabilities.map { String(format: "%@ %.4f", $0.label, $0.probability) }.joined(separator: "  ")
                    print(String(format: "%@: %@  (%@)  %.2f ms", result.image, result.prediction ?? "?", probabilities, result.responseTimeMs))
                }
            }
        }
        if results.contains(where: { $0.error != nil }) { throw ExitCode.failure }
    }
}

extension Diagnose {
    /// The image paths the arguments name: a file stays as given (a missing or unreadable one is reported
    /// per image, as before); a folder becomes every image file under it, recursively, sorted by path, so
    /// a lab can diagnose a day's folder in one call (and across `--threads`). A folder without images is
    /// an error before anything runs.
    static func expandingFolders(_ arguments: [String]) throws -> [String] {
        let files = FileManager.default
        var paths: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: argument, isDirectory: &isDirectory), isDirectory.boolValue else {
                paths.append(argument)
                continue
            }
            let base = argument.hasSuffix("/") ? String(argument.dropLast()) : argument
            let found = (files.enumerator(atPath: base)?.compactMap { $0 as? String } ?? [])
                .filter { DatasetScanner.isImageFileName(($0 as NSString).lastPathComponent) }
                .sorted()
                .map { base + "/" + $0 }
            guard !found.isEmpty else { throw ValidationError("\(argument) is a folder without images (PNG, JPEG, BMP, TIFF)") }
            paths += found
        }
        return paths
    }
}

/// The JSON of `diagnose --json`: `{"model_sha256": ..., "results": [{"image", "prediction",
/// "probabilities": {class: p}, "response_time_ms"}]}`; a failed image has `"error"` and a null prediction.
struct DiagnoseReport {
    var modelSHA256: String
    var results: [ImageDiagnosis]
    /// How the model file was trained and what preprocessing it carries (offline diagnosis only).
    var modelRecipe: String?
    var stainNormalization: String?

    func jsonText() throws -> String {
        var list: [[String: Any]] = []
        for result in results {
            var entry: [String: Any] = ["image": result.image, "response_time_ms": (result.responseTimeMs * 1000).rounded() / 1000]
            if let error = result.error {
                entry["prediction"] = NSNull()
                entry["probabilities"] = [String: Any]()
                entry["error"] = error
            } else {
                entry["prediction"] = result.prediction ?? NSNull()
                var probabilities: [String: Any] = [:]
                for (label, p) in result.probabilities { probabilities[label] = Double(p) }
                entry["probabilities"] = probabilities
            }
            list.append(entry)
        }
        var object: [String: Any] = ["model_sha256": modelSHA256, "results": list]
        if let modelRecipe { object["model_recipe"] = modelRecipe }
        if let stainNormalization { object["stain_normalization"] = stainNormalization }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

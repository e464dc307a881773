import ArgumentParser
import Foundation
import LeukCore
import LeukData
import LeukModel
import LeukTensor

/// `leuknode train`: train a CNN on a labelled image folder and write the best model as safetensors.
struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a CNN on a labelled image folder; keeps the best model by validation loss.",
        discussion: """
        Holds out --val-split of the images (stratified by class, never splitting a group) for validation, keeps the \
        model with the lowest validation loss in --out, and writes OUT.checkpoint.safetensors after every epoch; \
        pass it to --resume to continue an interrupted run.
        """)

    @Option(help: "Dataset folder (DIR/<class>/images).") var dataset: String
    @Option(help: "Map folder names onto classes, e.g. Benign=hem,Early=all,Pre=all,Pro=all.") var labelMap: String?
    @Option(help: "CSV manifest 'file,group' (default: DIR/manifest.csv if present).") var manifest: String?
    @Option(help: "Architecture: \(Architecture.knownNames).") var arch: String = "leuknet-s"
    @Option(help: "Epochs (default: as many as \(TrainingRecipe.stepBudget) steps take on this set, \(TrainingRecipe.minimumEpochs) to \(TrainingRecipe.maximumEpochs)).") var epochs: Int?
    @Option(help: "Batch size (default: \(TrainingRecipe.batchSize(trainImages: 0)) below \(TrainingRecipe.smallSet) training images, else \(TrainingRecipe.batchSize(trainImages: TrainingRecipe.smallSet))).") var batch: Int?
    @Option(help: "OpenBLAS threads.") var threads: Int = 1
    @Option(help: "Seed for initialisation, split, shuffling and augmentation.") var seed: UInt64 = 0
    @Option(help: "Fraction held out for validation (0 keeps the last model).") var valSplit: Double = 0.2
    @Option(help: "Fraction held out as a test set and evaluated at the end with the saved model (0 for none).") var testSplit: Double = 0
    @Option(help: "Learning rate.") var lr: Float?
    @Option(help: "Optimiser: sgd or adam.") var optimizer: String = "sgd"
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "Weight decay (L2).") var weightDecay: Float = 5e-4
    @Option(help: "Learning-rate schedule: constant, step (x0.1 every third of the run) or cosine.") var schedule: String = "cosine"
    @Flag(inversion: .prefixedNo, help: "Augment the training images (see --augmentation).") var augment = true
    @Option(help: "Augmentation: smear (flips, any angle, zoom, blur, stain and light jitter) or flips (flips and quarter turns only).") var augmentation: String = "smear"
    @Flag(help: "Fit Macenko stain normalisation on the training images; the model stores it and applies it wherever it is used.") var stainNormalize = false
    @Flag(help: "Weight the loss by inverse class frequency.") var balanceClasses = false
    @Option(help: "Input size in pixels.") var inputSize: Int = 64
    @Option(help: "Resume from a checkpoint written by an earlier run.") var resume: String?
    @Option(help: "Fine-tune: start from this model (a federated or earlier model; same classes and input size).") var initFrom: String?
    @Flag(help: "With --init-from: train only the classifier, keep the model's features.") var freezeFeatures = false
    @Option(help: "Where to write the model (safetensors).") var out: String
    @Flag(help: "Print a JSON summary at the end.") var json = false

    func validate() throws {
        do { _ = try Architecture(named: arch) } catch { throw ValidationError(error.userMessage) }
        if let labelMap { do { _ = try LabelMap(parsing: labelMap) } catch { throw ValidationError(error.userMessage) } }
        if let epochs { guard epochs >= 1, epochs <= 100_000 else { throw ValidationError("--epochs must be between 1 and 100000") } }
        if let batch { guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be between 1 and 4096") } }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard valSplit >= 0, valSplit < 1 else { throw ValidationError("--val-split must be in [0, 1)") }
        guard testSplit >= 0, valSplit + testSplit < 1 else { throw ValidationError("--test-split must be >= 0 and leave images to train on") }
        if let lr { guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") } }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
        guard ["constant", "step", "cosine"].contains(schedule) else { throw ValidationError("--schedule must be constant, step or cosine") }
        guard ["flips", "smear"].contains(augmentation) else { throw ValidationError("--augmentation must be flips or smear") }
        guard momentum >= 0, momentum < 1 else { throw ValidationError("--momentum must be in [0, 1)") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
        guard inputSize >= 16, inputSize <= 512 else { throw ValidationError("--input-size must be between 16 and 512") }
        if freezeFeatures && initFrom == nil { throw ValidationError("--freeze-features needs --init-from MODEL") }
        if initFrom != nil && resume != nil { throw ValidationError("--init-from and --resume do not go together: a checkpoint already has its weights") }
        if initFrom != nil && stainNormalize { throw ValidationError("--stain-normalize does not go with --init-from: the model keeps its own stain reference") }
        if let initFrom { guard FileManager.default.isReadableFile(atPath: initFrom) else { throw ValidationError("cannot read --init-from \(initFrom)") } }
        guard FileManager.default.fileExists(atPath: dataset) else { throw ValidationError("--dataset \(dataset): no such folder") }
    }

    func run() async throws {
        var options = TrainingOptions(datasetDirectory: dataset, outputPath: out)
        options.labelMap = try labelMap.map { try LabelMap(parsing: $0) }
        options.manifest = manifest
        options.architecture = try Architecture(named: arch)
        options.epochs = epochs
        options.batchSize = batch
        options.threads = threads
        options.seed = seed
        options.validationFraction = valSplit
        options.testFraction = testSplit
        options.optimizer = optimizer == "adam" ? .adam(weightDecay: weightDecay) : .sgd(momentum: momentum, weightDecay: weightDecay)
        options.learningRate = lr ?? (optimizer == "adam" ? 1e-3 : 0.01)
        options.schedule = TrainingRecipe.ScheduleShape(rawValue: schedule) ?? .cosine
        options.augment = augment
        options.augmentation = augmentation == "smear" ? .smear : .geometric
        options.stainNormalize = stainNormalize
        options.balanceClasses = balanceClasses
        options.inputSize = inputSize
        options.resumeCheckpoint = resume
        options.initFrom = initFrom
        options.freezeFeatures = freezeFeatures
        let progress = ProgressPrinter(interactive: isatty(STDOUT_FILENO) == 1 && !json, quiet: json)
        let summary = try await reportingErrors {
            try TrainingSession.run(options) { progress.handle($0) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            let best = summary.bestValidationLoss.map { String(format: " (best validation loss %.4f)", $0) } ?? ""
            print("model: \(summary.modelPath)\(best)\ncheckpoint: \(summary.checkpointPath)\nrecipe (stored in the model): \(summary.recipe)")
            if let test = summary.test { print("\ntest split:\n\(test.table)") }
        }
    }
}

/// Renders training events: a live one-line bar on a terminal, plain lines otherwise.
final class ProgressPrinter {
    let interactive: Bool
    let quiet: Bool
    private var lastDraw: UInt64 = 0
    private var lastValidationAccuracy: Double?

    init(interactive: Bool, quiet: Bool) { self.interactive = interactive; self.quiet = quiet }

    func handle(_ event: TrainingEvent) {
        guard !quiet else { return }
        switch event {
        case let .prepared(train, validation, classes, problems, startEpoch, recipe):
            print("training on \(train) images, validating on \(validation); classes \(classes.joined(separator: ","))"
                  + (startEpoch > 0 ? "; resuming after epoch \(startEpoch)" : ""))
            print("recipe: \(recipe)")
            for problem in problems.prefix(10) { printError("warning: skipped \(problem)") }
            if problems.count > 10 { printError("warning: \(problems.count - 10) more unreadable files skipped") }
        case let .batch(epoch, epochs, batch, batches, loss, rate, eta):
            guard interactive else { return }
            let now = monotonicNanoseconds()
            guard batch == batches || now - lastDraw > 100_000_000 else { return }
            lastDraw = now
            let width = 24
            let filled = batches > 0 ? width * batch / batches : 0
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let accuracy = lastValidationAccuracy.map { String(format: "%.3f", $0) } ?? "-"
            let line = String(format: "\repoch %d/%d [%@] batch %d/%d loss %.4f val_acc %@ %.0f img/s ETA %@ ",
                              epoch, epochs, bar, batch, batches, loss, accuracy, rate, Self.clock(eta))
            FileHandle.standardOutput.write(Data(line.utf8))
        case let .epoch(summary):
            lastValidationAccuracy = summary.validationAccuracy
            if interactive { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
            var line = String(format: "epoch %d lr %.5f train_loss %.4f", summary.epoch, summary.learningRate, summary.trainLoss)
            if let loss = summary.validationLoss, let accuracy = summary.validationAccuracy {
                line += String(format: " val_loss %.4f val_acc %.4f", loss, accuracy)
            }
            line += String(format: " %.0f img/s", summary.imagesPerSecond)
            if summary.saved { line += " [saved]" }
            print(line)
        }
    }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

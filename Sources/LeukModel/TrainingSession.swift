public import LeukMetrics
public import LeukData
import Foundation
public import LeukCore

/// Everything `leuknode train` needs to know.
public struct TrainingOptions: Sendable {
    public var datasetDirectory: String
    public var labelMap: LabelMap?
    public var manifest: String?
    public var architecture: Architecture = .leuknetS
    public var epochs: Int = 10
    public var batchSize: Int = 32
    public var threads: Int = 1
    public var seed: UInt64 = 0
    /// Fraction held out (stratified, group-aware) for validation; 0 keeps the last model.
    public var validationFraction: Double = 0.2
    /// Fraction held out as a test set (same stratified, group-aware split), evaluated once at the end
    /// with the best model; 0 for none.
    public var testFraction: Double = 0
    public var learningRate: Float = 0.01
    public var optimizer: OptimizerKind = .sgd()
    public var schedule: LearningRateSchedule = .constant
    /// Augment the training images with `augmentation`.
    public var augment: Bool = true
    public var augmentation: Augmenter.Options = .geometric
    /// Weight the loss by inverse class frequency (helps specificity when normal cells are rare).
    public var balanceClasses: Bool = false
    public var inputSize: Int = 64
    public var resumeCheckpoint: String?
    public var outputPath: String

    public init(datasetDirectory: String, outputPath: String) {
        self.datasetDirectory = datasetDirectory
        self.outputPath = outputPath
    }

    /// Where the per-epoch checkpoint for `outputPath` goes.
    public var checkpointPath: String { Self.checkpointPath(for: outputPath) }
    public static func checkpointPath(for output: String) -> String {
        (output.hasSuffix(".safetensors") ? String(output.dropLast(".safetensors".count)) : output) + ".checkpoint.safetensors"
    }
}

/// What a training run reports as it goes.
public enum TrainingEvent: Sendable {
    case prepared(trainImages: Int, validationImages: Int, classes: [String], problems: [String], startEpoch: Int)
    case batch(epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
    case epoch(EpochSummary)
}

public struct EpochSummary: Sendable, Codable {
    public var epoch: Int
    public var learningRate: Float
    public var trainLoss: Float
    public var validationLoss: Float?
    public var validationAccuracy: Double?
    public var imagesPerSecond: Double
    /// Whether this epoch's model became the saved best.
    public var saved: Bool

    /// snake_case, like every other JSON the CLI prints (`train --json`).
    enum CodingKeys: String, CodingKey {
        case epoch, learningRate = "learning_rate", trainLoss = "train_loss", validationLoss = "validation_loss"
        case validationAccuracy = "validation_accuracy", imagesPerSecond = "images_per_second", saved
    }
}

public struct TrainingSummary: Sendable, Codable {
    public var epochs: [EpochSummary]
    public var bestValidationLoss: Float?
    public var modelPath: String
    public var checkpointPath: String
    /// Metrics of the saved model on the held-out test split, when one was asked for.
    public var test: EvaluationMetrics?

    enum CodingKeys: String, CodingKey {
        case epochs, bestValidationLoss = "best_validation_loss", modelPath = "model_path"
        case checkpointPath = "checkpoint_path", test
    }
}

/// Errors of a training run that are not model-file errors.
public enum TrainingError: LeukUserFacingError, Equatable {
    case dataset(String)
    case tooFewImages(String)

    public var description: String {
        switch self {
        case let .dataset(message): message
        case let .tooFewImages(message): message
        }
    }
}

/// A whole training run: scan, split, decode once, train with a seeded shuffle, validate each epoch,
/// keep the best model by validation loss, and checkpoint every epoch so a run can be resumed.
public enum TrainingSession {
    public static func run(_ options: TrainingOptions, report: (TrainingEvent) -> Void) throws -> TrainingSummary {
        let dataset: Dataset
        do {
            dataset = try DatasetScanner.scan(directory: options.datasetDirectory, labelMap: options.labelMap, manifest: options.manifest)
        } catch {
            throw TrainingError.dataset(error.userMessage)
        }
        guard dataset.classes.count >= 2 else {
            throw TrainingError.tooFewImages("\(options.datasetDirectory): found classes \(dataset.classes); training needs at least two")
        }
        let fractions = (train: 1 - options.validationFraction - options.testFraction, validation: options.validationFraction,
                         test: options.testFraction)
        let split = options.validationFraction > 0 || options.testFraction > 0
            ? Splitter.split(dataset, fractions: fractions, seed: options.seed)
            : (train: dataset.samples, validation: [], test: [])
        let trainCache = ImageCache(samples: split.train, classes: dataset.classes, size: options.inputSize, threads: max(2, options.threads))
        let validationCache = ImageCache(samples: split.validation, classes: dataset.classes, size: options.inputSize,
                                         threads: max(2, options.threads))
        guard trainCache.count > 0 else {
            throw TrainingError.tooFewImages("\(options.datasetDirectory): no training image could be decoded")
        }
        let problems = (dataset.problems + trainCache.problems + validationCache.problems).map(\.description)

        var startEpoch = 0
        var bestLoss: Float?
        let model: Model
        if let resume = options.resumeCheckpoint {
            let (loaded, progress) = try Model.loadCheckpoint(from: resume, threads: options.threads, optimizer: options.optimizer)
            guard loaded.classes == dataset.classes else {
                throw TrainingError.dataset("checkpoint \(resume) has classes \(loaded.classes) but the dataset has \(dataset.classes)")
            }
            guard loaded.architecture == options.architecture, loaded.inputSize == options.inputSize else {
                throw TrainingError.dataset("checkpoint \(resume) is \(loaded.architecture.rawValue) at \(loaded.inputSize)px; asked for \(options.architecture.rawValue) at \(options.inputSize)px")
            }
            model = loaded
            startEpoch = progress["epoch"].flatMap(Int.init) ?? 0
            bestLoss = progress["best_validation_loss"].flatMap(Float.init)
        } else {
            let normalization = trainCache.fitNormalization()
            model = try Model(architecture: options.architecture, classes: dataset.classes, inputSize: options.inputSize,
                              mean: normalization.mean, std: normalization.std, seed: options.seed, threads: options.threads,
                              optimizer: options.optimizer, learningRate: options.learningRate)
        }
        if options.balanceClasses {
            var counts = [Int](repeating: 0, count: dataset.classes.count)
            for sample in trainCache.samples { counts[sample.label] += 1 }
            let total = Float(trainCache.count), k = Float(counts.count)
            model.classWeights = counts.map { $0 > 0 ? total / (k * Float($0)) : 0 }
        }
        let normalization = Normalization(mean: model.mean, std: model.std)
        report(.prepared(trainImages: trainCache.count, validationImages: validationCache.count, classes: dataset.classes,
                         problems: problems, startEpoch: startEpoch))

        let batchesPerEpoch = BatchStream.batchesPerEpoch(count: trainCache.count, batchSize: options.batchSize, dropLast: false)
        var summaries: [EpochSummary] = []
        let runStart = monotonicNanoseconds()
        var imagesDone = 0
        for epoch in startEpoch..<options.epochs {
            model.learningRate = options.schedule.rate(base: options.learningRate, epoch: epoch)
            let stream = BatchStream(cache: trainCache, normalization: normalization, configuration: .init(
                batchSize: options.batchSize, epochs: 1, shuffle: true,
                augmentation: options.augment ? options.augmentation : nil, seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9))
            let epochStart = monotonicNanoseconds()
            var lossSum = 0.0, seen = 0, batchIndex = 0
            for batch in stream {
                let loss = model.trainStep(inputs: batch.inputs, labels: batch.labels, count: batch.count)
                lossSum += Double(loss) * Double(batch.count)
                seen += batch.count
                imagesDone += batch.count
                batchIndex += 1
                let elapsed = Double(monotonicNanoseconds() - runStart) / 1e9
                let rate = Double(imagesDone) / max(elapsed, 1e-9)
                let remainingImages = Double((options.epochs - epoch) * trainCache.count - seen)
                report(.batch(epoch: epoch + 1, epochs: options.epochs, batch: batchIndex, batches: batchesPerEpoch,
                              loss: Float(lossSum / Double(seen)), imagesPerSecond: rate, etaSeconds: remainingImages / max(rate, 1e-9)))
            }
            let epochSeconds = Double(monotonicNanoseconds() - epochStart) / 1e9
            var validationLoss: Float?, validationAccuracy: Double?
            if validationCache.count > 0 {
                let (loss, accuracy) = evaluate(model, cache: validationCache, normalization: normalization)
                validationLoss = loss; validationAccuracy = accuracy
            }
            var saved = false
            if let loss = validationLoss {
                if bestLoss == nil || loss < bestLoss! {
                    bestLoss = loss
                    try model.save(to: options.outputPath)
                    saved = true
                }
            } else {
                try model.save(to: options.outputPath)
                saved = true
            }
            var progress = ["epoch": String(epoch + 1), "seed": String(options.seed)]
            if let bestLoss { progress["best_validation_loss"] = "\(bestLoss)" }
            try model.saveCheckpoint(to: options.checkpointPath, progress: progress)
            let summary = EpochSummary(epoch: epoch + 1, learningRate: model.learningRate, trainLoss: Float(lossSum / Double(max(seen, 1))),
                                       validationLoss: validationLoss, validationAccuracy: validationAccuracy,
                                       imagesPerSecond: Double(seen) / max(epochSeconds, 1e-9), saved: saved)
            summaries.append(summary)
            report(.epoch(summary))
        }
        var testMetrics: EvaluationMetrics?
        if !split.test.isEmpty {
            let best = try Model.load(from: options.outputPath, threads: options.threads)
            testMetrics = try Evaluation.evaluate(best, datasetDirectory: options.datasetDirectory, labelMap: nil,
                                                  samples: split.test, datasetClasses: dataset.classes).metrics
        }
        return TrainingSummary(epochs: summaries, bestValidationLoss: bestLoss, modelPath: options.outputPath,
                               checkpointPath: options.checkpointPath, test: testMetrics)
    }

    /// Mean loss and accuracy over a cache, in batches of 64, without augmentation.
    static func evaluate(_ model: Model, cache: ImageCache, normalization: Normalization) -> (loss: Float, accuracy: Double) {
        let stream = BatchStream(cache: cache, normalization: normalization, configuration: .evaluation(batchSize: 64))
        var lossSum = 0.0, correct = 0, total = 0
        for batch in stream {
            let result = model.evaluate(inputs: batch.inputs, labels: batch.labels, count: batch.count)
            lossSum += Double(result.loss) * Double(batch.count)
            correct += result.correct
            total += batch.count
        }
        return (Float(lossSum / Double(max(total, 1))), Double(correct) / Double(max(total, 1)))
    }
}

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
    /// Epochs; nil lets the set's size decide (`TrainingRecipe.epochs`).
    public var epochs: Int?
    /// Batch size; nil lets the set's size decide (`TrainingRecipe.batchSize`).
    public var batchSize: Int?
    public var threads: Int = 1
    public var seed: UInt64 = 0
    /// Fraction held out (stratified, group-aware) for validation; 0 keeps the last model.
    public var validationFraction: Double = 0.2
    /// Fraction held out as a test set (same stratified, group-aware split), evaluated once at the end
    /// with the best model; 0 for none.
    public var testFraction: Double = 0
    public var learningRate: Float = 0.01
    public var optimizer: OptimizerKind = .sgd()
    /// The learning-rate schedule's shape; its length is the run's epochs.
    public var schedule: TrainingRecipe.ScheduleShape = .cosine
    /// Augment the training images with `augmentation`.
    public var augment: Bool = true
    public var augmentation: Augmenter.Options = .smear
    /// Fit Macenko stain normalisation on the training images and store it in the model.
    public var stainNormalize: Bool = false
    /// Weight the loss by inverse class frequency (helps specificity when normal cells are rare).
    public var balanceClasses: Bool = false
    public var inputSize: Int = 64
    public var resumeCheckpoint: String?
    /// Start from this model's weights (a federated or earlier model) instead of a fresh initialisation; its
    /// classes, input size, channel and stain normalisation are kept.
    public var initFrom: String?
    /// With `initFrom`: train only the classifier.
    public var freezeFeatures: Bool = false
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

/// How `leuknode train` adapts to the set it is given when no flag says otherwise.
///
/// A small set needs many passes: 130 images in batches of 32 are four steps an epoch, and ten epochs (the old
/// default) are forty steps, far from trained (0.74 on an Aria subset of 130; docs/cnn.md, "Small sets").
/// So the run is sized in steps: `stepBudget` optimisation steps, at least `minimumEpochs` and at most
/// `maximumEpochs` epochs, in batches of 16 below `smallSet` training images (more, noisier steps an epoch:
/// a regulariser where images are few) and of 32 above. A large set gets its ten epochs of 32; 104 training
/// images get 115 epochs of 16. Measured on five Aria subsets of 130 (docs/cnn.md, "Small sets"): 400 steps
/// of 32 gave 0.920 accuracy and 0.972 AUC, 800 steps of 32 0.937 and 0.988, 800 steps of 16 0.953 and 0.990.
public enum TrainingRecipe {
    public static let stepBudget = 800
    public static let smallSet = 512

    public static func batchSize(trainImages: Int) -> Int { trainImages < smallSet ? 16 : 32 }

    public static let minimumEpochs = 10
    public static let maximumEpochs = 200

    public static func epochs(trainImages: Int, batchSize: Int) -> Int {
        let batches = max(1, (trainImages + batchSize - 1) / max(batchSize, 1))
        return min(maximumEpochs, max(minimumEpochs, (stepBudget + batches - 1) / batches))
    }

    public enum ScheduleShape: String, Sendable, CaseIterable {
        case constant, step, cosine

        public func schedule(epochs: Int) -> LearningRateSchedule {
            switch self {
            case .constant: .constant
            case .step: .step(every: max(1, epochs / 3), gamma: 0.1)
            case .cosine: .cosine(epochs: epochs)
            }
        }
    }

    /// The augmentation's name in the recipe line.
    public static func name(_ options: Augmenter.Options?) -> String {
        guard let options else { return "none" }
        return options == .smear ? "smear" : options == .geometric ? "flips" : "custom"
    }
}

/// What a training run reports as it goes.
public enum TrainingEvent: Sendable {
    /// `recipe` is the line stored in the model's metadata: every choice the run made.
    case prepared(trainImages: Int, validationImages: Int, classes: [String], problems: [String], startEpoch: Int, recipe: String)
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
    /// Every choice the run made (also in the model's metadata, `recipe`).
    public var recipe: String

    enum CodingKeys: String, CodingKey {
        case epochs, bestValidationLoss = "best_validation_loss", modelPath = "model_path"
        case checkpointPath = "checkpoint_path", test, recipe
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
        var trainCache = ImageCache(samples: split.train, classes: dataset.classes, size: options.inputSize, threads: max(2, options.threads))
        var validationCache = ImageCache(samples: split.validation, classes: dataset.classes, size: options.inputSize,
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
        } else if let initFrom = options.initFrom {
            let initial = try Model.load(from: initFrom, threads: options.threads)
            guard initial.classes == dataset.classes else {
                throw TrainingError.dataset("\(initFrom) has classes \(initial.classes) but the dataset has \(dataset.classes); pass a --label-map that maps the folders onto them")
            }
            guard initial.inputSize == options.inputSize else {
                throw TrainingError.dataset("\(initFrom) takes \(initial.inputSize) px images; pass --input-size \(initial.inputSize)")
            }
            model = try Model(architecture: initial.architecture, classes: initial.classes, inputSize: initial.inputSize,
                              mean: initial.mean, std: initial.std, seed: options.seed, threads: options.threads,
                              optimizer: options.optimizer, learningRate: options.learningRate)
            model.parameters = initial.parameters
            model.stainNormalizer = initial.stainNormalizer
            if let stain = initial.stainNormalizer {
                trainCache = trainCache.mapped { stain.normalize($0) }
                validationCache = validationCache.mapped { stain.normalize($0) }
            }
            if options.freezeFeatures { model.freezeFeatures() }
        } else {
            let stain = options.stainNormalize ? StainNormalizer.fit(trainCache.images) : nil
            if let stain {
                trainCache = trainCache.mapped { stain.normalize($0) }
                validationCache = validationCache.mapped { stain.normalize($0) }
            }
            let normalization = trainCache.fitNormalization()
            model = try Model(architecture: options.architecture, classes: dataset.classes, inputSize: options.inputSize,
                              mean: normalization.mean, std: normalization.std, seed: options.seed, threads: options.threads,
                              optimizer: options.optimizer, learningRate: options.learningRate)
            model.stainNormalizer = stain
        }
        if options.resumeCheckpoint != nil, let stain = model.stainNormalizer {
            trainCache = trainCache.mapped { stain.normalize($0) }
            validationCache = validationCache.mapped { stain.normalize($0) }
        }
        let batchSize = options.batchSize ?? TrainingRecipe.batchSize(trainImages: trainCache.count)
        let epochs = options.epochs ?? TrainingRecipe.epochs(trainImages: trainCache.count, batchSize: batchSize)
        let schedule = options.schedule.schedule(epochs: epochs)
        let augmentation = options.augment ? options.augmentation : nil
        let start = options.initFrom.map { "fine-tuned from \(($0 as NSString).lastPathComponent)\(options.freezeFeatures ? " (classifier only)" : ""); " } ?? ""
        let recipe = "\(start)\(model.architecture.rawValue) at \(options.inputSize) px; \(epochs) epochs of \(trainCache.count) images in batches of "
            + "\(batchSize)\(options.epochs == nil ? " (\(TrainingRecipe.stepBudget) steps for this set's size)" : ""); "
            + "\(options.optimizer.name) at \(options.learningRate), \(options.schedule.rawValue) schedule; augmentation "
            + "\(TrainingRecipe.name(augmentation)); stain normalisation \(model.stainNormalizer == nil ? "none" : "macenko"); "
            + "\(options.balanceClasses ? "class-balanced loss; " : "")best of \(validationCache.count) validation images by loss"
        model.recipe = recipe
        if options.balanceClasses {
            var counts = [Int](repeating: 0, count: dataset.classes.count)
            for sample in trainCache.samples { counts[sample.label] += 1 }
            let total = Float(trainCache.count), k = Float(counts.count)
            model.classWeights = counts.map { $0 > 0 ? total / (k * Float($0)) : 0 }
        }
        let normalization = Normalization(mean: model.mean, std: model.std)
        report(.prepared(trainImages: trainCache.count, validationImages: validationCache.count, classes: dataset.classes,
                         problems: problems, startEpoch: startEpoch, recipe: recipe))

        let batchesPerEpoch = BatchStream.batchesPerEpoch(count: trainCache.count, batchSize: batchSize, dropLast: false)
        var summaries: [EpochSummary] = []
        let runStart = monotonicNanoseconds()
        var imagesDone = 0
        for epoch in startEpoch..<epochs {
            model.learningRate = schedule.rate(base: options.learningRate, epoch: epoch)
            let stream = BatchStream(cache: trainCache, normalization: normalization, configuration: .init(
                batchSize: batchSize, epochs: 1, shuffle: true,
                augmentation: augmentation, seed: options.seed &+ UInt64(epoch) &* 0x9E37_79B9))
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
                let remainingImages = Double((epochs - epoch) * trainCache.count - seen)
                report(.batch(epoch: epoch + 1, epochs: epochs, batch: batchIndex, batches: batchesPerEpoch,
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
                               checkpointPath: options.checkpointPath, test: testMetrics, recipe: recipe)
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

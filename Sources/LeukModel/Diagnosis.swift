public import LeukMetrics
public import LeukData
import Foundation
import LeukCore

/// One image's diagnosis: the predicted class, every class's probability and the time it took
/// (decode, resize, normalise and the network), or the reason it failed.
public struct ImageDiagnosis: Sendable {
    public var image: String
    public var prediction: String?
    /// In the model's class order.
    public var probabilities: [(label: String, probability: Float)]
    public var responseTimeMs: Double
    public var error: String?
}

/// Single-image inference through the one preprocessing path training uses.
public enum Diagnosis {
    public static func diagnose(_ model: Model, imagePath: String, testTimeAugmentation: Bool = false) -> ImageDiagnosis {
        Request(model, testTimeAugmentation: testTimeAugmentation).diagnose(imagePath) { model.predictProbabilities($0) }
    }

    /// Every image diagnosed alone (decode, preprocessing and the network, timed per image), spread across
    /// the model's `threads` threads (`Model.mapConcurrently`); the results come back in `imagePaths`
    /// order and, apart from the response times, equal those of `diagnose(_:imagePath:)` one image after
    /// another, bit for bit, whatever the thread count.
    public static func diagnose(_ model: Model, imagePaths: [String], testTimeAugmentation: Bool = false) -> [ImageDiagnosis] {
        let request = Request(model, testTimeAugmentation: testTimeAugmentation)
        return model.mapConcurrently(count: imagePaths.count) { i, lane in
            request.diagnose(imagePaths[i]) { lane.predictProbabilities($0) }
        }
    }

    /// What a diagnosis needs from the model besides the network, copied out of it so that worker
    /// threads can share it.
    private struct Request: Sendable {
        let classes: [String]
        let preprocessing: InputPreprocessing
        /// Average the probabilities over the image's eight rotations and reflections.
        let testTimeAugmentation: Bool

        init(_ model: Model, testTimeAugmentation: Bool) {
            classes = model.classes
            preprocessing = model.preprocessing
            self.testTimeAugmentation = testTimeAugmentation
        }

        func diagnose(_ imagePath: String, probabilities predict: ([Float]) -> [Float]) -> ImageDiagnosis {
            let start = monotonicNanoseconds()
            let input: [Float]
            do {
                let decoded = try ImageDecoder.decode(path: imagePath)
                input = testTimeAugmentation ? preprocessing.dihedralInputs(decoded) : preprocessing.input(decoded)
            } catch {
                let ms = Double(monotonicNanoseconds() - start) / 1e6
                return ImageDiagnosis(image: imagePath, prediction: nil, probabilities: [], responseTimeMs: ms, error: error.userMessage)
            }
            let all = predict(input)
            let views = all.count / classes.count
            let probabilities = (0..<classes.count).map { k in
                (0..<views).reduce(Float(0)) { $0 + all[$1 * classes.count + k] } / Float(max(views, 1))
            }
            let ms = Double(monotonicNanoseconds() - start) / 1e6
            var best = 0
            for k in 1..<probabilities.count where probabilities[k] > probabilities[best] { best = k }
            return ImageDiagnosis(image: imagePath, prediction: classes[best],
                                  probabilities: Array(zip(classes, probabilities)).map { (label: $0.0, probability: $0.1) },
                                  responseTimeMs: ms, error: nil)
        }
    }
}

/// `leuknode evaluate`: every image of a labelled folder through single-image diagnosis (so the
/// response times are those a clinician would see), spread across the model's `threads` threads, then
/// the screening metrics (which, response times aside, do not depend on the thread count).
public enum Evaluation {
    public struct Outcome: Sendable {
        public var metrics: EvaluationMetrics
        /// Images that could not be read, with the reason; they are not counted in the metrics.
        public var problems: [String]
    }

    public static func evaluate(_ model: Model, datasetDirectory: String, labelMap: LabelMap?, manifest: String? = nil,
                                samples selected: [DatasetSample]? = nil, datasetClasses: [String]? = nil,
                                testTimeAugmentation: Bool = false) throws -> Outcome {
        var classes = datasetClasses ?? []
        var samples = selected ?? []
        var problems: [String] = []
        if selected == nil {
            let dataset: Dataset
            do {
                dataset = try DatasetScanner.scan(directory: datasetDirectory, labelMap: labelMap, manifest: manifest)
            } catch {
                throw TrainingError.dataset(error.userMessage)
            }
            classes = dataset.classes
            samples = dataset.samples
            problems = dataset.problems.map(\.description)
        }
        // Dataset classes map to the model's logits by name.
        var toModel: [Int] = []
        for name in classes {
            guard let index = model.classes.firstIndex(of: name) else {
                throw TrainingError.dataset("dataset class '\(name)' is not one of the model's classes \(model.classes); pass a --label-map that maps the folders onto them")
            }
            toModel.append(index)
        }
        var labels: [Int] = [], probabilities: [Float] = [], times: [Double] = []
        let results = Diagnosis.diagnose(model, imagePaths: samples.map(\.path), testTimeAugmentation: testTimeAugmentation)
        for (sample, result) in zip(samples, results) {
            if let error = result.error { problems.append(error); continue }
            labels.append(toModel[sample.label])
            probabilities += result.probabilities.map(\.probability)
            times.append(result.responseTimeMs)
        }
        guard !labels.isEmpty else {
            throw TrainingError.tooFewImages("\(datasetDirectory): no image could be evaluated")
        }
        return Outcome(metrics: EvaluationMetrics(classes: model.classes, labels: labels, probabilities: probabilities,
                                                      responseTimesMs: times), problems: problems)
    }
}

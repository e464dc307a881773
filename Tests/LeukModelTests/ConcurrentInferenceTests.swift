import Foundation
import Testing
import LeukCore
import LeukData
@testable import LeukModel
@testable import LeukTensor

/// Inference spread across threads (`Model.mapConcurrently`, `Diagnosis.diagnose(_:imagePaths:)`,
/// `Evaluation.evaluate`) gives the one-thread results bit for bit and in the same order: each image runs
/// the same arithmetic alone on one worker, whichever thread that is.
@Suite struct ConcurrentInferenceTests {
    /// The probabilities and logits of each image, one image per job, on a model with `threads` threads.
    static func lanes(_ set: KernelSet, architecture: Architecture, size: Int, threads: Int, images: Int)
        throws -> (probabilities: [[Float]], logits: [[Float]], alone: [[Float]]) {
        try VectorKernels.withKernels(set) {
            let model = try Model(architecture: architecture, classes: ["hem", "all", "other"], inputSize: size, seed: 5,
                                  threads: threads)
            let batch = randomBatch(count: images, size: size, classes: 3, seed: 9)
            let n = model.inputCount
            let inputs = (0..<images).map { Array(batch.inputs[($0 * n)..<(($0 + 1) * n)]) }
            let both = model.mapConcurrently(count: images) { i, lane in
                (lane.predictProbabilities(inputs[i]), lane.logits(inputs[i]))
            }
            // The model's own single-image call, on the caller's thread, one image after another.
            let alone = inputs.map { model.predictProbabilities($0) }
            return (both.map(\.0), both.map(\.1), alone)
        }
    }

    /// Every kernel set this CPU runs, forced for the test's task: the worker threads must inherit it.
    /// LeukNet-S at its real size (direct kernels on AVX2/AVX-512) and LeukNet-M (im2col, GroupNorm).
    @Test(arguments: KernelSet.supported, [(Architecture.leuknetS, 64), (.leuknetM, 16)])
    func twoAndThreeThreadsGiveTheOneThreadBits(set: KernelSet, network: (Architecture, Int)) throws {
        let (architecture, size) = network
        let one = try Self.lanes(set, architecture: architecture, size: size, threads: 1, images: 7)
        for threads in [2, 3] {
            let many = try Self.lanes(set, architecture: architecture, size: size, threads: threads, images: 7)
            #expect(many.probabilities == one.probabilities, "\(threads) threads")
            #expect(many.logits == one.logits, "\(threads) threads")
        }
        #expect(one.probabilities == one.alone)
        // Different images give different answers, so a result in the wrong slot would show.
        #expect(Set(one.logits).count == 7)
    }

    /// The worker threads are outside the caller's task; they must still run the set the caller forced.
    @Test(arguments: KernelSet.supported)
    func lanesRunTheCallersKernelSet(set: KernelSet) throws {
        let active = try VectorKernels.withKernels(set) {
            try Model(classes: ["hem", "all"], inputSize: 16, seed: 1, threads: 2).mapConcurrently(count: 4) { _, _ in VectorKernels.active }
        }
        #expect(active == [KernelSet](repeating: set, count: 4))
    }

    @Test func moreThreadsThanJobsAndNoJobs() throws {
        let model = try Model(classes: ["hem", "all"], inputSize: 16, seed: 1, threads: 4)
        #expect(model.mapConcurrently(count: 0) { i, _ in i }.isEmpty)
        #expect(model.mapConcurrently(count: 2) { i, _ in i * 10 } == [0, 10])
        #expect(model.mapConcurrently(count: 9) { i, _ in i } == Array(0..<9))
    }

    /// A folder of PNG cells plus one unreadable file, for `diagnose` and `evaluate`.
    static func writeImages() throws -> (root: String, paths: [String]) {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("leuk-concurrent-\(UInt64.random(in: 0...UInt64.max))").path
        try SyntheticCells.writeDataset(to: root, count: 9, seed: 4, size: 64, threads: 1)
        let broken = root + "/all/broken.png"
        try Data("not a png".utf8).write(to: URL(fileURLWithPath: broken))
        var paths: [String] = []
        for name in SyntheticCells.classes {
            let folder = root + "/" + name
            paths += try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { folder + "/" + $0 }
        }
        return (root, paths)
    }

    @Test func diagnosingAFolderOnTwoThreadsGivesTheOneThreadResults() throws {
        let (root, paths) = try Self.writeImages()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func diagnose(threads: Int) throws -> [ImageDiagnosis] {
            let model = try Model(classes: ["hem", "all"], inputSize: 64, mean: [0.5, 0.4, 0.6], std: [0.2, 0.25, 0.2],
                                  seed: 3, threads: threads)
            return Diagnosis.diagnose(model, imagePaths: paths)
        }
        let one = try diagnose(threads: 1), two = try diagnose(threads: 2)
        #expect(one.map(\.image) == paths)
        #expect(two.map(\.image) == paths)
        #expect(two.map(\.prediction) == one.map(\.prediction))
        #expect(two.map(\.error) == one.map(\.error))
        #expect(two.map { $0.probabilities.map(\.probability) } == one.map { $0.probabilities.map(\.probability) })
        #expect(two.map { $0.probabilities.map(\.label) } == one.map { $0.probabilities.map(\.label) })
        // The broken file fails alone, in its place; the others are diagnosed.
        #expect(one.filter { $0.error != nil }.map(\.image) == [root + "/all/broken.png"])
        #expect(Set(one.compactMap { $0.probabilities.first?.probability }).count == paths.count - 1)
        // And the single-image call agrees.
        let model = try Model(classes: ["hem", "all"], inputSize: 64, mean: [0.5, 0.4, 0.6], std: [0.2, 0.25, 0.2], seed: 3)
        let single = paths.map { Diagnosis.diagnose(model, imagePath: $0) }
        #expect(single.map { $0.probabilities.map(\.probability) } == one.map { $0.probabilities.map(\.probability) })
    }

    @Test func evaluatingOnTwoThreadsGivesTheOneThreadMetrics() throws {
        let (root, _) = try Self.writeImages()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let mean: [Float] = [0.5, 0.4, 0.6], std: [Float] = [0.2, 0.25, 0.2]
        // A few steps on other cells (on one thread), so that the predictions are not all one class.
        let trainer = try Model(classes: ["hem", "all"], inputSize: 64, mean: mean, std: std, seed: 3)
        let (images, labels) = SyntheticCells.generate(count: 16, seed: 8, size: 64, threads: 1)
        let normalization = Normalization(mean: mean, std: std)
        let batch = TrainingBatch(inputs: images.flatMap { normalization.chw($0) }, labels: labels.map(Int32.init), count: 16)
        for _ in 0..<5 { trainer.trainStep(batch) }
        let trained = trainer.parameters
        func evaluate(threads: Int) throws -> Evaluation.Outcome {
            let model = try Model(classes: ["hem", "all"], inputSize: 64, mean: mean, std: std, seed: 3, threads: threads)
            model.parameters = trained
            return try Evaluation.evaluate(model, datasetDirectory: root, labelMap: nil)
        }
        let one = try evaluate(threads: 1), two = try evaluate(threads: 2)
        var a = one.metrics, b = two.metrics
        #expect(a.responseTimeMs != nil && b.responseTimeMs != nil)
        a.responseTimeMs = nil; b.responseTimeMs = nil
        #expect(a == b)
        #expect(a.n == 9)
        #expect(one.problems == two.problems)
        #expect(one.problems.count == 1)
    }
}

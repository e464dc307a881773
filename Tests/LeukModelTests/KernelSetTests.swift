import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

/// The largest |a - b| / max(1, |a|, |b|) (infinite when the counts differ): one number, so that a
/// failure reports how far apart two paths are instead of printing both arrays.
func maxRelativeDifference(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) / max(1, abs($0), abs($1)) }.max() ?? 0
}

/// Whole networks under every kernel set this CPU runs, each forced in turn for its own task
/// (`VectorKernels.withKernels`), against the portable path: logits, loss and every parameter gradient
/// within 1e-5, and the parameters after a few SGD steps as well. Sizes: LeukNet-S at 16 pixels (every block
/// on direct kernels), at 24 (conv2's backward and conv3 on im2col with the set's gather and pooling
/// kernels), and LeukNet-M (im2col + GEMM with the set's gather, col2im and pooling).
@Suite(.enabled(if: !vectorKernelSets.isEmpty, "needs a CPU with AVX2 or AVX-512"))
struct KernelSetTests {
    struct Outcome {
        var logits: [Float]
        var loss: Float
        var gradients: [Float]
        var trained: [Float]
    }

    static func outcome(_ set: KernelSet, architecture: Architecture, size: Int) throws -> Outcome {
        try VectorKernels.withKernels(set) {
            let model = try Model(architecture: architecture, classes: ["hem", "all", "other"], inputSize: size, seed: 5)
            let batch = randomBatch(count: 4, size: size, classes: 3, seed: 9)
            let logits = model.logits(batch.inputs)
            let (loss, gradients) = model.lossAndGradients(inputs: batch.inputs, labels: batch.labels, count: batch.count)
            model.learningRate = 0.05
            for _ in 0..<3 { model.trainStep(batch) }
            return Outcome(logits: logits, loss: loss, gradients: gradients, trained: model.parameters)
        }
    }

    static let cases: [(Architecture, Int)] = [(.leuknetS, 16), (.leuknetS, 24), (.leuknetM, 16)]

    @Test(arguments: vectorKernelSets, cases)
    func matchesThePortablePath(set: KernelSet, network: (Architecture, Int)) throws {
        let (architecture, size) = network
        let vector = try Self.outcome(set, architecture: architecture, size: size)
        let portable = try Self.outcome(.portable, architecture: architecture, size: size)
        #expect(maxRelativeDifference(vector.logits, portable.logits) <= 1e-5)
        #expect(abs(vector.loss - portable.loss) <= 1e-5 * max(1, abs(portable.loss)))
        #expect(maxRelativeDifference(vector.gradients, portable.gradients) <= 1e-5)
        #expect(maxRelativeDifference(vector.trained, portable.trained) <= 1e-5)
        #expect(vector.gradients.contains { $0 != 0 })
    }

    /// AVX2 and AVX-512 sum every output in the same order with FMAs and move the same values, so on a
    /// CPU that runs both they give the same bits: a check that the AVX2 kernels compute the AVX-512
    /// definition, not just something close to it.
    @Test(.enabled(if: KernelSet.avx512.isSupported && KernelSet.avx2.isSupported, "needs AVX-512 and AVX2"),
          arguments: cases)
    func avx2AndAVX512AgreeBitForBit(network: (Architecture, Int)) throws {
        let (architecture, size) = network
        let avx512 = try Self.outcome(.avx512, architecture: architecture, size: size)
        let avx2 = try Self.outcome(.avx2, architecture: architecture, size: size)
        #expect(avx512.logits == avx2.logits)
        #expect(avx512.gradients == avx2.gradients)
        #expect(avx512.trained == avx2.trained)
    }

    /// Each set is deterministic on its own: the same seed gives the same bits twice.
    @Test(arguments: KernelSet.supported)
    func eachSetRepeatsItself(set: KernelSet) throws {
        let first = try Self.outcome(set, architecture: .leuknetS, size: 16)
        let second = try Self.outcome(set, architecture: .leuknetS, size: 16)
        #expect(first.trained == second.trained)
        #expect(first.gradients == second.gradients)
    }
}

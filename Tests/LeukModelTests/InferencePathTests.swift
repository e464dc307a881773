import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

/// Inference runs LeukNet-S's direct-kernel blocks depth first, image by image, with the first block
/// reading the NCHW input straight into its padded copy (`TrainingWorker.forward`). That must give the
/// bits of the plain pass: every layer over the whole batch, after a separate NHWC transposition.
@Suite struct InferencePathTests {
    /// The plain pass, layer after layer over the whole batch.
    static func layerByLayer(_ model: Model, _ inputs: [Float], count: Int) -> [Float] {
        let size = model.inputSize
        var nhwc = [Float](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { x in
            nhwc.withUnsafeMutableBufferPointer {
                Layout.nchwToNHWC(x.baseAddress!, images: count, channels: 3, height: size, width: size, into: $0.baseAddress!)
            }
        }
        return nhwc.withUnsafeBufferPointer { x in
            var activation = x.baseAddress!
            for layer in model.layers { activation = layer.forward(activation, batch: count, mode: .inference) }
            return Array(UnsafeBufferPointer(start: activation, count: count * model.classes.count))
        }
    }

    /// 64 pixels: all three blocks on direct kernels (AVX2, AVX-512); 24: conv3 on im2col after two
    /// direct blocks; the portable set: no direct block at all.
    @Test(arguments: KernelSet.supported, [64, 24])
    func depthFirstInferenceGivesTheBatchPassBits(set: KernelSet, size: Int) throws {
        try VectorKernels.withKernels(set) {
            func trained() throws -> Model {
                let model = try Model(architecture: .leuknetS, classes: ["hem", "all", "other"], inputSize: size, seed: 5,
                                      learningRate: 0.001)
                model.trainStep(Self.batch(size))  // biases away from zero
                return model
            }
            let model = try trained(), batch = Self.batch(size)
            let logits = model.logits(batch.inputs)
            #expect(logits == Self.layerByLayer(model, batch.inputs, count: batch.count))
            #expect(Set(logits).count == logits.count)
            // An inference pass in between (the blocks' buffers used image by image) leaves training unchanged.
            let untouched = try trained()
            for _ in 0..<2 { model.trainStep(batch); untouched.trainStep(batch) }
            #expect(model.parameters == untouched.parameters)
        }
    }

    static func batch(_ size: Int) -> TrainingBatch { randomBatch(count: 5, size: size, classes: 3, seed: 9) }
}

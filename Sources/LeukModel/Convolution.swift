internal import LeukTensor
import LeukCore
import Foundation

/// Weights of a convolution stored for channels-last GEMMs: a (ky, kx, ci) x co matrix, so that
/// `output[pixels x co] = im2col[pixels x patch] * weight[patch x co]`.
/// PyTorch stores the same numbers as OIHW ([co, ci, ky, kx]); the two conversions live here.
struct ConvolutionWeights {
    let geometry: ConvGeometry
    var weight: UnsafeMutablePointer<Float>
    var bias: UnsafeMutablePointer<Float>
    var weightGradient: UnsafeMutablePointer<Float>
    var biasGradient: UnsafeMutablePointer<Float>

    init(geometry: ConvGeometry) {
        self.geometry = geometry
        let dummy = UnsafeMutablePointer<Float>(bitPattern: 64)!
        weight = dummy; bias = dummy; weightGradient = dummy; biasGradient = dummy
    }

    var weightCount: Int { geometry.patchSize * geometry.outChannels }

    mutating func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        weight = parameters; bias = parameters + weightCount
        weightGradient = gradients; biasGradient = gradients + weightCount
    }

    func tensors(prefix: String) -> [ParameterTensorInfo] {
        let g = geometry
        return [
            ParameterTensorInfo(name: "\(prefix).weight", shape: [g.outChannels, g.inChannels, g.kernel, g.kernel]),
            ParameterTensorInfo(name: "\(prefix).bias", shape: [g.outChannels]),
        ]
    }

    /// He-uniform weights (the network is all ReLU), zero biases.
    func initialize(using generator: inout SeededGenerator) {
        let bound = (6.0 / Float(geometry.patchSize)).squareRoot()
        for i in 0..<weightCount { weight[i] = uniform(bound, &generator) }
        for o in 0..<geometry.outChannels { bias[o] = 0 }
    }

    func exportCanonical(into destination: UnsafeMutablePointer<Float>) {
        let g = geometry
        for o in 0..<g.outChannels {
            for i in 0..<g.inChannels {
                for ky in 0..<g.kernel {
                    for kx in 0..<g.kernel {
                        let canonical = ((o * g.inChannels + i) * g.kernel + ky) * g.kernel + kx
                        let row = (ky * g.kernel + kx) * g.inChannels + i
                        destination[canonical] = weight[row * g.outChannels + o]
                    }
                }
            }
        }
        for o in 0..<g.outChannels { destination[weightCount + o] = bias[o] }
    }

    func importCanonical(from source: UnsafePointer<Float>) {
        let g = geometry
        for o in 0..<g.outChannels {
            for i in 0..<g.inChannels {
                for ky in 0..<g.kernel {
                    for kx in 0..<g.kernel {
                        let canonical = ((o * g.inChannels + i) * g.kernel + ky) * g.kernel + kx
                        let row = (ky * g.kernel + kx) * g.inChannels + i
                        weight[row * g.outChannels + o] = source[canonical]
                    }
                }
            }
        }
        for o in 0..<g.outChannels { bias[o] = source[weightCount + o] }
    }
}

/// A 2-D convolution (any kernel, stride, padding) with bias, on channels-last images.
///
/// im2col runs in chunks of a few images so the column matrix stays in cache and memory stays small;
/// the backward pass recomputes the columns instead of keeping them for the whole batch.
final class Conv2D: Layer {
    let name: String
    private(set) var params: ConvolutionWeights
    let inputShape: FeatureShape
    let outputShape: FeatureShape
    private let output = FloatBuffer()
    private let inputGradient = FloatBuffer()
    private let columns = FloatBuffer()
    private let columnGradient = FloatBuffer()
    private var lastInput: UnsafePointer<Float>?
    /// Images per im2col chunk; tests lower it to cross chunk boundaries with small batches.
    var chunk: Int

    init(name: String, geometry: ConvGeometry) {
        self.name = name
        self.params = ConvolutionWeights(geometry: geometry)
        inputShape = FeatureShape(height: geometry.height, width: geometry.width, channels: geometry.inChannels)
        outputShape = FeatureShape(height: geometry.outHeight, width: geometry.outWidth, channels: geometry.outChannels)
        chunk = imagesPerChunk(pixels: geometry.outputPixels, patch: geometry.patchSize)
    }

    var geometry: ConvGeometry { params.geometry }
    var parameterTensors: [ParameterTensorInfo] { params.tensors(prefix: name) }
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        params.bind(parameters: parameters, gradients: gradients)
    }
    func initializeParameters(using generator: inout SeededGenerator) { params.initialize(using: &generator) }
    func exportCanonical(into destination: UnsafeMutablePointer<Float>) { params.exportCanonical(into: destination) }
    func importCanonical(from source: UnsafePointer<Float>) { params.importCanonical(from: source) }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        let g = geometry
        lastInput = input
        let out = output.reserve(batch * outputShape.count)
        let col = columns.reserve(min(chunk, batch) * g.outputPixels * g.patchSize)
        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let rows = count * g.outputPixels
            Im2Col.gather(input + start * inputShape.count, images: count, geometry: g, into: col)
            let dst = out + start * outputShape.count
            BLAS.gemm(transposeA: false, transposeB: false, m: rows, n: g.outChannels, k: g.patchSize,
                      a: col, lda: g.patchSize, b: params.weight, ldb: g.outChannels,
                      beta: 0, c: dst, ldc: g.outChannels)
            Elementwise.addBias(params.bias, rows: rows, columns: g.outChannels, to: dst)
            start += count
        }
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard let input = lastInput else { preconditionFailure("Conv2D.backward before forward") }
        let g = geometry
        let col = columns.reserve(min(chunk, batch) * g.outputPixels * g.patchSize)
        let dCol = needsInputGradient ? columnGradient.reserve(min(chunk, batch) * g.outputPixels * g.patchSize) : nil
        let dX = needsInputGradient ? inputGradient.reserve(batch * inputShape.count) : nil
        if let dX { dX.update(repeating: 0, count: batch * inputShape.count) }
        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let rows = count * g.outputPixels
            let dY = outputGradient + start * outputShape.count
            Elementwise.accumulateColumnSums(dY, rows: rows, columns: g.outChannels, into: params.biasGradient)
            Im2Col.gather(input + start * inputShape.count, images: count, geometry: g, into: col)
            BLAS.gemm(transposeA: true, transposeB: false, m: g.patchSize, n: g.outChannels, k: rows,
                      a: col, lda: g.patchSize, b: dY, ldb: g.outChannels,
                      beta: 1, c: params.weightGradient, ldc: g.outChannels)
            if let dCol, let dX {
                BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: g.patchSize, k: g.outChannels,
                          a: dY, lda: g.outChannels, b: params.weight, ldb: g.outChannels,
                          beta: 0, c: dCol, ldc: g.patchSize)
                Im2Col.scatterAdd(dCol, images: count, geometry: g, into: dX + start * inputShape.count)
            }
            start += count
        }
        return dX.map { UnsafePointer($0) }
    }
}

/// LeukNet-S's block: 3x3 convolution (stride 1, pad 1), bias, ReLU and 2x2 max-pool in one layer.
///
/// Bias, ReLU and pooling are fused into a single pass over each chunk's GEMM output, so the
/// full-resolution activation is never stored: only the pooled output and one argmax byte per pooled
/// value survive to the backward pass. This is the main memory and bandwidth saving of the engine.
/// On CPUs with AVX-512 or AVX2, LeukNet-S's blocks skip im2col: conv1 (3 -> 16 channels) runs as one direct
/// kernel for convolution, bias, ReLU and pooling and another for its weight gradient, straight from the
/// pooled gradient (`DirectConv1`); conv2 and conv3 run a direct forward kernel (`DirectConvReLUPool`)
/// and a backward pass on zero-bordered buffers (`DirectConvBackward`); in inference, conv2 and conv3 at
/// 64x64 run by Winograd F(2x2, 3x3) instead (`WinogradConvReLUPool`, 2.25x fewer multiplications). Other
/// shapes and CPUs use im2col + GEMM.
final class ConvReLUPool: Layer {
    let name: String
    private(set) var params: ConvolutionWeights
    let inputShape: FeatureShape
    let outputShape: FeatureShape
    private let output = FloatBuffer()
    private let argmax = ByteBuffer()
    private let preActivation = FloatBuffer()
    private let inputGradient = FloatBuffer()
    private let columns = FloatBuffer()
    private let columnGradient = FloatBuffer()
    private var lastInput: UnsafePointer<Float>?
    /// Images per im2col chunk; tests lower it to cross chunk boundaries with small batches.
    var chunk: Int
    /// Whether the forward pass runs as one direct vector kernel (`DirectConv1` for 3 -> 16 channels,
    /// which also computes the weight gradient; `DirectConvReLUPool` for 32k output channels) instead of
    /// im2col + GEMM + pooling. Tests turn it off to compare with the portable path.
    var usesDirectKernel: Bool
    /// Whether this block has conv1's shape, whose direct kernel also covers the weight gradient.
    private let isConv1Shape: Bool
    /// The zero-padded copy of the input the direct kernels read (forward and weight gradient).
    private let paddedInput = FloatBuffer()
    /// The full-resolution gradient with a 1-pixel border (`DirectConvBackward`). Only the interior is
    /// ever written, so the border keeps the zeros `FloatBuffer` allocates with.
    private let paddedGradient = FloatBuffer()
    /// The flipped, transposed weights of the input-gradient convolution (`DirectConvBackward`).
    private let flippedWeight = FloatBuffer()
    /// Whether the backward pass runs without im2col (`DirectConvBackward`: conv2/conv3 shapes).
    private let usesDirectBackward: Bool
    /// Whether inference runs the Winograd kernel (`WinogradConvReLUPool`: conv2/conv3 at 64x64) instead of
    /// the direct one; training always runs the direct kernel. Tests turn it off to compare the two.
    var usesWinograd: Bool
    /// The Winograd-transformed weights, and the weights they were computed from: recomputed only when
    /// the weights changed since (a training step, new parameters), which a comparison of the two copies
    /// finds for a fraction of a forward pass's cost.
    private let winogradWeight = FloatBuffer()
    private let winogradSource = FloatBuffer()
    private var winogradValid = false
    private let winogradScratch = FloatBuffer()

    init(name: String, geometry: ConvGeometry) {
        precondition(geometry.outHeight % 2 == 0 && geometry.outWidth % 2 == 0, "ConvReLUPool needs an even output size")
        isConv1Shape = VectorKernels.directConv1Applies(geometry)
        usesDirectKernel = isConv1Shape || VectorKernels.directConvApplies(geometry)
        usesDirectBackward = !isConv1Shape && DirectConvBackward.applies(geometry)
        usesWinograd = !isConv1Shape && WinogradConvReLUPool.applies(geometry)
        self.name = name
        self.params = ConvolutionWeights(geometry: geometry)
        inputShape = FeatureShape(height: geometry.height, width: geometry.width, channels: geometry.inChannels)
        outputShape = FeatureShape(height: geometry.outHeight / 2, width: geometry.outWidth / 2, channels: geometry.outChannels)
        chunk = imagesPerChunk(pixels: geometry.outputPixels, patch: geometry.patchSize)
    }

    var geometry: ConvGeometry { params.geometry }
    /// Floats of one zero-padded input image (1-pixel border).
    private var paddedImageCount: Int { (geometry.height + 2) * (geometry.width + 2) * geometry.inChannels }
    var parameterTensors: [ParameterTensorInfo] { params.tensors(prefix: name) }
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        params.bind(parameters: parameters, gradients: gradients)
    }
    func initializeParameters(using generator: inout SeededGenerator) { params.initialize(using: &generator) }
    func exportCanonical(into destination: UnsafeMutablePointer<Float>) { params.exportCanonical(into: destination) }
    func importCanonical(from source: UnsafePointer<Float>) { params.importCanonical(from: source) }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        let g = geometry
        lastInput = input
        let out = output.reserve(batch * outputShape.count)
        let arg = argmax.reserve(batch * outputShape.count)
        if usesDirectKernel {
            let padded = paddedInput.reserve(batch * paddedImageCount)
            VectorKernels.pad(input, images: batch, height: g.height, width: g.width, channels: g.inChannels,
                              padding: 1, into: padded)
            if mode == .inference && usesWinograd {
                WinogradConvReLUPool.forward(
                    padded: padded, images: batch, geometry: g, transformedWeight: transformedWeights(),
                    bias: params.bias, scratch: winogradScratch.reserve(WinogradConvReLUPool.scratchCount(g)),
                    output: out, argmax: arg)
                return UnsafePointer(out)
            }
            return directForward(padded, batch: batch, output: out, argmax: arg)
        }
        let chunkImages = min(chunk, batch)
        let col = columns.reserve(chunkImages * g.outputPixels * g.patchSize)
        let pre = preActivation.reserve(chunkImages * g.outputPixels * g.outChannels)
        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let rows = count * g.outputPixels
            Im2Col.gather(input + start * inputShape.count, images: count, geometry: g, into: col)
            BLAS.gemm(transposeA: false, transposeB: false, m: rows, n: g.outChannels, k: g.patchSize,
                      a: col, lda: g.patchSize, b: params.weight, ldb: g.outChannels,
                      beta: 0, c: pre, ldc: g.outChannels)
            Pooling.maxPool2x2Forward(pre, images: count, height: g.outHeight, width: g.outWidth, channels: g.outChannels,
                                      bias: params.bias, relu: true,
                                      output: out + start * outputShape.count, argmax: arg + start * outputShape.count)
            start += count
        }
        return UnsafePointer(out)
    }

    /// The argmax codes of the last forward pass (one per pooled value).
    var argmaxCodes: UnsafePointer<UInt8> { UnsafePointer(argmax.pointer) }

    /// The Winograd-transformed weights of the current weights (`winogradWeight`).
    private func transformedWeights() -> UnsafePointer<Float> {
        let count = params.weightCount
        let source = winogradSource.reserve(count)
        if !winogradValid || memcmp(source, params.weight, count * MemoryLayout<Float>.stride) != 0 {
            source.update(from: params.weight, count: count)
            WinogradConvReLUPool.transformWeights(params.weight, geometry: geometry,
                                                  into: winogradWeight.reserve(WinogradConvReLUPool.transformedWeightCount(geometry)))
            winogradValid = true
        }
        return UnsafePointer(winogradWeight.pointer)
    }

    /// The direct kernel on the zero-padded input.
    private func directForward(_ padded: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>,
                               argmax: UnsafeMutablePointer<UInt8>) -> UnsafePointer<Float> {
        let g = geometry
        if isConv1Shape {
            DirectConv1.forward(padded: padded, images: batch, height: g.height, width: g.width,
                                weight: params.weight, bias: params.bias, output: output, argmax: argmax)
        } else {
            DirectConvReLUPool.forward(padded: padded, images: batch, geometry: g,
                                       weight: params.weight, bias: params.bias, output: output, argmax: argmax)
        }
        return UnsafePointer(output)
    }

    /// Inference straight from NCHW images, for the network's first block on direct kernels: the
    /// channels-last transposition and the zero border are written in one pass, not two. Same bits as
    /// `forward` on the transposed images. Leaves no input for a backward pass (which then stops).
    func inferenceForward(nchw input: UnsafePointer<Float>, batch: Int) -> UnsafePointer<Float> {
        precondition(usesDirectKernel, "ConvReLUPool.inferenceForward(nchw:) needs the direct kernels")
        let g = geometry
        lastInput = nil
        let padded = paddedInput.reserve(batch * paddedImageCount)
        VectorKernels.pad(nchw: input, images: batch, height: g.height, width: g.width, channels: g.inChannels,
                          padding: 1, into: padded)
        return directForward(padded, batch: batch, output: output.reserve(batch * outputShape.count),
                             argmax: argmax.reserve(batch * outputShape.count))
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard lastInput != nil else { preconditionFailure("ConvReLUPool.backward before forward") }
        if usesDirectKernel && usesDirectBackward {
            return directBackward(outputGradient, batch: batch, needsInputGradient: needsInputGradient)
        }
        if usesDirectKernel && isConv1Shape {
            let g = geometry
            DirectConv1.accumulateWeightGradient(
                padded: paddedInput.pointer, images: batch, height: g.height, width: g.width,
                pooledGradient: outputGradient, argmax: argmax.pointer,
                weightGradient: params.weightGradient, biasGradient: params.biasGradient)
            guard needsInputGradient else { return nil }
            return im2colBackward(outputGradient, batch: batch, needsInputGradient: true, computesParameterGradients: false)
        }
        return im2colBackward(outputGradient, batch: batch, needsInputGradient: needsInputGradient, computesParameterGradients: true)
    }

    /// conv2/conv3 on AVX-512 or AVX2 (`DirectConvBackward`), image by image so that the padded gradient (one
    /// image, border kept zero) stays in cache from routing through the weight gradient to the input
    /// gradient.
    private func directBackward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        let g = geometry
        let arg = argmax.pointer
        let dPre = paddedGradient.reserve(DirectConvBackward.paddedGradientCount(g))
        let flipped = needsInputGradient ? flippedWeight.reserve(params.weightCount) : nil
        if let flipped { DirectConvBackward.flipWeights(params.weight, geometry: g, into: flipped) }
        let dX = needsInputGradient ? inputGradient.reserve(batch * inputShape.count) : nil
        for n in 0..<batch {
            let pooledOffset = n * outputShape.count
            DirectConvBackward.routePooledGradient(outputGradient + pooledOffset, argmax: arg + pooledOffset, images: 1,
                                                   geometry: g, into: dPre, biasGradient: params.biasGradient)
            DirectConvBackward.accumulateWeightGradient(paddedInput: paddedInput.pointer + n * paddedImageCount,
                                                        paddedGradient: dPre, images: 1, geometry: g,
                                                        weightGradient: params.weightGradient)
            if let flipped, let dX {
                DirectConvBackward.inputGradient(paddedGradient: dPre, images: 1, geometry: g, flippedWeight: flipped,
                                                 into: dX + n * inputShape.count)
            }
        }
        return dX.map { UnsafePointer($0) }
    }

    /// The im2col + GEMM backward pass, chunk by chunk: route the pooled gradient (adding the bias
    /// gradient), weight gradient from rebuilt columns, input gradient by a column-gradient GEMM and
    /// col2im. Without `computesParameterGradients` (conv1's direct kernel has done them) only the input
    /// gradient is computed.
    private func im2colBackward(
        _ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool, computesParameterGradients: Bool
    ) -> UnsafePointer<Float>? {
        guard let input = lastInput else { preconditionFailure("ConvReLUPool.backward before forward") }
        let g = geometry
        let c = g.outChannels
        let arg = argmax.pointer
        let chunkImages = min(chunk, batch)
        let dCol = needsInputGradient ? columnGradient.reserve(chunkImages * g.outputPixels * g.patchSize) : nil
        let dX = needsInputGradient ? inputGradient.reserve(batch * inputShape.count) : nil
        if let dX { dX.update(repeating: 0, count: batch * inputShape.count) }
        let col = computesParameterGradients ? columns.reserve(chunkImages * g.outputPixels * g.patchSize) : nil
        let dPre = preActivation.reserve(chunkImages * g.outputPixels * c)
        var start = 0
        while start < batch {
            let count = min(chunk, batch - start)
            let rows = count * g.outputPixels
            let pooledOffset = start * outputShape.count
            Pooling.maxPool2x2Backward(outputGradient + pooledOffset, argmax: arg + pooledOffset, images: count,
                                       height: g.outHeight, width: g.outWidth, channels: c, into: dPre,
                                       accumulatingBiasGradient: computesParameterGradients ? params.biasGradient : nil)
            if let col {
                Im2Col.gather(input + start * inputShape.count, images: count, geometry: g, into: col)
                BLAS.gemm(transposeA: true, transposeB: false, m: g.patchSize, n: c, k: rows,
                          a: col, lda: g.patchSize, b: dPre, ldb: c,
                          beta: 1, c: params.weightGradient, ldc: c)
            }
            if let dCol, let dX {
                BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: g.patchSize, k: c,
                          a: dPre, lda: c, b: params.weight, ldb: c,
                          beta: 0, c: dCol, ldc: g.patchSize)
                Im2Col.scatterAdd(dCol, images: count, geometry: g, into: dX + start * inputShape.count)
            }
            start += count
        }
        return dX.map { UnsafePointer($0) }
    }
}

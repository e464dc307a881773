internal import LeukTensor
import LeukCore

/// A fully connected layer, `y = x W^T + b`, with W stored [out, in] as in PyTorch.
///
/// When it follows a feature map the engine's flattened input is in (H, W, C) order while PyTorch's
/// `flatten` gives (C, H, W); the weight's input columns are permuted on import/export so that a
/// PyTorch `fc1.weight` means exactly the same function here.
final class Dense: Layer {
    let name: String
    let inputShape: FeatureShape
    let outputShape: FeatureShape
    let inFeatures: Int
    let outFeatures: Int
    /// He-uniform for hidden layers feeding a ReLU; a smaller 1/sqrt(fan_in) bound for the logits layer.
    let isOutputLayer: Bool
    private var weight = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var bias = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var weightGradient = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var biasGradient = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private let output = FloatBuffer()
    private let inputGradient = FloatBuffer()
    private var lastInput: UnsafePointer<Float>?

    init(name: String, input: FeatureShape, outFeatures: Int, isOutputLayer: Bool = false) {
        self.name = name
        inputShape = input
        inFeatures = input.count
        self.outFeatures = outFeatures
        outputShape = FeatureShape(height: 1, width: 1, channels: outFeatures)
        self.isOutputLayer = isOutputLayer
    }

    var parameterTensors: [ParameterTensorInfo] {
        [ParameterTensorInfo(name: "\(name).weight", shape: [outFeatures, inFeatures]),
         ParameterTensorInfo(name: "\(name).bias", shape: [outFeatures])]
    }

    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        weight = parameters; bias = parameters + inFeatures * outFeatures
        weightGradient = gradients; biasGradient = gradients + inFeatures * outFeatures
    }

    func initializeParameters(using generator: inout SeededGenerator) {
        let bound = isOutputLayer ? 1 / Float(inFeatures).squareRoot() : (6 / Float(inFeatures)).squareRoot()
        for i in 0..<(inFeatures * outFeatures) { weight[i] = uniform(bound, &generator) }
        for o in 0..<outFeatures { bias[o] = 0 }
    }

    /// Index of engine input column `(h, w, c)` in PyTorch's (c, h, w) flattening.
    @inline(__always)
    private func canonicalColumn(engineColumn j: Int) -> Int {
        let c = j % inputShape.channels
        let pixel = j / inputShape.channels
        return c * inputShape.height * inputShape.width + pixel
    }

    func exportCanonical(into destination: UnsafeMutablePointer<Float>) {
        for o in 0..<outFeatures {
            for j in 0..<inFeatures {
                destination[o * inFeatures + canonicalColumn(engineColumn: j)] = weight[o * inFeatures + j]
            }
        }
        for o in 0..<outFeatures { destination[outFeatures * inFeatures + o] = bias[o] }
    }

    func importCanonical(from source: UnsafePointer<Float>) {
        for o in 0..<outFeatures {
            for j in 0..<inFeatures {
                weight[o * inFeatures + j] = source[o * inFeatures + canonicalColumn(engineColumn: j)]
            }
        }
        for o in 0..<outFeatures { bias[o] = source[outFeatures * inFeatures + o] }
    }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        lastInput = input
        let out = output.reserve(batch * outFeatures)
        BLAS.gemm(transposeA: false, transposeB: true, m: batch, n: outFeatures, k: inFeatures,
                  a: input, lda: inFeatures, b: weight, ldb: inFeatures, beta: 0, c: out, ldc: outFeatures)
        Elementwise.addBias(bias, rows: batch, columns: outFeatures, to: out)
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard let input = lastInput else { preconditionFailure("Dense.backward before forward") }
        Elementwise.accumulateColumnSums(outputGradient, rows: batch, columns: outFeatures, into: biasGradient)
        BLAS.gemm(transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: batch,
                  a: outputGradient, lda: outFeatures, b: input, ldb: inFeatures,
                  beta: 1, c: weightGradient, ldc: inFeatures)
        guard needsInputGradient else { return nil }
        let dX = inputGradient.reserve(batch * inFeatures)
        BLAS.gemm(transposeA: false, transposeB: false, m: batch, n: inFeatures, k: outFeatures,
                  a: outputGradient, lda: outFeatures, b: weight, ldb: inFeatures, beta: 0, c: dX, ldc: inFeatures)
        return UnsafePointer(dX)
    }
}

/// `max(0, x)`.
final class ReLU: Layer {
    let inputShape: FeatureShape
    var outputShape: FeatureShape { inputShape }
    private let output = FloatBuffer()
    private let inputGradient = FloatBuffer()

    init(shape: FeatureShape) { inputShape = shape }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        let n = batch * inputShape.count
        let out = output.reserve(n)
        Elementwise.relu(input, count: n, into: out)
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        let n = batch * inputShape.count
        let dX = inputGradient.reserve(n)
        Elementwise.reluBackward(outputGradient, output: output.pointer, count: n, into: dX)
        return UnsafePointer(dX)
    }
}

/// 2x2, stride-2 max-pooling (PyTorch's `MaxPool2d(2)`: odd trailing rows/columns are dropped),
/// optionally preceded by a fused ReLU (`relu(x)` then pool equals pool then `relu`).
final class MaxPool2x2: Layer {
    let inputShape: FeatureShape
    let fusedReLU: Bool
    let outputShape: FeatureShape
    private let output = FloatBuffer()
    private let argmax = ByteBuffer()
    private let inputGradient = FloatBuffer()

    init(input: FeatureShape, fusedReLU: Bool = false) {
        inputShape = input
        self.fusedReLU = fusedReLU
        outputShape = FeatureShape(height: input.height / 2, width: input.width / 2, channels: input.channels)
    }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        let out = output.reserve(batch * outputShape.count)
        let arg = argmax.reserve(batch * outputShape.count)
        Pooling.maxPool2x2Forward(input, images: batch, height: inputShape.height, width: inputShape.width,
                                  channels: inputShape.channels, bias: nil, relu: fusedReLU, output: out, argmax: arg)
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        let dX = inputGradient.reserve(batch * inputShape.count)
        Pooling.maxPool2x2Backward(outputGradient, argmax: argmax.pointer, images: batch, height: inputShape.height,
                                   width: inputShape.width, channels: inputShape.channels, into: dX)
        return UnsafePointer(dX)
    }
}

/// Inverted dropout: in training each value is zeroed with probability `rate` and the rest scaled by
/// 1/(1-rate); inference is the identity. The mask comes from the layer's own seeded generator, so a
/// run replays exactly for a seed.
final class Dropout: Layer {
    let inputShape: FeatureShape
    var outputShape: FeatureShape { inputShape }
    let rate: Float
    var generator: SeededGenerator
    private let output = FloatBuffer()
    private let mask = FloatBuffer()
    private let inputGradient = FloatBuffer()

    init(shape: FeatureShape, rate: Float, seed: UInt64) {
        precondition(rate >= 0 && rate < 1, "Dropout rate must be in [0, 1)")
        inputShape = shape
        self.rate = rate
        generator = SeededGenerator(seed: seed)
    }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        guard mode == .training, rate > 0 else { return input }
        let n = batch * inputShape.count
        let out = output.reserve(n), m = mask.reserve(n)
        let scale = 1 / (1 - rate)
        for i in 0..<n {
            m[i] = generator.nextUnitFloat() < rate ? 0 : scale
            out[i] = input[i] * m[i]
        }
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        guard needsInputGradient else { return nil }
        guard rate > 0 else { return outputGradient }
        let n = batch * inputShape.count
        let dX = inputGradient.reserve(n), m = mask.pointer
        for i in 0..<n { dX[i] = outputGradient[i] * m[i] }
        return UnsafePointer(dX)
    }
}

/// Group normalisation (Wu and He, 2018) over channels-last maps, with a per-channel affine, as
/// PyTorch's `GroupNorm(groups, channels, eps: 1e-5)`. Statistics are per image and group, so it
/// behaves the same in training and inference and does not depend on the batch (unlike BatchNorm,
/// which matters for federated nodes with tiny, skewed local batches).
final class GroupNorm: Layer {
    let name: String
    let inputShape: FeatureShape
    var outputShape: FeatureShape { inputShape }
    let groups: Int
    let epsilon: Float = 1e-5
    private var gamma = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var beta = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var gammaGradient = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private var betaGradient = UnsafeMutablePointer<Float>(bitPattern: 64)!
    private let output = FloatBuffer()
    private let normalized = FloatBuffer()
    private let inverseStd = FloatBuffer()
    private let inputGradient = FloatBuffer()

    init(name: String, shape: FeatureShape, groups: Int) {
        precondition(shape.channels % groups == 0, "GroupNorm: channels must divide into groups")
        self.name = name
        inputShape = shape
        self.groups = groups
    }

    var parameterTensors: [ParameterTensorInfo] {
        [ParameterTensorInfo(name: "\(name).weight", shape: [inputShape.channels]),
         ParameterTensorInfo(name: "\(name).bias", shape: [inputShape.channels])]
    }

    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        let c = inputShape.channels
        gamma = parameters; beta = parameters + c
        gammaGradient = gradients; betaGradient = gradients + c
    }

    func initializeParameters(using generator: inout SeededGenerator) {
        for c in 0..<inputShape.channels { gamma[c] = 1; beta[c] = 0 }
    }

    func exportCanonical(into destination: UnsafeMutablePointer<Float>) {
        let c = inputShape.channels
        destination.update(from: gamma, count: c)
        (destination + c).update(from: beta, count: c)
    }

    func importCanonical(from source: UnsafePointer<Float>) {
        let c = inputShape.channels
        gamma.update(from: source, count: c)
        beta.update(from: source + c, count: c)
    }

    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float> {
        let c = inputShape.channels, pixels = inputShape.height * inputShape.width
        let perGroup = c / groups
        let n = batch * inputShape.count
        let out = output.reserve(n), xhat = normalized.reserve(n), rstd = inverseStd.reserve(batch * groups)
        let m = Double(pixels * perGroup)
        for b in 0..<batch {
            let x = input + b * inputShape.count
            for g in 0..<groups {
                let c0 = g * perGroup
                var sum = 0.0
                for p in 0..<pixels { for k in 0..<perGroup { sum += Double(x[p * c + c0 + k]) } }
                let mean = sum / m
                var squares = 0.0
                for p in 0..<pixels {
                    for k in 0..<perGroup { let d = Double(x[p * c + c0 + k]) - mean; squares += d * d }
                }
                let inv = Float(1 / (squares / m + Double(epsilon)).squareRoot())
                rstd[b * groups + g] = inv
                let meanF = Float(mean)
                let xh = xhat + b * inputShape.count, y = out + b * inputShape.count
                for p in 0..<pixels {
                    for k in 0..<perGroup {
                        let i = p * c + c0 + k
                        let v = (x[i] - meanF) * inv
                        xh[i] = v
                        y[i] = v * gamma[c0 + k] + beta[c0 + k]
                    }
                }
            }
        }
        return UnsafePointer(out)
    }

    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>? {
        let c = inputShape.channels, pixels = inputShape.height * inputShape.width
        let perGroup = c / groups
        let xhat = normalized.pointer, rstd = inverseStd.pointer
        let dX = needsInputGradient ? inputGradient.reserve(batch * inputShape.count) : nil
        let m = Float(pixels * perGroup)
        for b in 0..<batch {
            let dy = outputGradient + b * inputShape.count, xh = xhat + b * inputShape.count
            for p in 0..<pixels {
                for ch in 0..<c {
                    gammaGradient[ch] += dy[p * c + ch] * xh[p * c + ch]
                    betaGradient[ch] += dy[p * c + ch]
                }
            }
            guard let dX else { continue }
            let dx = dX + b * inputShape.count
            for g in 0..<groups {
                let c0 = g * perGroup
                var sumD = 0.0, sumDX = 0.0
                for p in 0..<pixels {
                    for k in 0..<perGroup {
                        let i = p * c + c0 + k
                        let d = Double(dy[i] * gamma[c0 + k])
                        sumD += d
                        sumDX += d * Double(xh[i])
                    }
                }
                let inv = rstd[b * groups + g]
                let meanD = Float(sumD) / m, meanDX = Float(sumDX) / m
                for p in 0..<pixels {
                    for k in 0..<perGroup {
                        let i = p * c + c0 + k
                        dx[i] = inv * (dy[i] * gamma[c0 + k] - meanD - xh[i] * meanDX)
                    }
                }
            }
        }
        return dX.map { UnsafePointer($0) }
    }
}

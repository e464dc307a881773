import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

/// Numerical gradient checks: every layer's backward pass against central differences of
/// `L = sum(forward(x) * r)` for a fixed random `r`. Coordinates where the two one-sided differences
/// disagree sit on a ReLU or max-pool kink, where no derivative exists; those are skipped, and the test
/// demands that almost all coordinates were checked.
struct GradientChecker {
    let layer: any Layer
    let batch: Int
    var beforeForward: () -> Void = {}
    let epsilon: Float = 1e-3

    func run(seed: UInt64, inputScale: Float = 1, sampleLimit: Int = 80) {
        var generator = SeededGenerator(seed: seed)
        let inputCount = batch * layer.inputShape.count
        let outputCount = batch * layer.outputShape.count
        let parameterCount = layer.parameterCount
        let parameters = UnsafeMutablePointer<Float>.allocate(capacity: max(1, parameterCount))
        let gradients = UnsafeMutablePointer<Float>.allocate(capacity: max(1, parameterCount))
        defer { parameters.deallocate(); gradients.deallocate() }
        layer.bind(parameters: parameters, gradients: gradients)
        layer.initializeParameters(using: &generator)
        // Perturb biases/affines away from their neutral initial values too.
        for i in 0..<parameterCount { parameters[i] += 0.1 * (generator.nextUnitFloat() * 2 - 1) }
        gradients.update(repeating: 0, count: max(1, parameterCount))
        var x = (0..<inputCount).map { _ in inputScale * (generator.nextUnitFloat() * 2 - 1) }
        let r = (0..<outputCount).map { _ in generator.nextUnitFloat() * 2 - 1 }

        func objective() -> Double {
            beforeForward()
            let out = x.withUnsafeBufferPointer { layer.forward($0.baseAddress!, batch: batch, mode: .training) }
            var sum = 0.0
            for i in 0..<outputCount { sum += Double(out[i]) * Double(r[i]) }
            return sum
        }

        beforeForward()
        var inputGradient: [Float] = []
        x.withUnsafeBufferPointer { xp in
            _ = layer.forward(xp.baseAddress!, batch: batch, mode: .training)
            let dX = r.withUnsafeBufferPointer { layer.backward($0.baseAddress!, batch: batch, needsInputGradient: true) }
            inputGradient = Array(UnsafeBufferPointer(start: dX!, count: inputCount))
        }
        let parameterGradient = Array(UnsafeBufferPointer(start: gradients, count: parameterCount))

        var checked = 0, skipped = 0, failures: [String] = []
        func check(_ label: String, analytic: Float, perturb: (Float) -> Void) {
            let f0 = objective()
            perturb(epsilon); let fPlus = objective()
            perturb(-2 * epsilon); let fMinus = objective()
            perturb(epsilon)
            let forward = (fPlus - f0) / Double(epsilon), backward = (f0 - fMinus) / Double(epsilon)
            let numeric = (fPlus - fMinus) / Double(2 * epsilon)
            if abs(forward - backward) > 0.02 * max(1, abs(numeric)) { skipped += 1; return }
            checked += 1
            let error = abs(numeric - Double(analytic))
            if error > 3e-3 + 1e-2 * max(abs(numeric), abs(Double(analytic))) {
                failures.append("\(label): numeric \(numeric) analytic \(analytic)")
            }
        }
        let inputIndices = Array(0..<inputCount).shuffled(using: &generator).prefix(sampleLimit)
        for i in inputIndices {
            check("input[\(i)]", analytic: inputGradient[i]) { x[i] += $0 }
        }
        let parameterIndices = Array(0..<parameterCount).shuffled(using: &generator).prefix(sampleLimit)
        for i in parameterIndices {
            check("parameter[\(i)]", analytic: parameterGradient[i]) { parameters[i] += $0 }
        }
        #expect(failures.isEmpty, "gradient mismatches: \(failures.prefix(5))")
        #expect(checked >= (inputIndices.count + parameterIndices.count) * 8 / 10, "too many kinks skipped: \(skipped)")
    }
}

@Suite struct GradientCheckTests {
    @Test func conv2DWithPadding() {
        let conv = Conv2D(name: "c", geometry: ConvGeometry(height: 5, width: 6, inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1))
        GradientChecker(layer: conv, batch: 2).run(seed: 1)
    }

    @Test func conv2DWithStrideAndNoPadding() {
        let conv = Conv2D(name: "c", geometry: ConvGeometry(height: 7, width: 7, inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 0))
        GradientChecker(layer: conv, batch: 3).run(seed: 2)
    }

    @Test func conv2DLargeBatchCrossesChunks() {
        // 7 images in chunks of 3: chunk boundaries (and a partial last chunk) are exercised.
        let geometry = ConvGeometry(height: 8, width: 8, inChannels: 4, outChannels: 5, kernel: 3, stride: 1, padding: 1)
        let conv = Conv2D(name: "c", geometry: geometry)
        conv.chunk = 3
        GradientChecker(layer: conv, batch: 7).run(seed: 3, sampleLimit: 60)
    }

    @Test func fusedConvReLUPool() {
        let block = ConvReLUPool(name: "c", geometry: ConvGeometry(height: 6, width: 8, inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1))
        GradientChecker(layer: block, batch: 2).run(seed: 4)
    }

    @Test func fusedConvReLUPoolAcrossChunks() {
        let geometry = ConvGeometry(height: 8, width: 8, inChannels: 8, outChannels: 4, kernel: 3, stride: 1, padding: 1)
        let block = ConvReLUPool(name: "c", geometry: geometry)
        block.chunk = 3
        GradientChecker(layer: block, batch: 7).run(seed: 5, sampleLimit: 60)
    }

    @Test func denseOnAFeatureMap() {
        let dense = Dense(name: "fc", input: FeatureShape(height: 2, width: 3, channels: 4), outFeatures: 5)
        GradientChecker(layer: dense, batch: 3).run(seed: 6)
    }

    @Test func relu() {
        GradientChecker(layer: ReLU(shape: FeatureShape(height: 1, width: 1, channels: 30)), batch: 2).run(seed: 7)
    }

    @Test func maxPool() {
        GradientChecker(layer: MaxPool2x2(input: FeatureShape(height: 4, width: 6, channels: 3)), batch: 2).run(seed: 8)
        GradientChecker(layer: MaxPool2x2(input: FeatureShape(height: 5, width: 5, channels: 2)), batch: 2).run(seed: 9)
        GradientChecker(layer: MaxPool2x2(input: FeatureShape(height: 4, width: 4, channels: 3), fusedReLU: true), batch: 2).run(seed: 10)
    }

    @Test func groupNorm() {
        let norm = GroupNorm(name: "gn", shape: FeatureShape(height: 3, width: 4, channels: 6), groups: 3)
        GradientChecker(layer: norm, batch: 2).run(seed: 11, inputScale: 2)
    }

    @Test func dropoutWithAFixedMask() {
        let dropout = Dropout(shape: FeatureShape(height: 1, width: 1, channels: 40), rate: 0.3, seed: 12)
        let start = dropout.generator
        GradientChecker(layer: dropout, batch: 2, beforeForward: { dropout.generator = start }).run(seed: 12)
    }

    @Test func dropoutIsIdentityInInference() {
        let dropout = Dropout(shape: FeatureShape(height: 1, width: 1, channels: 4), rate: 0.5, seed: 1)
        let x: [Float] = [1, 2, 3, 4]
        let out = x.withUnsafeBufferPointer { dropout.forward($0.baseAddress!, batch: 1, mode: .inference) }
        #expect(Array(UnsafeBufferPointer(start: out, count: 4)) == x)
    }

    /// Plain, and with FedRS's restricted softmax (class 1 absent: its logits scaled by 0.3) on top of
    /// logit offsets: the analytic gradient with respect to the raw logits matches finite differences.
    @Test(arguments: [nil, [1, 0.3, 1] as [Float]])
    func weightedSoftmaxCrossEntropy(scales: [Float]?) {
        var generator = SeededGenerator(seed: 13)
        let batch = 4, classes = 3
        var logits = (0..<(batch * classes)).map { _ in generator.nextUnitFloat() * 4 - 2 }
        let labels: [Int32] = [0, 2, 1, 2]
        let weights: [Float] = [2, 0.5, 1]
        let offsets: [Float]? = scales == nil ? nil : [0.2, -1, 0.1]
        var gradient = [Float](repeating: 0, count: batch * classes)
        func loss() -> Float {
            logits.withUnsafeBufferPointer { l in labels.withUnsafeBufferPointer { y in
                SoftmaxCrossEntropy.lossAndGradient(logits: l.baseAddress!, labels: y.baseAddress!, batch: batch, classes: classes,
                                                    classWeights: weights, logitOffsets: offsets, logitScales: scales, gradient: nil)
            } }
        }
        _ = logits.withUnsafeBufferPointer { l in labels.withUnsafeBufferPointer { y in
            gradient.withUnsafeMutableBufferPointer { g in
                SoftmaxCrossEntropy.lossAndGradient(logits: l.baseAddress!, labels: y.baseAddress!, batch: batch, classes: classes,
                                                    classWeights: weights, logitOffsets: offsets, logitScales: scales, gradient: g.baseAddress!)
            }
        } }
        for i in 0..<logits.count {
            let e: Float = 1e-2
            logits[i] += e; let plus = loss()
            logits[i] -= 2 * e; let minus = loss()
            logits[i] += e
            #expect(abs((plus - minus) / (2 * e) - gradient[i]) < 1e-3)
        }
    }
}

/// The vector sets this CPU runs (AVX-512, AVX2), each forced in turn.
let vectorKernelSets = KernelSet.supported.filter { $0 != .portable }

/// A 3x3, stride 1, padding 1 convolution (LeukNet-S's blocks) of the given size and channels.
func sameConv3x3(_ height: Int, _ width: Int, _ inChannels: Int, _ outChannels: Int) -> ConvGeometry {
    ConvGeometry(height: height, width: width, inChannels: inChannels, outChannels: outChannels, kernel: 3, stride: 1, padding: 1)
}

/// The direct vector kernels of `ConvReLUPool`, for every vector set this CPU runs: conv1's shape
/// (3 -> 16, direct forward and weight gradient) and LeukNet-S's conv2/conv3 shapes (direct forward and
/// backward): numerically checked, and compared with the portable path (im2col + GEMM and Swift pooling,
/// built and run with the portable set forced) within 1e-5.
@Suite(.enabled(if: !vectorKernelSets.isEmpty, "needs a CPU with AVX2 or AVX-512"))
struct DirectConvTests {
    static let geometries = [sameConv3x3(6, 8, 3, 16), sameConv3x3(4, 8, 16, 32), sameConv3x3(6, 4, 32, 64)]

    @Test(arguments: vectorKernelSets, geometries)
    func gradientCheck(set: KernelSet, geometry: ConvGeometry) {
        VectorKernels.withKernels(set) {
            let block = ConvReLUPool(name: "c", geometry: geometry)
            #expect(block.usesDirectKernel)
            GradientChecker(layer: block, batch: 2).run(seed: 21, sampleLimit: 60)
        }
    }

    /// Output, input gradient and parameter gradients of one block under `set`, from shared parameters.
    static func run(_ set: KernelSet, geometry: ConvGeometry, parameters: UnsafeMutablePointer<Float>, x: [Float], dY: [Float],
                    batch: Int) -> (out: [Float], dX: [Float], gradients: [Float], direct: Bool) {
        VectorKernels.withKernels(set) {
            let layer = ConvReLUPool(name: "c", geometry: geometry)
            layer.chunk = 2
            let count = layer.parameterCount
            let gradients = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { gradients.deallocate() }
            gradients.update(repeating: 0, count: count)
            layer.bind(parameters: parameters, gradients: gradients)
            let outputCount = batch * layer.outputShape.count
            return x.withUnsafeBufferPointer { xp in
                let out = Array(UnsafeBufferPointer(start: layer.forward(xp.baseAddress!, batch: batch, mode: .training), count: outputCount))
                let dX = dY.withUnsafeBufferPointer { layer.backward($0.baseAddress!, batch: batch, needsInputGradient: true)! }
                return (out, Array(UnsafeBufferPointer(start: dX, count: x.count)),
                        Array(UnsafeBufferPointer(start: gradients, count: count)), layer.usesDirectKernel)
            }
        }
    }

    @Test(arguments: vectorKernelSets, geometries)
    func matchesThePortablePath(set: KernelSet, geometry: ConvGeometry) {
        let template = ConvReLUPool(name: "c", geometry: geometry)
        let batch = 3, count = template.parameterCount
        var generator = SeededGenerator(seed: 22)
        let parameters = UnsafeMutablePointer<Float>.allocate(capacity: count)
        let unused = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { parameters.deallocate(); unused.deallocate() }
        template.bind(parameters: parameters, gradients: unused)
        template.initializeParameters(using: &generator)
        for i in 0..<count { parameters[i] += 0.1 * (generator.nextUnitFloat() * 2 - 1) }
        let x = (0..<(batch * template.inputShape.count)).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let dY = (0..<(batch * template.outputShape.count)).map { _ in generator.nextUnitFloat() * 2 - 1 }

        let vector = Self.run(set, geometry: geometry, parameters: parameters, x: x, dY: dY, batch: batch)
        let portable = Self.run(.portable, geometry: geometry, parameters: parameters, x: x, dY: dY, batch: batch)
        #expect(vector.direct && !portable.direct)
        #expect(maxRelativeDifference(vector.out, portable.out) <= 1e-5)
        #expect(vector.out.contains(0) && vector.out.contains { $0 > 0 })
        #expect(maxRelativeDifference(vector.dX, portable.dX) <= 1e-5)
        #expect(maxRelativeDifference(vector.gradients, portable.gradients) <= 1e-5)
        #expect(vector.gradients.contains { $0 != 0 })
    }
}

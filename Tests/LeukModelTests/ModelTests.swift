import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

/// Random NCHW images in [-1, 1) and labels for tests.
func randomBatch(count: Int, size: Int, classes: Int, seed: UInt64) -> TrainingBatch {
    var generator = SeededGenerator(seed: seed)
    let inputs = (0..<(count * 3 * size * size)).map { _ in generator.nextUnitFloat() * 2 - 1 }
    let labels = (0..<count).map { Int32($0 % classes) }
    return TrainingBatch(inputs: inputs, labels: labels, count: count)
}

@Suite struct ConvolutionKnownAnswerTests {
    @Test func threeByThreeOnesKernelSumsTheNeighbourhood() {
        // Image 1..9 (3x3, one channel), kernel of ones, pad 1, bias 0.5: each output is the sum of the
        // in-image 3x3 neighbourhood plus 0.5.
        let conv = Conv2D(name: "c", geometry: ConvGeometry(height: 3, width: 3, inChannels: 1, outChannels: 1, kernel: 3, stride: 1, padding: 1))
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 10), g = UnsafeMutablePointer<Float>.allocate(capacity: 10)
        defer { p.deallocate(); g.deallocate() }
        conv.bind(parameters: p, gradients: g)
        let canonical: [Float] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5]
        canonical.withUnsafeBufferPointer { conv.importCanonical(from: $0.baseAddress!) }
        let image: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let out = image.withUnsafeBufferPointer { conv.forward($0.baseAddress!, batch: 1, mode: .inference) }
        #expect(Array(UnsafeBufferPointer(start: out, count: 9)) == [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5])
    }

    @Test func orientedKernelAndTwoChannelsWithStride() {
        // OIHW weight picks "pixel to the right" from channel 0 and minus "pixel below" from channel 1.
        let geometry = ConvGeometry(height: 4, width: 4, inChannels: 2, outChannels: 1, kernel: 3, stride: 2, padding: 1)
        let conv = Conv2D(name: "c", geometry: geometry)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 19), g = UnsafeMutablePointer<Float>.allocate(capacity: 19)
        defer { p.deallocate(); g.deallocate() }
        conv.bind(parameters: p, gradients: g)
        var canonical = [Float](repeating: 0, count: 19)
        canonical[0 * 9 + 1 * 3 + 2] = 1     // channel 0, ky 1, kx 2: right neighbour
        canonical[1 * 9 + 2 * 3 + 1] = -1    // channel 1, ky 2, kx 1: lower neighbour
        canonical.withUnsafeBufferPointer { conv.importCanonical(from: $0.baseAddress!) }
        // NHWC input: channel 0 = 10*y + x, channel 1 = 100 + 10*y + x.
        var image = [Float](repeating: 0, count: 32)
        for y in 0..<4 { for x in 0..<4 { image[(y * 4 + x) * 2] = Float(10 * y + x); image[(y * 4 + x) * 2 + 1] = Float(100 + 10 * y + x) } }
        let out = image.withUnsafeBufferPointer { conv.forward($0.baseAddress!, batch: 1, mode: .inference) }
        // Outputs at input (0,0), (0,2), (2,0), (2,2): right - below.
        let expected: [Float] = [-109, -109, -109, -109]  // right - below = (10y + x + 1) - (100 + 10(y + 1) + x)
        #expect(Array(UnsafeBufferPointer(start: out, count: 4)) == expected)
    }

    @Test func leukNetSHasTheReferenceShape() throws {
        let model = try Model(architecture: .leuknetS, classes: ["hem", "all"])
        #expect(model.parameterCount == 285_922)
        let expected: [(String, [Int])] = [
            ("conv1.weight", [16, 3, 3, 3]), ("conv1.bias", [16]), ("conv2.weight", [32, 16, 3, 3]), ("conv2.bias", [32]),
            ("conv3.weight", [64, 32, 3, 3]), ("conv3.bias", [64]), ("fc1.weight", [64, 4096]), ("fc1.bias", [64]),
            ("fc2.weight", [2, 64]), ("fc2.bias", [2]),
        ]
        #expect(model.parameterDescriptions.map(\.name) == expected.map(\.0))
        #expect(model.parameterDescriptions.map(\.shape) == expected.map(\.1))
    }

    @Test func leukNetMParameterCount() throws {
        let model = try Model(architecture: .leuknetM, classes: ["hem", "all"])
        #expect(model.parameterCount == 504_066)
        #expect(model.parameterDescriptions.first?.name == "conv1.weight")
        #expect(model.parameterDescriptions[2].name == "gn1.weight")
    }

    @Test(arguments: [Architecture.leuknetS, .leuknetM])
    func engineMatchesAnIndependentNCHWReference(architecture: Architecture) throws {
        try checkAgainstReference(architecture: architecture, size: 16)
    }

    /// Sizes where some of LeukNet-S's blocks fall back from the direct vector kernels to im2col + GEMM
    /// (conv3 at 8 and 24 pixels, conv2's backward at 24 and 40), so mixed paths are checked end to end.
    @Test(arguments: [8, 24, 40])
    func leukNetSMatchesTheReferenceWhereKernelPathsMix(size: Int) throws {
        try checkAgainstReference(architecture: .leuknetS, size: size)
    }

    func checkAgainstReference(architecture: Architecture, size: Int) throws {
        let model = try Model(architecture: architecture, classes: ["hem", "all", "other"], inputSize: size, seed: 5)
        // Train a few steps so biases and norms are not at their initial values.
        let batch = randomBatch(count: 4, size: size, classes: 3, seed: 9)
        model.learningRate = 0.05
        for _ in 0..<3 { model.trainStep(batch) }
        let reference = ReferenceNetwork(model: model)
        let logits = model.logits(batch.inputs)
        for n in 0..<batch.count {
            let image = batch.inputs[(n * 3 * size * size)..<((n + 1) * 3 * size * size)].map(Double.init)
            let expected = reference.logits(image, size: size)
            for k in 0..<3 {
                #expect(abs(Double(logits[n * 3 + k]) - expected[k]) < 1e-4 * max(1, abs(expected[k])),
                        "image \(n) class \(k): engine \(logits[n * 3 + k]) reference \(expected[k])")
            }
        }
    }
}

@Suite struct NetworkTrainingTests {
    /// At 16 pixels every LeukNet-S block runs its direct vector kernels (where the CPU has AVX-512 or
    /// AVX2); at 24, conv2's backward and all of conv3 take the im2col + GEMM path.
    @Test(arguments: [16, 24])
    func wholeNetworkGradientMatchesFiniteDifferences(size: Int) throws {
        let model = try Model(architecture: .leuknetS, classes: ["a", "b"], inputSize: size, seed: 3)
        model.classWeights = [1.5, 0.5]
        let batch = randomBatch(count: 3, size: size, classes: 2, seed: 4)
        let (_, gradients) = model.lossAndGradients(inputs: batch.inputs, labels: batch.labels, count: batch.count)
        var parameters = model.parameters
        var generator = SeededGenerator(seed: 8)
        var checked = 0, failures: [String] = []
        // Sample coordinates from every tensor.
        var offset = 0
        for description in model.parameterDescriptions {
            for _ in 0..<6 {
                let i = offset + Int(generator.next() % UInt64(description.count))
                let e: Float = 1e-3
                func loss() -> Double {
                    model.parameters = parameters
                    return Double(model.evaluate(batch).loss)
                }
                let f0 = loss()
                parameters[i] += e; let plus = loss()
                parameters[i] -= 2 * e; let minus = loss()
                parameters[i] += e
                let one = (plus - f0) / Double(e), other = (f0 - minus) / Double(e)
                if abs(one - other) > 0.02 * max(0.1, abs(one)) { continue }  // a ReLU/max kink
                checked += 1
                let numeric = (plus - minus) / Double(2 * e)
                if abs(numeric - Double(gradients[i])) > 5e-4 + 2e-2 * abs(numeric) {
                    failures.append("\(description.name)[\(i - offset)]: numeric \(numeric) analytic \(gradients[i])")
                }
            }
            offset += description.count
        }
        model.parameters = parameters
        #expect(failures.isEmpty, "\(failures)")
        #expect(checked >= 48)
    }

    @Test(arguments: [Architecture.leuknetS, .leuknetM])
    func lossFallsOnATinyMemorisableDataset(architecture: Architecture) throws {
        let model = try Model(architecture: architecture, classes: ["hem", "all"], inputSize: 16, seed: 1,
                              optimizer: .sgd(momentum: 0.9, weightDecay: 0), learningRate: 0.02)
        let batch = randomBatch(count: 8, size: 16, classes: 2, seed: 2)
        let first = model.evaluate(batch).loss
        for _ in 0..<60 { model.trainStep(batch) }
        let after = model.evaluate(batch)
        #expect(after.loss < first * 0.2, "loss \(first) -> \(after.loss)")
        #expect(after.correct == 8)
    }

    @Test func adamAlsoMemorises() throws {
        let model = try Model(classes: ["hem", "all"], inputSize: 16, seed: 1, optimizer: .adam(), learningRate: 1e-3)
        let batch = randomBatch(count: 8, size: 16, classes: 2, seed: 2)
        let first = model.evaluate(batch).loss
        for _ in 0..<60 { model.trainStep(batch) }
        #expect(model.evaluate(batch).loss < first * 0.2)
    }

    /// With more than one thread, training is data-parallel (`Model.workers`): 3 threads over batches of 5
    /// give uneven shards (1, 2, 2 images).
    @Test(arguments: [Architecture.leuknetS, .leuknetM], [1, 2, 3])
    func trainingIsDeterministicForASeedAndThreadCount(architecture: Architecture, threads: Int) throws {
        func run() throws -> ([Float], Float) {
            let model = try Model(architecture: architecture, classes: ["hem", "all"], inputSize: 16, seed: 42, threads: threads)
            let batches = (0..<3).map { randomBatch(count: 5, size: 16, classes: 2, seed: UInt64($0)) }
            let loss = model.trainSteps(batches)
            return (model.parameters, loss)
        }
        let (a, lossA) = try run(), (b, lossB) = try run()
        #expect(a == b)
        #expect(lossA == lossB)
    }

    @Test func shardsAreContiguousAndNearlyEqual() {
        #expect(Model.shards(count: 5, parts: 3) == [0..<1, 1..<3, 3..<5])
        #expect(Model.shards(count: 32, parts: 2) == [0..<16, 16..<32])
        #expect(Model.shards(count: 2, parts: 4) == [0..<1, 1..<2])
        #expect(Model.shards(count: 7, parts: 1) == [0..<7])
    }

    /// Data-parallel training computes the same loss and gradients as one thread, up to float32 rounding
    /// (the shards' sums are grouped differently), with class weights, for uneven shards too; and so do
    /// three SGD steps.
    @Test(arguments: [2, 3, 4])
    func dataParallelTrainingMatchesOneThread(threads: Int) throws {
        func run(_ threads: Int) throws -> (loss: Float, gradients: [Float], trained: [Float]) {
            let model = try Model(architecture: .leuknetS, classes: ["hem", "all", "other"], inputSize: 16, seed: 7, threads: threads)
            model.classWeights = [2, 0.5, 1]
            let batch = randomBatch(count: 5, size: 16, classes: 3, seed: 11)
            let (loss, gradients) = model.lossAndGradients(inputs: batch.inputs, labels: batch.labels, count: batch.count)
            for _ in 0..<3 { model.trainStep(batch) }
            return (loss, gradients, model.parameters)
        }
        let one = try run(1), many = try run(threads)
        #expect(abs(one.loss - many.loss) <= 1e-6)
        #expect(maxRelativeDifference(one.gradients, many.gradients) <= 1e-5)
        #expect(maxRelativeDifference(one.trained, many.trained) <= 1e-5)
        #expect(many.gradients.contains { $0 != 0 })
    }

    @Test func differentSeedsGiveDifferentModels() throws {
        let a = try Model(classes: ["hem", "all"], inputSize: 16, seed: 1)
        let b = try Model(classes: ["hem", "all"], inputSize: 16, seed: 2)
        #expect(a.parameters != b.parameters)
    }

    @Test func flatParametersRoundTripAndAverage() throws {
        let a = try Model(classes: ["hem", "all"], inputSize: 16, seed: 1)
        let b = try Model(classes: ["hem", "all"], inputSize: 16, seed: 2)
        let average = zip(a.parameters, b.parameters).map { ($0 + $1) / 2 }
        a.setFlatParameters(average)
        #expect(a.flatParameters() == average)
        #expect(a.parameters.count == a.parameterCount)
    }

    @Test func probabilitiesAreNormalisedPerImage() throws {
        let model = try Model(classes: ["hem", "all"], inputSize: 16, seed: 1)
        let batch = randomBatch(count: 3, size: 16, classes: 2, seed: 1)
        let probabilities = model.predictProbabilities(batch.inputs)
        #expect(probabilities.count == 6)
        for n in 0..<3 { #expect(abs(probabilities[2 * n] + probabilities[2 * n + 1] - 1) < 1e-6) }
        // One image alone gives the same answer as inside a batch.
        let single = model.predictProbabilities(Array(batch.inputs[(3 * 256)..<(6 * 256)]))
        #expect(abs(single[0] - probabilities[2]) < 1e-6)
    }

    @Test func badConfigurationsAreRejected() {
        #expect(throws: ModelError.self) { try Model(classes: ["only"]) }
        #expect(throws: ModelError.self) { try Model(classes: ["a", "a"]) }
        #expect(throws: ModelError.self) { try Model(classes: ["a", "b"], inputSize: 20) }
        #expect(throws: ModelError.self) { try Model(classes: ["a", "b"], std: [1, 0, 1]) }
        #expect(throws: ModelError.unknownArchitecture("resnet-999")) { try Architecture(named: "resnet-999") }
    }
}

@Suite struct OptimizerTests {
    @Test func sgdMomentumWeightDecayKnownAnswer() {
        let state = OptimizerState(kind: .sgd(momentum: 0.9, weightDecay: 0.1), count: 1)
        var p: [Float] = [1]
        let g: [Float] = [0.5]
        p.withUnsafeMutableBufferPointer { state.apply(parameters: $0.baseAddress!, gradients: g, count: 1, learningRate: 0.1) }
        #expect(abs(p[0] - 0.94) < 1e-6)
        p.withUnsafeMutableBufferPointer { state.apply(parameters: $0.baseAddress!, gradients: g, count: 1, learningRate: 0.1) }
        #expect(abs(p[0] - 0.8266) < 1e-6)
    }

    @Test func adamFirstStepMovesByTheLearningRate() {
        let state = OptimizerState(kind: .adam(), count: 2)
        var p: [Float] = [1, 1]
        let g: [Float] = [0.5, -3]
        p.withUnsafeMutableBufferPointer { state.apply(parameters: $0.baseAddress!, gradients: g, count: 2, learningRate: 0.01) }
        #expect(abs(p[0] - 0.99) < 1e-6)
        #expect(abs(p[1] - 1.01) < 1e-6)
    }

    @Test func schedules() {
        #expect(LearningRateSchedule.constant.rate(base: 0.1, epoch: 7) == 0.1)
        #expect(abs(LearningRateSchedule.step(every: 3, gamma: 0.1).rate(base: 0.1, epoch: 2) - 0.1) < 1e-9)
        #expect(abs(LearningRateSchedule.step(every: 3, gamma: 0.1).rate(base: 0.1, epoch: 3) - 0.01) < 1e-9)
        let cosine = LearningRateSchedule.cosine(epochs: 10, minimum: 0)
        #expect(cosine.rate(base: 0.1, epoch: 0) == 0.1)
        #expect(abs(cosine.rate(base: 0.1, epoch: 5) - 0.05) < 1e-6)
        #expect(abs(cosine.rate(base: 0.1, epoch: 10)) < 1e-6)
    }
}

internal import LeukTensor
import LeukCore

/// One training batch: `count` images as NCHW floats (already normalised) and their class indices.
public struct TrainingBatch: Sendable {
    public var inputs: [Float]
    public var labels: [Int32]
    public var count: Int

    public init(inputs: [Float], labels: [Int32], count: Int) {
        self.inputs = inputs; self.labels = labels; self.count = count
    }
}

/// Loss, accuracy and probabilities of a model on one batch, without training.
public struct BatchEvaluation: Sendable {
    public var loss: Float
    public var correct: Int
    public var count: Int
    /// count x classes, row-major.
    public var probabilities: [Float]
}

/// A named parameter tensor as PyTorch's `state_dict` shows it.
public struct ParameterDescription: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// A CNN classifier: architecture, class names, preprocessing constants, weights and optimiser state.
///
/// Inputs are NCHW float32 images already normalised with `mean`/`std`. The engine runs channels-last
/// internally; the public parameter view (`parameters`) is PyTorch's: tensors in `parameterDescriptions`
/// order (`conv1.weight, conv1.bias, ..., fc2.bias`), convolution weights OIHW, dense weights [out, in],
/// `fc1` reading (C, H, W)-flattened features. Two models of one architecture can therefore be averaged
/// element-wise through this view (gossip averaging).
///
/// Not thread-safe: one model is used by one task at a time. OpenBLAS's thread count is process-wide;
/// every call sets it to this model's `threads` first.
public final class Model {
    public let architecture: Architecture
    public let classes: [String]
    public let inputSize: Int
    public var mean: [Float]
    public var std: [Float]
    public let threads: Int
    public let seed: UInt64

    /// The optimiser and loss settings used by `trainStep`/`trainSteps`.
    public private(set) var optimizerKind: OptimizerKind
    public var learningRate: Float
    /// Per-class loss weights (nil = all 1), in `classes` order.
    public var classWeights: [Float]?
    /// Per-class offsets added to the logits inside the training loss only (the logit-adjusted loss,
    /// see `SoftmaxCrossEntropy`); nil = plain cross-entropy. Predictions never see them.
    public var trainingLogitOffsets: [Float]?
    /// Per-class factors the logits are multiplied by inside the training loss only (FedRS's restricted
    /// softmax, see `SoftmaxCrossEntropy`); nil = none. Predictions never see them.
    public var trainingLogitScales: [Float]?

    let layers: [any Layer]
    private let parameterStore: FloatBuffer
    private let gradientStore: FloatBuffer
    public let parameterCount: Int
    private let offsets: [Int]
    private var optimizer: OptimizerState
    private let inputBuffer = FloatBuffer()
    private let logitGradient = FloatBuffer()
    private let probabilityBuffer = FloatBuffer()
    private let labelBuffer: UnsafeMutablePointer<Int32>
    private var labelCapacity = 0

    public init(
        architecture: Architecture = .leuknetS, classes: [String], inputSize: Int = 64,
        mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1],
        seed: UInt64 = 0, threads: Int = 1,
        optimizer: OptimizerKind = .sgd(), learningRate: Float = 0.01
    ) throws(ModelError) {
        guard classes.count >= 2 else { throw .invalidConfiguration("need at least two classes, got \(classes)") }
        guard Set(classes).count == classes.count else { throw .invalidConfiguration("duplicate class names in \(classes)") }
        guard inputSize > 0, inputSize % architecture.inputSizeDivisor == 0 else {
            throw .invalidConfiguration("\(architecture.rawValue) needs an input size divisible by \(architecture.inputSizeDivisor), got \(inputSize)")
        }
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw .invalidConfiguration("mean and std need three finite values each (std > 0)")
        }
        guard threads >= 1 else { throw .invalidConfiguration("threads must be at least 1") }
        self.architecture = architecture
        self.classes = classes
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.threads = threads
        self.seed = seed
        self.optimizerKind = optimizer
        self.learningRate = learningRate
        layers = architecture.makeLayers(inputSize: inputSize, classes: classes.count, seed: seed)
        var offsets: [Int] = []
        var total = 0
        for layer in layers { offsets.append(total); total += layer.parameterCount }
        self.offsets = offsets
        parameterCount = total
        parameterStore = FloatBuffer(capacity: total)
        gradientStore = FloatBuffer(capacity: total)
        self.optimizer = OptimizerState(kind: optimizer, count: total)
        labelBuffer = .allocate(capacity: 1)
        var generator = SeededGenerator(seed: seed)
        for (layer, offset) in zip(layers, offsets) {
            layer.bind(parameters: parameterStore.pointer + offset, gradients: gradientStore.pointer + offset)
            layer.initializeParameters(using: &generator)
        }
    }

    deinit { labelBuffer.deallocate() }

    /// Floats per input image (3 x inputSize x inputSize).
    public var inputCount: Int { 3 * inputSize * inputSize }

    /// The parameter tensors in the order of the flat view and of the model file.
    public var parameterDescriptions: [ParameterDescription] {
        layers.flatMap { $0.parameterTensors.map { ParameterDescription(name: $0.name, shape: $0.shape) } }
    }

    /// All parameters in PyTorch layout, in `parameterDescriptions` order.
    public var parameters: [Float] {
        get {
            var flat = [Float](repeating: 0, count: parameterCount)
            flat.withUnsafeMutableBufferPointer { buffer in
                for (layer, offset) in zip(layers, offsets) { layer.exportCanonical(into: buffer.baseAddress! + offset) }
            }
            return flat
        }
        set {
            precondition(newValue.count == parameterCount, "Model.parameters: expected \(parameterCount) values, got \(newValue.count)")
            newValue.withUnsafeBufferPointer { buffer in
                for (layer, offset) in zip(layers, offsets) { layer.importCanonical(from: buffer.baseAddress! + offset) }
            }
        }
    }

    /// Same as reading `parameters`.
    public func flatParameters() -> [Float] { parameters }
    /// Same as assigning `parameters`.
    public func setFlatParameters(_ values: [Float]) { parameters = values }

    /// Switches optimiser (and clears its state).
    public func configureOptimizer(_ kind: OptimizerKind) {
        optimizerKind = kind
        optimizer = OptimizerState(kind: kind, count: parameterCount)
    }

    /// Clears momentum / Adam moments.
    public func resetOptimizerState() { optimizer.reset() }

    // MARK: - Training

    /// One optimiser step on one batch; returns the batch's loss before the step.
    @discardableResult
    public func trainStep(inputs: [Float], labels: [Int32], count: Int) -> Float {
        BLAS.withThreadCount(threads) {
            let loss = computeGradients(inputs: inputs, labels: labels, count: count)
            optimizer.apply(parameters: parameterStore.pointer, gradients: gradientStore.pointer,
                            count: parameterCount, learningRate: learningRate)
            return loss
        }
    }

    @discardableResult
    public func trainStep(_ batch: TrainingBatch) -> Float {
        trainStep(inputs: batch.inputs, labels: batch.labels, count: batch.count)
    }

    /// One step per batch; returns the mean loss over the batches (weighted by batch size).
    @discardableResult
    public func trainSteps<S: Sequence>(_ batches: S) -> Float where S.Element == TrainingBatch {
        var total = 0.0, images = 0
        for batch in batches where batch.count > 0 {
            total += Double(trainStep(batch)) * Double(batch.count)
            images += batch.count
        }
        return images > 0 ? Float(total / Double(images)) : 0
    }

    /// The loss and the gradient of every parameter in the PyTorch-layout flat view, without updating.
    public func lossAndGradients(inputs: [Float], labels: [Int32], count: Int) -> (loss: Float, gradients: [Float]) {
        let loss = BLAS.withThreadCount(threads) { computeGradients(inputs: inputs, labels: labels, count: count) }
        var flat = [Float](repeating: 0, count: parameterCount)
        // Export the gradient block through the same layout translation as the parameters.
        swapStores()
        flat.withUnsafeMutableBufferPointer { buffer in
            for (layer, offset) in zip(layers, offsets) { layer.exportCanonical(into: buffer.baseAddress! + offset) }
        }
        swapStores()
        return (loss, flat)
    }

    private var storesSwapped = false
    /// Rebinds layers so that `exportCanonical` reads the gradient block (used only by `lossAndGradients`).
    private func swapStores() {
        storesSwapped.toggle()
        let (p, g) = storesSwapped ? (gradientStore.pointer, parameterStore.pointer) : (parameterStore.pointer, gradientStore.pointer)
        for (layer, offset) in zip(layers, offsets) { layer.bind(parameters: p + offset, gradients: g + offset) }
    }

    private func computeGradients(inputs: [Float], labels: [Int32], count: Int) -> Float {
        precondition(count > 0 && inputs.count >= count * inputCount, "trainStep: \(inputs.count) floats for \(count) images of \(inputCount)")
        precondition(labels.count >= count, "trainStep: \(labels.count) labels for \(count) images")
        let logits = forward(inputs, count: count, mode: .training)
        let dLogits = logitGradient.reserve(count * classes.count)
        let loss = labels.withUnsafeBufferPointer { labelPointer in
            for i in 0..<count { precondition(labelPointer[i] >= 0 && Int(labelPointer[i]) < classes.count, "label out of range") }
            return SoftmaxCrossEntropy.lossAndGradient(
                logits: logits, labels: labelPointer.baseAddress!, batch: count, classes: classes.count,
                classWeights: classWeights, logitOffsets: trainingLogitOffsets, logitScales: trainingLogitScales, gradient: dLogits)
        }
        gradientStore.zero(parameterCount)
        var gradient = UnsafePointer(dLogits)
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            guard let next = layers[index].backward(gradient, batch: count, needsInputGradient: index > 0) else { break }
            gradient = next
        }
        return loss
    }

    // MARK: - Inference

    private func forward(_ inputs: [Float], count: Int, mode: PassMode) -> UnsafePointer<Float> {
        let x = inputBuffer.reserve(count * inputCount)
        inputs.withUnsafeBufferPointer { buffer in
            Layout.nchwToNHWC(buffer.baseAddress!, images: count, channels: 3, height: inputSize, width: inputSize, into: x)
        }
        var activation = UnsafePointer(x)
        for layer in layers { activation = layer.forward(activation, batch: count, mode: mode) }
        return activation
    }

    /// Raw class scores, n x classes, for `input.count / inputCount` NCHW images.
    public func logits(_ input: [Float]) -> [Float] {
        let count = input.count / inputCount
        guard count > 0 else { return [] }
        return BLAS.withThreadCount(threads) {
            let out = forward(input, count: count, mode: .inference)
            return Array(UnsafeBufferPointer(start: out, count: count * classes.count))
        }
    }

    /// Softmax probabilities, n x classes row-major, for `input.count / inputCount` NCHW images.
    public func predictProbabilities(_ input: [Float]) -> [Float] {
        let count = input.count / inputCount
        guard count > 0 else { return [] }
        return BLAS.withThreadCount(threads) {
            let out = forward(input, count: count, mode: .inference)
            let probabilities = probabilityBuffer.reserve(count * classes.count)
            SoftmaxCrossEntropy.softmax(out, batch: count, classes: classes.count, into: probabilities)
            return Array(UnsafeBufferPointer(start: probabilities, count: count * classes.count))
        }
    }

    /// Loss (with the class weights), correct predictions and probabilities on one batch, no training.
    public func evaluate(inputs: [Float], labels: [Int32], count: Int) -> BatchEvaluation {
        precondition(count > 0 && inputs.count >= count * inputCount && labels.count >= count, "evaluate: batch size mismatch")
        return BLAS.withThreadCount(threads) { evaluateLocked(inputs: inputs, labels: labels, count: count) }
    }

    private func evaluateLocked(inputs: [Float], labels: [Int32], count: Int) -> BatchEvaluation {
        let logits = forward(inputs, count: count, mode: .inference)
        let loss = labels.withUnsafeBufferPointer { labelPointer in
            SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labelPointer.baseAddress!, batch: count,
                                                classes: classes.count, classWeights: classWeights, gradient: nil)
        }
        let probabilities = probabilityBuffer.reserve(count * classes.count)
        SoftmaxCrossEntropy.softmax(logits, batch: count, classes: classes.count, into: probabilities)
        var correct = 0
        let k = classes.count
        for i in 0..<count {
            var best = 0
            for c in 1..<k where probabilities[i * k + c] > probabilities[i * k + best] { best = c }
            if best == Int(labels[i]) { correct += 1 }
        }
        return BatchEvaluation(loss: loss, correct: correct, count: count,
                               probabilities: Array(UnsafeBufferPointer(start: probabilities, count: count * k)))
    }

    public func evaluate(_ batch: TrainingBatch) -> BatchEvaluation {
        evaluate(inputs: batch.inputs, labels: batch.labels, count: batch.count)
    }

    // MARK: - Optimiser state (checkpoints)

    var optimizerSnapshot: (first: [Float], second: [Float], step: Int) {
        (optimizer.firstMoment, optimizer.secondMoment, optimizer.step)
    }

    func restoreOptimizer(first: [Float], second: [Float], step: Int) -> Bool {
        optimizer.restore(first: first, second: second, step: step)
    }
}

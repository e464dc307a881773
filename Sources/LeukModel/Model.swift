internal import LeukTensor
import LeukCore
public import LeukData
import Dispatch

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
/// inference sets it to this model's `threads` first; training sets it to one, since with `threads` > 1
/// training is data-parallel (see `workers`) with one OpenBLAS thread per worker, and so is
/// `mapConcurrently`, which spreads independent inference jobs (images) across the workers.
public final class Model {
    public let architecture: Architecture
    public let classes: [String]
    public let inputSize: Int
    public var mean: [Float]
    public var std: [Float]
    /// Macenko stain normalisation fitted on the training set (`train --stain-normalize`); nil for none.
    /// Stored in the model file, so every user of the model applies it (`preprocessing`).
    public var stainNormalizer: StainNormalizer?
    /// How the model was trained, as `train` printed it (`recipe` in the file's metadata); nil when unknown.
    public var recipe: String?

    /// The one input path for this model: its size, its stain normalisation and its channel normalisation.
    public var preprocessing: InputPreprocessing {
        InputPreprocessing(size: inputSize, normalization: Normalization(mean: mean, std: std), stain: stainNormalizer)
    }
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
    /// Data-parallel training with `threads` > 1: the batch is cut into up to `threads` contiguous shards
    /// of near-equal size, shard i runs its forward and backward pass on worker i, on its own thread, and
    /// the workers' gradients are added into `gradientStore` in worker order. Every worker has its own
    /// layers (so its own activation and gradient buffers) bound to the shared parameter block and to its
    /// own gradient block; worker 0 is the model's own `layers` and `gradientStore`. The direct kernels
    /// run on one thread each, so this is how training uses more than one core. The shards, each shard's
    /// arithmetic and the order of the sum are fixed for a thread count, so a run is bit-identical for a
    /// seed and a thread count (not across thread counts: the sums are grouped differently). Workers
    /// beyond the first are made on first use (`ensureWorkers`): a batch smaller than `threads` never
    /// pays for the others' gradient blocks.
    private var workers: [TrainingWorker]
    /// All shards' logits, in batch order, for the loss over the whole batch.
    private let shardLogits = FloatBuffer()

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
        workers = [TrainingWorker(layers: layers, gradients: gradientStore, inputBuffer: inputBuffer)]
    }

    /// Makes workers 1..<count that do not exist yet: layers of their own, bound to the shared parameters
    /// and to a fresh gradient block.
    private func ensureWorkers(_ count: Int) {
        while workers.count < count {
            let index = workers.count
            // Each worker's dropout draws its own mask stream (the seed only feeds dropout here).
            let copy = architecture.makeLayers(inputSize: inputSize, classes: classes.count, seed: seed &+ UInt64(index) &* 0x9E37_79B9)
            let gradients = FloatBuffer(capacity: parameterCount)
            for (layer, offset) in zip(copy, offsets) {
                layer.bind(parameters: parameterStore.pointer + offset, gradients: gradients.pointer + offset)
            }
            workers.append(TrainingWorker(layers: copy, gradients: gradients, inputBuffer: FloatBuffer()))
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

    /// Parameters before this index (in the flat layout, layer by layer) are not updated by `trainStep`.
    public private(set) var frozenParameterCount = 0

    /// Fine-tuning: from now on only the last layer that has parameters (the classifier) learns; the features
    /// the earlier layers compute stay as they were (`train --freeze-features`).
    public func freezeFeatures() {
        guard let last = layers.indices.last(where: { layers[$0].parameterCount > 0 }) else { return }
        frozenParameterCount = offsets[last]
    }

    /// Clears momentum / Adam moments.
    public func resetOptimizerState() { optimizer.reset() }

    // MARK: - Training

    /// One optimiser step on one batch; returns the batch's loss before the step.
    @discardableResult
    public func trainStep(inputs: [Float], labels: [Int32], count: Int) -> Float {
        BLAS.withThreadCount(trainingBLASThreads) {
            let loss = computeGradients(inputs: inputs, labels: labels, count: count)
            optimizer.apply(parameters: parameterStore.pointer, gradients: gradientStore.pointer,
                            count: parameterCount, learningRate: learningRate, from: frozenParameterCount)
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
        let loss = BLAS.withThreadCount(trainingBLASThreads) { computeGradients(inputs: inputs, labels: labels, count: count) }
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

    /// OpenBLAS threads while training: always one, since with `threads` > 1 the workers are the
    /// parallelism (one OpenBLAS thread each).
    private let trainingBLASThreads = 1

    /// `count` images cut into at most `parts` contiguous shards whose sizes differ by at most one.
    static func shards(count: Int, parts: Int) -> [Range<Int>] {
        let n = max(1, min(parts, count))
        return (0..<n).map { i in (i * count / n)..<((i + 1) * count / n) }
    }

    private func computeGradients(inputs: [Float], labels: [Int32], count: Int) -> Float {
        precondition(count > 0 && inputs.count >= count * inputCount, "trainStep: \(inputs.count) floats for \(count) images of \(inputCount)")
        precondition(labels.count >= count, "trainStep: \(labels.count) labels for \(count) images")
        let shards = Self.shards(count: count, parts: threads)
        if shards.count > 1 { return computeGradientsInParallel(inputs: inputs, labels: labels, shards: shards) }
        let logits = forward(inputs, count: count, mode: .training)
        let dLogits = logitGradient.reserve(count * classes.count)
        let loss = lossAndLogitGradient(logits: logits, labels: labels, count: count, into: dLogits)
        workers[0].backward(UnsafePointer(dLogits), count: count, parameterCount: parameterCount)
        return loss
    }

    /// The training loss of the batch and its gradient with respect to the logits.
    private func lossAndLogitGradient(logits: UnsafePointer<Float>, labels: [Int32], count: Int,
                                      into dLogits: UnsafeMutablePointer<Float>) -> Float {
        labels.withUnsafeBufferPointer { labelPointer in
            for i in 0..<count { precondition(labelPointer[i] >= 0 && Int(labelPointer[i]) < classes.count, "label out of range") }
            return SoftmaxCrossEntropy.lossAndGradient(
                logits: logits, labels: labelPointer.baseAddress!, batch: count, classes: classes.count,
                classWeights: classWeights, logitOffsets: trainingLogitOffsets, logitScales: trainingLogitScales, gradient: dLogits)
        }
    }

    /// `computeGradients` on several workers (see `workers`): forward passes in parallel, the loss and the
    /// logit gradient over the whole batch on this thread (so class weights and the mean are the batch's),
    /// backward passes in parallel, then the gradient sum in worker order.
    private func computeGradientsInParallel(inputs: [Float], labels: [Int32], shards: [Range<Int>]) -> Float {
        let count = shards.last!.upperBound, k = classes.count
        ensureWorkers(shards.count)
        let logits = shardLogits.reserve(count * k)
        let dLogits = logitGradient.reserve(count * k)
        let loss = inputs.withUnsafeBufferPointer { x in
            let step = DataParallelStep(
                workers: Array(workers.prefix(shards.count)), shards: shards, input: x.baseAddress!, logits: logits,
                dLogits: dLogits, inputSize: inputSize, classes: k, parameterCount: parameterCount,
                kernels: VectorKernels.active)
            DispatchQueue.concurrentPerform(iterations: shards.count) { step.forward(shard: $0) }
            let loss = lossAndLogitGradient(logits: logits, labels: labels, count: count, into: dLogits)
            DispatchQueue.concurrentPerform(iterations: shards.count) { step.backward(shard: $0) }
            return loss
        }
        let sum = gradientStore.pointer
        for worker in workers[1..<shards.count] {
            let part = worker.gradients.pointer
            for j in 0..<parameterCount { sum[j] += part[j] }
        }
        return loss
    }

    // MARK: - Inference

    private func forward(_ inputs: [Float], count: Int, mode: PassMode) -> UnsafePointer<Float> {
        inputs.withUnsafeBufferPointer { workers[0].forward($0.baseAddress!, count: count, inputSize: inputSize, mode: mode) }
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

    // MARK: - Inference on several threads

    /// Runs `body` for the indices `0..<count` (independent jobs, such as one image each) spread across
    /// this model's `threads` threads, and returns the results in index order. `body` gets an
    /// `InferenceLane`: a handle on one data-parallel worker (`workers`, with its own activation
    /// buffers), so the threads never share a buffer. Thread t takes the indices t, t + threads, ...; with
    /// one thread (or one index) everything runs on the calling thread on worker 0.
    ///
    /// A lane's results do not depend on the thread count: each runs exactly the arithmetic of
    /// `predictProbabilities` / `logits` on the same inputs (one OpenBLAS thread, the caller's kernel set),
    /// so one thread and several give the same bits. The process-wide OpenBLAS lock
    /// (`BLAS.withThreadCount`, set to one thread) is held for the whole call, which keeps another model
    /// from changing OpenBLAS's thread count under the lanes; `body` must not call this model's (or
    /// another model's) own inference or training methods, which take the same lock.
    public func mapConcurrently<T: Sendable>(count: Int, _ body: @Sendable (Int, InferenceLane) -> T) -> [T] {
        guard count > 0 else { return [] }
        let lanes = min(threads, count)
        ensureWorkers(lanes)
        let work = ConcurrentInference(workers: Array(workers.prefix(lanes)), inputSize: inputSize, classes: classes.count,
                                       kernels: VectorKernels.active)
        return BLAS.withThreadCount(1) {
            if lanes == 1 { return (0..<count).map { body($0, work.lane(0)) } }
            let results = ResultSlots<T>(count: count)
            DispatchQueue.concurrentPerform(iterations: lanes) { t in
                VectorKernels.withKernels(work.kernels) {
                    let lane = work.lane(t)
                    for i in stride(from: t, to: count, by: lanes) { results.store(body(i, lane), at: i) }
                }
            }
            return results.values
        }
    }

    // MARK: - Optimiser state (checkpoints)

    var optimizerSnapshot: (first: [Float], second: [Float], step: Int) {
        (optimizer.firstMoment, optimizer.secondMoment, optimizer.step)
    }

    func restoreOptimizer(first: [Float], second: [Float], step: Int) -> Bool {
        optimizer.restore(first: first, second: second, step: step)
    }
}

/// One data-parallel worker (`Model.workers`): a copy of the layers with their own buffers, bound to the
/// model's parameters and to `gradients`. Training runs one shard of a batch on each; concurrent inference
/// (`Model.mapConcurrently`) runs one thread's images on each (and never touches `gradients`).
final class TrainingWorker {
    let layers: [any Layer]
    let gradients: FloatBuffer
    let inputBuffer: FloatBuffer
    /// The features of a whole batch after the blocks that inference runs image by image
    /// (`imageByImageBlocks`), for the layers after them.
    private let blockOutput = FloatBuffer()

    init(layers: [any Layer], gradients: FloatBuffer, inputBuffer: FloatBuffer) {
        self.layers = layers; self.gradients = gradients; self.inputBuffer = inputBuffer
    }

    /// The leading layers that are convolution blocks on direct vector kernels (LeukNet-S's three on
    /// AVX-512 or AVX2). Their kernels loop over the images one at a time anyway, so running a batch
    /// through them image by image gives the same bits as the whole batch at once.
    private var imageByImageBlocks: (first: ConvReLUPool, count: Int)? {
        guard let first = layers.first as? ConvReLUPool, first.usesDirectKernel else { return nil }
        return (first, layers.prefix { ($0 as? ConvReLUPool)?.usesDirectKernel == true }.count)
    }

    /// The logits of `count` NCHW images.
    ///
    /// In inference the direct-kernel blocks run depth first, image by image: one image's input, padded
    /// copies, feature maps and argmax codes (about 360 KiB for LeukNet-S at 64x64) stay in the L2 cache from
    /// the first block to the last, where the whole batch's (about 11 MiB at batch 32) went out to memory
    /// and back between blocks; and the first block reads the NCHW input straight into its zero-bordered
    /// channels-last copy (`inferenceForward(nchw:)`). Training keeps the batch-wide pass, as its backward
    /// pass needs every image's padded inputs and argmax codes.
    func forward(_ input: UnsafePointer<Float>, count: Int, inputSize: Int, mode: PassMode) -> UnsafePointer<Float> {
        let imageCount = 3 * inputSize * inputSize
        var activation: UnsafePointer<Float>
        var next = 0
        if mode == .inference, let (first, blocks) = imageByImageBlocks {
            let features = layers[blocks - 1].outputShape.count
            let out = blockOutput.reserve(count * features)
            for n in 0..<count {
                var image = first.inferenceForward(nchw: input + n * imageCount, batch: 1)
                for layer in layers[1..<blocks] { image = layer.forward(image, batch: 1, mode: mode) }
                (out + n * features).update(from: image, count: features)
            }
            activation = UnsafePointer(out)
            next = blocks
        } else {
            let x = inputBuffer.reserve(count * imageCount)
            Layout.nchwToNHWC(input, images: count, channels: 3, height: inputSize, width: inputSize, into: x)
            activation = UnsafePointer(x)
        }
        for layer in layers[next...] { activation = layer.forward(activation, batch: count, mode: mode) }
        return activation
    }

    /// Sets `gradients` to this shard's parameter gradients from its logit gradient.
    func backward(_ dLogits: UnsafePointer<Float>, count: Int, parameterCount: Int) {
        gradients.zero(parameterCount)
        var gradient = dLogits
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            guard let next = layers[index].backward(gradient, batch: count, needsInputGradient: index > 0) else { break }
            gradient = next
        }
    }
}

/// One data-parallel training step (`Model.computeGradientsInParallel`), handed to the worker threads:
/// shard i of the batch runs on workers[i]. `@unchecked Sendable` because it carries layers (classes with
/// mutable buffers) and raw pointers: safe here since thread i touches only worker i (its layers, buffers
/// and gradient block), its own rows of `logits` and `dLogits`, and reads `input` and the shared
/// parameters, which nothing writes during the step; `DispatchQueue.concurrentPerform` returns only after
/// every thread has finished.
struct DataParallelStep: @unchecked Sendable {
    let workers: [TrainingWorker]
    let shards: [Range<Int>]
    let input: UnsafePointer<Float>
    let logits: UnsafeMutablePointer<Float>
    let dLogits: UnsafeMutablePointer<Float>
    let inputSize: Int
    let classes: Int
    let parameterCount: Int
    /// Worker threads are outside the caller's task: they run with the kernel set the caller uses.
    let kernels: KernelSet

    /// Shard `i`'s logits into its rows of `logits`.
    func forward(shard i: Int) {
        VectorKernels.withKernels(kernels) {
            let range = shards[i]
            let out = workers[i].forward(input + range.lowerBound * 3 * inputSize * inputSize, count: range.count,
                                         inputSize: inputSize, mode: .training)
            (logits + range.lowerBound * classes).update(from: out, count: range.count * classes)
        }
    }

    /// Shard `i`'s parameter gradients into its worker's gradient block, from its rows of `dLogits`.
    func backward(shard i: Int) {
        VectorKernels.withKernels(kernels) {
            workers[i].backward(UnsafePointer(dLogits + shards[i].lowerBound * classes), count: shards[i].count,
                                parameterCount: parameterCount)
        }
    }
}

/// One thread's share of `Model.mapConcurrently`: inference on one worker, with no lock and no shared
/// buffer. Only valid inside the `body` it was handed to (the worker's buffers are reused by the next
/// call). Its results equal the model's own `logits` / `predictProbabilities` bit for bit.
public struct InferenceLane {
    let worker: TrainingWorker
    let inputSize: Int
    let classes: Int

    /// Floats per input image (3 x inputSize x inputSize).
    public var inputCount: Int { 3 * inputSize * inputSize }

    /// Raw class scores, n x classes, for `input.count / inputCount` NCHW images (as `Model.logits`).
    public func logits(_ input: [Float]) -> [Float] {
        let count = input.count / inputCount
        guard count > 0 else { return [] }
        let out = input.withUnsafeBufferPointer { worker.forward($0.baseAddress!, count: count, inputSize: inputSize, mode: .inference) }
        return Array(UnsafeBufferPointer(start: out, count: count * classes))
    }

    /// Softmax probabilities, n x classes row-major (as `Model.predictProbabilities`).
    public func predictProbabilities(_ input: [Float]) -> [Float] {
        let count = input.count / inputCount
        guard count > 0 else { return [] }
        let out = input.withUnsafeBufferPointer { worker.forward($0.baseAddress!, count: count, inputSize: inputSize, mode: .inference) }
        return [Float](unsafeUninitializedCapacity: count * classes) { buffer, initialized in
            SoftmaxCrossEntropy.softmax(out, batch: count, classes: classes, into: buffer.baseAddress!)
            initialized = count * classes
        }
    }
}

/// The workers of one `Model.mapConcurrently` call, handed to its threads. `@unchecked Sendable` because
/// it carries workers (classes with mutable buffers): safe since thread t only ever uses `workers[t]`, and
/// reads the shared parameters, which nothing writes during the call (the model is not thread-safe, so
/// no other call on it runs meanwhile); `DispatchQueue.concurrentPerform` returns only after every thread
/// has finished.
struct ConcurrentInference: @unchecked Sendable {
    let workers: [TrainingWorker]
    let inputSize: Int
    let classes: Int
    /// Worker threads are outside the caller's task: they run with the kernel set the caller uses.
    let kernels: KernelSet

    func lane(_ t: Int) -> InferenceLane { InferenceLane(worker: workers[t], inputSize: inputSize, classes: classes) }
}

/// One slot per index for results computed on several threads. `@unchecked Sendable` because the slots
/// are written without a lock: safe since each index is written by exactly one thread, once, into its own
/// element of a fixed buffer, and read only after `DispatchQueue.concurrentPerform` has returned (which
/// orders the writes before the reads).
final class ResultSlots<T>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<T?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        _ = slots.deinitialize()
        slots.deallocate()
    }

    func store(_ value: T, at index: Int) { slots[index] = value }

    var values: [T] { slots.map { $0! } }
}

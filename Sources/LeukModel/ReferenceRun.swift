internal import LeukTensor

/// What the engine computes for a cross-check against another implementation (docs/scripts/compare_pytorch.py):
/// logits, loss and gradients for given weights and inputs, then the losses of two SGD steps.
///
/// Inputs and outputs are safetensors files so that any framework can produce and read them.
/// Input file: tensors `inputs` [N,3,S,S] (normalised NCHW) and `labels` [N] (class indices as floats).
/// Output file: `logits` [N,classes], `loss` [1], `grad.<parameter name>` in PyTorch layout, and
/// `sgd_losses` [steps+1]: the loss before each SGD step and after the last one.
public enum ReferenceRun {
    public static func run(modelPath: String, inputPath: String, outputPath: String, learningRate: Float,
                           momentum: Float, weightDecay: Float, steps: Int, threads: Int) throws(ModelError) {
        let model = try Model.load(from: modelPath, threads: threads)
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.decode(Model.readFile(inputPath))
        } catch let error as ModelError {
            throw error
        } catch {
            throw .malformedFile(path: inputPath, reason: "\(error)")
        }
        guard let inputs = file.tensor(named: "inputs"), inputs.shape.count == 4, inputs.shape[1] == 3,
              inputs.shape[2] == model.inputSize, inputs.shape[3] == model.inputSize else {
            throw .missingTensor(path: inputPath, name: "inputs [N,3,\(model.inputSize),\(model.inputSize)]")
        }
        let count = inputs.shape[0]
        guard let labelTensor = file.tensor(named: "labels"), labelTensor.count == count,
              labelTensor.scalars.allSatisfy({ $0 >= 0 && Int($0) < model.classes.count && $0 == $0.rounded() }) else {
            throw .missingTensor(path: inputPath, name: "labels [\(count)] of class indices")
        }
        let labels = labelTensor.scalars.map { Int32($0) }
        let logits = model.logits(inputs.scalars)
        let (loss, gradients) = model.lossAndGradients(inputs: inputs.scalars, labels: labels, count: count)
        var entries: [SafetensorsFile.Entry] = [
            .init(name: "logits", tensor: Tensor(shape: [count, model.classes.count], scalars: logits)),
            .init(name: "loss", tensor: Tensor(shape: [1], scalars: [loss])),
        ]
        var offset = 0
        for description in model.parameterDescriptions {
            entries.append(.init(name: "grad.\(description.name)",
                                 tensor: Tensor(shape: description.shape, scalars: Array(gradients[offset..<(offset + description.count)]))))
            offset += description.count
        }
        model.configureOptimizer(.sgd(momentum: momentum, weightDecay: weightDecay))
        model.learningRate = learningRate
        var losses: [Float] = []
        for _ in 0..<steps { losses.append(model.trainStep(inputs: inputs.scalars, labels: labels, count: count)) }
        losses.append(model.evaluate(inputs: inputs.scalars, labels: labels, count: count).loss)
        entries.append(.init(name: "sgd_losses", tensor: Tensor(shape: [losses.count], scalars: losses)))
        let bytes = SafetensorsFile(entries: entries, metadata: ["architecture": model.architecture.rawValue]).encoded()
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: outputPath), options: .atomic)
        } catch {
            throw .io(path: outputPath, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

import Foundation

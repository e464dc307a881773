import Foundation
import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

@Suite struct ModelFileTests {
    private func trainedModel(_ architecture: Architecture = .leuknetS, size: Int = 16) throws -> Model {
        let model = try Model(architecture: architecture, classes: ["hem", "all"], inputSize: size,
                              mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], seed: 7)
        model.trainStep(randomBatch(count: 4, size: size, classes: 2, seed: 1))
        return model
    }

    private func tempPath(_ name: String) -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("leukmodel-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory.appendingPathComponent(name).path
    }

    @Test(arguments: [Architecture.leuknetS, .leuknetM])
    func roundTripGivesTheSameModel(architecture: Architecture) throws {
        let model = try trainedModel(architecture)
        let path = tempPath("round-\(architecture.rawValue).safetensors")
        try model.save(to: path)
        let loaded = try Model.load(from: path)
        #expect(loaded.architecture == architecture)
        #expect(loaded.classes == ["hem", "all"])
        #expect(loaded.inputSize == 16)
        #expect(loaded.mean == [0.5, 0.4, 0.3] && loaded.std == [0.2, 0.25, 0.3])
        #expect(loaded.parameters == model.parameters)
        let batch = randomBatch(count: 2, size: 16, classes: 2, seed: 3)
        #expect(loaded.logits(batch.inputs) == model.logits(batch.inputs))
    }

    @Test func fileHoldsPyTorchNamesShapesAndMetadata() throws {
        let model = try Model(classes: ["hem", "all"], seed: 1)
        let file = try SafetensorsFile.decode(model.safetensorsBytes())
        #expect(file.entries.map(\.name) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight",
                                             "conv3.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        #expect(file.tensor(named: "fc1.weight")?.shape == [64, 4096])
        #expect(file.tensor(named: "conv2.weight")?.shape == [32, 16, 3, 3])
        #expect(file.metadata["architecture"] == "leuknet-s")
        #expect(file.metadata["classes"] == "hem,all")
        #expect(file.metadata["input_size"] == "64")
        #expect(file.metadata["mean"]?.split(separator: ",").count == 3)
        #expect(file.metadata["std"]?.split(separator: ",").count == 3)
    }

    private func rewrite(_ model: Model, _ change: (inout SafetensorsFile) -> Void) throws -> [UInt8] {
        var file = try SafetensorsFile.decode(model.safetensorsBytes())
        change(&file)
        return file.encoded()
    }

    @Test func everyDamageGetsAClearError() throws {
        let model = try trainedModel()
        let good = model.safetensorsBytes()

        #expect(throws: ModelError.unknownArchitecture("leuknet-xl")) {
            try Model.load(bytes: try rewrite(model) { $0.metadata["architecture"] = "leuknet-xl" })
        }
        #expect(throws: ModelError.missingTensor(path: "<memory>", name: "conv2.bias")) {
            try Model.load(bytes: try rewrite(model) { $0.entries.removeAll { $0.name == "conv2.bias" } })
        }
        #expect(throws: ModelError.misshapenTensor(path: "<memory>", name: "fc2.bias", expected: [2], found: [1, 2])) {
            try Model.load(bytes: try rewrite(model) { file in
                let i = file.entries.firstIndex { $0.name == "fc2.bias" }!
                file.entries[i].tensor.shape = [1, 2]
            })
        }
        #expect(throws: ModelError.nonFiniteWeights(path: "<memory>", name: "conv1.weight")) {
            try Model.load(bytes: try rewrite(model) { $0.entries[0].tensor.scalars[5] = .nan })
        }
        #expect(throws: ModelError.unexpectedTensor(path: "<memory>", name: "extra")) {
            try Model.load(bytes: try rewrite(model) { $0.entries.append(.init(name: "extra", tensor: Tensor(zeros: [1]))) })
        }
        #expect(throws: ModelError.missingMetadata(path: "<memory>", key: "classes")) {
            try Model.load(bytes: try rewrite(model) { $0.metadata["classes"] = nil })
        }
        #expect(throws: ModelError.self) {
            try Model.load(bytes: try rewrite(model) { $0.metadata["mean"] = "1,2" })
        }
        #expect(throws: ModelError.self) {
            try Model.load(bytes: try rewrite(model) { $0.metadata["input_size"] = "20" })
        }
        // Truncated: the last tensor ends beyond the data.
        do {
            _ = try Model.load(bytes: Array(good.dropLast(3)), path: "m.safetensors")
            Issue.record("truncated file loaded")
        } catch let error {
            guard case let .malformedFile(path, reason) = error else { Issue.record("wrong error \(error)"); return }
            #expect(path == "m.safetensors")
            #expect(reason.contains("truncated"))
        }
        // Header length beyond the file.
        var huge = good
        huge[4] = 0xFF
        do {
            _ = try Model.load(bytes: huge)
            Issue.record("bad header length loaded")
        } catch let error {
            #expect(error.description.contains("header length"))
        }
        #expect(throws: ModelError.self) { try Model.load(bytes: [1, 2, 3]) }
        // F16 tensors are refused by name.
        var f16 = String(decoding: good, as: UTF8.self)
        f16 = f16.replacingOccurrences(of: #"{"dtype":"F32","shape":[16,3,3,3]"#, with: #"{"dtype":"F16","shape":[16,3,3,3]"#)
        #expect(throws: ModelError.unsupportedDType(path: "<memory>", name: "conv1.weight", dtype: "F16")) {
            try Model.load(bytes: Array(f16.utf8))
        }
        #expect(throws: ModelError.self) { try Model.load(from: tempPath("does-not-exist.safetensors")) }
    }

    @Test func checkpointRestoresOptimizerState() throws {
        let model = try Model(classes: ["hem", "all"], inputSize: 16, seed: 7, optimizer: .sgd(), learningRate: 0.01)
        let batches = (0..<4).map { randomBatch(count: 4, size: 16, classes: 2, seed: UInt64($0)) }
        model.trainStep(batches[0]); model.trainStep(batches[1])
        let path = tempPath("checkpoint.safetensors")
        try model.saveCheckpoint(to: path, progress: ["epoch": "3"])
        let (resumed, progress) = try Model.loadCheckpoint(from: path, optimizer: .sgd())
        #expect(progress["epoch"] == "3")
        resumed.learningRate = 0.01
        model.trainStep(batches[2]); resumed.trainStep(batches[2])
        #expect(model.parameters == resumed.parameters)
        // A plain model load refuses the optimiser tensors as unexpected.
        #expect(throws: ModelError.self) { try Model.load(from: path) }
    }
}

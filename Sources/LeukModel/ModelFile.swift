internal import LeukTensor
import LeukData
import Foundation

/// Model files: safetensors, interchangeable with a PyTorch `state_dict` of the same architecture.
///
/// Tensors are named and shaped as PyTorch names them (`conv1.weight` [16,3,3,3] OIHW, ...,
/// `fc1.weight` [64,4096] reading (C,H,W)-flattened features). Metadata (all strings): `architecture`,
/// `classes` (comma-separated, logit order), `input_size`, `mean`, `std` (three comma-separated floats).
/// A checkpoint is a model file plus `optimizer.*` tensors and `checkpoint.*` metadata.
extension Model {
    static let optimizerFirstMoment = "optimizer.first_moment"
    static let optimizerSecondMoment = "optimizer.second_moment"

    /// The model as a safetensors byte string.
    public func safetensorsBytes(extraMetadata: [String: String] = [:]) -> [UInt8] {
        makeFile(includeOptimizer: false, extraMetadata: extraMetadata).encoded()
    }

    /// Writes the model atomically (temporary file, then rename).
    public func save(to path: String, extraMetadata: [String: String] = [:]) throws(ModelError) {
        try write(makeFile(includeOptimizer: false, extraMetadata: extraMetadata).encoded(), to: path)
    }

    /// Writes weights, optimiser state and the given progress metadata (keys get a `checkpoint.` prefix).
    public func saveCheckpoint(to path: String, progress: [String: String]) throws(ModelError) {
        var metadata: [String: String] = [:]
        for (key, value) in progress { metadata["checkpoint.\(key)"] = value }
        try write(makeFile(includeOptimizer: true, extraMetadata: metadata).encoded(), to: path)
    }

    private func makeFile(includeOptimizer: Bool, extraMetadata: [String: String]) -> SafetensorsFile {
        let flat = parameters
        var entries: [SafetensorsFile.Entry] = []
        var offset = 0
        for description in parameterDescriptions {
            let values = Array(flat[offset..<(offset + description.count)])
            entries.append(.init(name: description.name, tensor: Tensor(shape: description.shape, scalars: values)))
            offset += description.count
        }
        var metadata = extraMetadata
        metadata["architecture"] = architecture.rawValue
        metadata["classes"] = classes.joined(separator: ",")
        metadata["input_size"] = String(inputSize)
        metadata["mean"] = mean.map { "\($0)" }.joined(separator: ",")
        metadata["std"] = std.map { "\($0)" }.joined(separator: ",")
        if let stainNormalizer { metadata["stain_normalization"] = stainNormalizer.metadataValue }
        if let recipe { metadata["recipe"] = recipe }
        if includeOptimizer {
            let snapshot = optimizerSnapshot
            metadata["checkpoint.optimizer"] = optimizerKind.name
            metadata["checkpoint.optimizer_step"] = String(snapshot.step)
            entries.append(.init(name: Model.optimizerFirstMoment, tensor: Tensor(shape: [snapshot.first.count], scalars: snapshot.first)))
            if !snapshot.second.isEmpty {
                entries.append(.init(name: Model.optimizerSecondMoment, tensor: Tensor(shape: [snapshot.second.count], scalars: snapshot.second)))
            }
        }
        return SafetensorsFile(entries: entries, metadata: metadata)
    }

    private func write(_ bytes: [UInt8], to path: String) throws(ModelError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .io(path: path, reason: "cannot write the model: \(error.localizedDescription)")
        }
    }

    /// Loads a model file (strict: every tensor of the architecture present, well-shaped and finite; no extras).
    public static func load(from path: String, threads: Int = 1) throws(ModelError) -> Model {
        try load(bytes: readFile(path), path: path, threads: threads, allowOptimizerState: false).model
    }

    /// Loads a model from safetensors bytes; `path` only names the source in error messages.
    public static func load(bytes: [UInt8], path: String = "<memory>", threads: Int = 1) throws(ModelError) -> Model {
        try load(bytes: bytes, path: path, threads: threads, allowOptimizerState: false).model
    }

    /// Loads a checkpoint written by `saveCheckpoint`, restoring the optimiser state for the given
    /// optimiser kind when it matches. Returns the model and the progress metadata (without the prefix).
    public static func loadCheckpoint(from path: String, threads: Int = 1, optimizer: OptimizerKind) throws(ModelError)
        -> (model: Model, progress: [String: String])
    {
        let (model, file) = try load(bytes: readFile(path), path: path, threads: threads, allowOptimizerState: true)
        model.configureOptimizer(optimizer)
        if file.metadata["checkpoint.optimizer"] == optimizer.name,
           let first = file.tensor(named: optimizerFirstMoment)?.scalars,
           let step = file.metadata["checkpoint.optimizer_step"].flatMap(Int.init) {
            let second = file.tensor(named: optimizerSecondMoment)?.scalars ?? []
            guard model.restoreOptimizer(first: first, second: second, step: step) else {
                throw .malformedFile(path: path, reason: "optimizer state does not match the model's \(model.parameterCount) parameters")
            }
        }
        var progress: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix("checkpoint.") {
            progress[String(key.dropFirst("checkpoint.".count))] = value
        }
        return (model, progress)
    }

    static func readFile(_ path: String) throws(ModelError) -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw .io(path: path, reason: "no such file") }
        do {
            return try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .io(path: path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    private static func load(bytes: [UInt8], path: String, threads: Int, allowOptimizerState: Bool) throws(ModelError)
        -> (model: Model, file: SafetensorsFile)
    {
        let file: SafetensorsFile
        do {
            file = try SafetensorsFile.decode(bytes)
        } catch let error {
            if case let .unsupportedDType(tensor, dtype) = error {
                throw .unsupportedDType(path: path, name: tensor, dtype: dtype)
            }
            throw .malformedFile(path: path, reason: error.description)
        }
        func required(_ key: String) throws(ModelError) -> String {
            guard let value = file.metadata[key] else { throw .missingMetadata(path: path, key: key) }
            return value
        }
        func floats(_ key: String) throws(ModelError) -> [Float] {
            let text = try required(key)
            let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, values.allSatisfy({ $0 != nil && $0!.isFinite }) else {
                throw .invalidMetadata(path: path, key: key, value: text, reason: "expected three comma-separated numbers")
            }
            return values.map { $0! }
        }
        let architectureName = try required("architecture")
        let architecture = try Architecture(named: architectureName)
        let classText = try required("classes")
        let classes = classText.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard classes.count >= 2, classes.allSatisfy({ !$0.isEmpty }) else {
            throw .invalidMetadata(path: path, key: "classes", value: classText, reason: "expected at least two comma-separated names")
        }
        let sizeText = try required("input_size")
        guard let inputSize = Int(sizeText), inputSize > 0, inputSize <= 4096 else {
            throw .invalidMetadata(path: path, key: "input_size", value: sizeText, reason: "expected a positive integer")
        }
        let mean = try floats("mean"), std = try floats("std")
        let model: Model
        do {
            model = try Model(architecture: architecture, classes: classes, inputSize: inputSize, mean: mean, std: std, threads: threads)
        } catch let error {
            if case let .invalidConfiguration(reason) = error {
                throw .invalidMetadata(path: path, key: "architecture", value: architectureName, reason: reason)
            }
            throw error
        }
        let descriptions = model.parameterDescriptions
        let expected = Set(descriptions.map(\.name))
        for entry in file.entries where !expected.contains(entry.name) {
            if allowOptimizerState && entry.name.hasPrefix("optimizer.") { continue }
            throw .unexpectedTensor(path: path, name: entry.name)
        }
        var flat: [Float] = []
        flat.reserveCapacity(model.parameterCount)
        for description in descriptions {
            guard let tensor = file.tensor(named: description.name) else { throw .missingTensor(path: path, name: description.name) }
            guard tensor.shape == description.shape else {
                throw .misshapenTensor(path: path, name: description.name, expected: description.shape, found: tensor.shape)
            }
            guard tensor.scalars.allSatisfy(\.isFinite) else { throw .nonFiniteWeights(path: path, name: description.name) }
            flat += tensor.scalars
        }
        model.parameters = flat
        if let text = file.metadata["stain_normalization"] {
            guard let stain = StainNormalizer(metadataValue: text) else {
                throw .invalidMetadata(path: path, key: "stain_normalization", value: text,
                                       reason: "expected macenko: and eight non-negative numbers")
            }
            model.stainNormalizer = stain
        }
        model.recipe = file.metadata["recipe"]
        return (model, file)
    }
}

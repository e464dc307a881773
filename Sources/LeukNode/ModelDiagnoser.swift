import LeukClinic
import LeukCore
import LeukData
import LeukModel

/// Diagnoses cell images with the node's *served* model: the one the promotion gate (or an
/// operator) let through, never the merged model of the moment (`ModelServing`).
///
/// An actor on its own thread (`ThreadExecutor`): decoding and the forward pass block that thread,
/// never an event loop or the cooperative pool, and the `Model` (rebuilt only when the federated
/// model's version changes) is compiler-checked to be touched only there. While it waits for the
/// federation, another diagnosis may run; the cache is keyed by version, so that is harmless.
public actor ModelDiagnoser {
    public struct Result: Sendable {
        public var probabilities: [String: Double]
        public var predicted: String
        public var modelSHA256: String
        public var modelVersion: UInt64
        public var responseTimeMs: Double
    }

    let serving: ModelServing
    let threads: Int
    private let executor = ThreadExecutor(name: "leuk-diagnose")
    private var cached: (version: UInt64, sha256: String, model: Model, snapshot: ModelSnapshot)?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(serving: ModelServing, threads: Int) {
        self.serving = serving
        self.threads = threads
    }

    /// Decodes (with the project's bounded decoder), preprocesses exactly as training does, and
    /// classifies one image. Throws `ImageError` for a bad image, naming it, and
    /// `ClassificationError.modelUnavailable` while no model has been served.
    public func diagnose(imageBytes: [UInt8], fileName: String) async throws -> Result {
        guard let version = await serving.servedVersion() else { throw Self.nothingServed }
        // Copy the parameters out only when the served model changed since the last diagnosis.
        let fresh = cached?.version == version ? nil : await serving.served()
        let started = monotonicNanoseconds()
        let (model, sha256, snapshot) = try model(for: fresh)
        let image = try ImageDecoder.decode(bytes: imageBytes, name: fileName)
        // The federation's models carry no stain normalisation (each site would fit its own): the same input
        // path as `diagnose` and `evaluate`, without that step.
        let input = InputPreprocessing(size: snapshot.inputSize, normalization: Normalization(mean: snapshot.mean, std: snapshot.std))
            .input(image)
        let probabilities = model.predictProbabilities(input)
        let elapsed = Double(monotonicNanoseconds() - started) / 1e6
        var byClass: [String: Double] = [:]
        for (name, p) in zip(snapshot.classes, probabilities) { byClass[name] = Double(p) }
        let best = zip(snapshot.classes, probabilities).max { $0.1 < $1.1 }?.0 ?? snapshot.classes[0]
        return Result(probabilities: byClass, predicted: best, modelSHA256: sha256, modelVersion: snapshot.version,
                      responseTimeMs: elapsed)
    }

    static let nothingServed = ClassificationError.modelUnavailable(
        "no model has passed this site's promotion floors yet; `leuknode model history` shows the gate's decisions")

    /// A model as a safetensors file (for `leuknode model export` and the demo's evaluation).
    public func safetensors(of snapshot: ModelSnapshot) async throws -> [UInt8] {
        let (model, sha256, _) = try model(for: snapshot)
        return model.safetensorsBytes(extraMetadata: [
            "leuknode_model_version": String(snapshot.version), "leuknode_model_sha256": sha256,
        ])
    }

    /// The model for `snapshot`, or the cached one when `snapshot` is nil (unchanged version). The
    /// SHA-256 of the parameters is computed once per version, not once per diagnosis.
    private func model(for snapshot: ModelSnapshot?) throws -> (Model, String, ModelSnapshot) {
        guard let snapshot else {
            guard let cached else { throw ModelError.invalidConfiguration("no model yet") }
            return (cached.model, cached.sha256, cached.snapshot)
        }
        if let cached, cached.version == snapshot.version { return (cached.model, cached.sha256, cached.snapshot) }
        let model = try Model(architecture: Architecture(named: snapshot.architecture), classes: snapshot.classes,
                              inputSize: snapshot.inputSize, mean: snapshot.mean, std: snapshot.std, threads: threads)
        model.setFlatParameters(snapshot.parameters)
        let sha256 = snapshot.sha256
        cached = (snapshot.version, sha256, model, snapshot)
        return (model, sha256, snapshot)
    }
}

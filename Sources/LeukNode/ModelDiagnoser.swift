import LeukCore
import LeukData
import LeukModel
import Foundation

/// Diagnoses cell images with the node's current federated model.
///
/// Inference runs on its own serial queue, never on an event loop or the cooperative pool, with a
/// `Model` rebuilt only when the federated model's version changes. `@unchecked Sendable`: `cached`
/// is touched only on `queue`.
public final class ModelDiagnoser: @unchecked Sendable {
    public struct Result: Sendable {
        public var probabilities: [String: Double]
        public var predicted: String
        public var modelSHA256: String
        public var modelVersion: UInt64
        public var responseTimeMs: Double
    }

    let federation: FederationService
    let threads: Int
    private let queue = DispatchQueue(label: "leuk-diagnose")
    private var cached: (version: UInt64, sha256: String, model: Model)?

    init(federation: FederationService, threads: Int) {
        self.federation = federation
        self.threads = threads
    }

    /// Decodes (with the project's bounded decoder), preprocesses exactly as training does, and
    /// classifies one image. Throws `ImageError` for a bad image, naming it.
    public func diagnose(imageBytes: [UInt8], fileName: String) async throws -> Result {
        let snapshot = await federation.currentSnapshot()
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let started = monotonicNanoseconds()
                    let model = try self.model(for: snapshot)
                    let image = try ImageDecoder.decode(bytes: imageBytes, name: fileName)
                    let resized = resizeBilinear(image, to: snapshot.inputSize)
                    let input = Normalization(mean: snapshot.mean, std: snapshot.std).chw(resized)
                    let probabilities = model.predictProbabilities(input)
                    let elapsed = Double(monotonicNanoseconds() - started) / 1e6
                    var byClass: [String: Double] = [:]
                    for (name, p) in zip(snapshot.classes, probabilities) { byClass[name] = Double(p) }
                    let best = zip(snapshot.classes, probabilities).max { $0.1 < $1.1 }?.0 ?? snapshot.classes[0]
                    continuation.resume(returning: Result(probabilities: byClass, predicted: best, modelSHA256: snapshot.sha256,
                                                          modelVersion: snapshot.version, responseTimeMs: elapsed))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The current model as a safetensors file (for `leuknode model export` and the demo's evaluation).
    public func safetensors() async throws -> [UInt8] {
        let snapshot = await federation.currentSnapshot()
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    let model = try self.model(for: snapshot)
                    continuation.resume(returning: model.safetensorsBytes(extraMetadata: [
                        "leuknode_model_version": String(snapshot.version), "leuknode_model_sha256": snapshot.sha256,
                    ]))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func model(for snapshot: ModelSnapshot) throws -> Model {
        if let cached, cached.version == snapshot.version, cached.sha256 == snapshot.sha256 { return cached.model }
        let model = try Model(architecture: Architecture(named: snapshot.architecture), classes: snapshot.classes,
                              inputSize: snapshot.inputSize, mean: snapshot.mean, std: snapshot.std, threads: threads)
        model.setFlatParameters(snapshot.parameters)
        cached = (snapshot.version, snapshot.sha256, model)
        return model
    }
}

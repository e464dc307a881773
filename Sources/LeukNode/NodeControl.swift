public import LeukClinic
public import LeukCrypto
import LeukData

/// What the API may ask of the running node: its control surface, nothing more. It lives with the
/// node, so the node's own tests cover the conformance and the API layer sees only this protocol.
public protocol NodeControl: Sendable {
    func status() async throws -> NodeStatus
    func peers() async throws -> [PeerView]
    func addPeer(_ contact: Contact) async throws -> PeerView
    func removePeer(_ reference: String) async throws -> PeerView
    func modelHistory(limit: Int) async throws -> [ModelHistoryEntry]
    /// The current federated model as a safetensors file.
    func modelFile() async throws -> [UInt8]
    /// The served model, the pin, the floors and the newest promotion decisions.
    func modelServing(limit: Int) async throws -> ServingView
    /// Serves a kept model version at once (`force`: even when it fails the site's floors).
    func promoteModel(version: UInt64, force: Bool, actor: String) async throws -> PromotionDecision
    /// Serves the previously served model again, and pins it.
    func rollbackModel(actor: String) async throws -> PromotionDecision
    /// Pins the served model (the gate serves nothing new), or hands control back to the gate.
    func pinModel(_ pinned: Bool, actor: String) async throws -> PromotionDecision
}

extension NodeRuntime: NodeControl {
    public func status() async throws -> NodeStatus { try await federation.status() }
    public func peers() async throws -> [PeerView] { try await federation.peerViews() }
    public func addPeer(_ contact: Contact) async throws -> PeerView { try await federation.addPeer(contact) }
    public func removePeer(_ reference: String) async throws -> PeerView { try await federation.removePeer(reference) }
    public func modelHistory(limit: Int) async throws -> [ModelHistoryEntry] { try await federation.history(limit: limit) }
    public func modelFile() async throws -> [UInt8] { try await diagnoser.safetensors(of: await federation.currentSnapshot()) }
    public func modelServing(limit: Int) async throws -> ServingView { try await serving.view(limit: limit) }

    public func promoteModel(version: UInt64, force: Bool, actor: String) async throws -> PromotionDecision {
        let current = await federation.currentSnapshot()
        let model: ModelSnapshot
        if current.version == version {
            model = current
        } else if let kept = try await serving.kept(version: version) {
            model = kept
        } else {
            throw ServingError.unknownVersion(version)
        }
        guard model.architecture == current.architecture, model.classes == current.classes,
              model.parameters.count == current.parameters.count else {
            throw ServingError.incompatible("version \(version) is a \(model.architecture) over \(model.classes.joined(separator: ",")), the node runs a \(current.architecture) over \(current.classes.joined(separator: ","))")
        }
        return try await serving.promote(model, figures: await figures(of: model), force: force, actor: actor)
    }

    public func rollbackModel(actor: String) async throws -> PromotionDecision { try await serving.rollback(actor: actor) }
    public func pinModel(_ pinned: Bool, actor: String) async throws -> PromotionDecision {
        try await serving.setPinned(pinned, actor: actor)
    }
}

/// The clinic's classifier, backed by the node's current federated model.
///
/// It translates the model's errors into the clinic's contract (`ClassificationError`): bytes that
/// are not a readable cell image are the uploader's to fix (HTTP 422), never "the model is
/// unavailable" (503), which would send a doctor to wait for a model that is already there.
public struct NodeClassifier: CellClassifier {
    let diagnoser: ModelDiagnoser

    public init(diagnoser: ModelDiagnoser) { self.diagnoser = diagnoser }

    public func classify(imageBytes: [UInt8], fileName: String) async throws -> Classification {
        let result: ModelDiagnoser.Result
        do {
            result = try await diagnoser.diagnose(imageBytes: imageBytes, fileName: fileName)
        } catch let error as ImageError {
            throw ClassificationError.unreadableImage(error.description)
        }
        return Classification(probabilities: result.probabilities, predicted: result.predicted, modelSHA256: result.modelSHA256,
                              modelVersion: result.modelVersion, responseTimeMs: result.responseTimeMs)
    }
}

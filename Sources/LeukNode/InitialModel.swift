public import LeukCore
import LeukCrypto
public import LeukData
import LeukModel
import Foundation

/// A model file a new node starts from instead of the seeded initialisation (`leuknode start --init-from`):
/// the federation's current model exported by a member (`leuknode model export`), or that model fine-tuned
/// on the site's own images (`leuknode train --init-from`).
///
/// Read and checked before the node starts, so every mismatch is an error naming the file and the fix,
/// never a node that gossips parameters its peers read differently. Gossip carries parameters only: the
/// architecture, class order, input size and input path (channel normalisation, stain normalisation) must be
/// the federation's, or averaging mixes models that mean different things by the same numbers.
public struct InitialModel: Sendable {
    public var path: String
    /// SHA-256 of the file's bytes (what `sha256sum` prints), so an operator can match it to the file sent.
    public var fileSHA256: String
    public var parameters: [Float]
    /// The training recipe the file carries (`leuknode train` stores it), if any.
    public var recipe: String?

    /// SHA-256 of the parameters: the digest `status` and diagnoses name for the node's model.
    public var parametersSHA256: String { Hex.encode(ModelSnapshot.digest(of: parameters)) }

    /// Reads `path` and checks it against the node's federation: `architecture` (`--arch`), `classes` (config.json),
    /// `inputSize` and `normalization` (the federation's fixed input path).
    public static func load(path: String, architecture: String, classes: [String], inputSize: Int,
                            normalization: Normalization) throws(InitialModelError) -> InitialModel {
        guard FileManager.default.fileExists(atPath: path) else { throw InitialModelError.unreadable(path, "no such file") }
        let bytes: [UInt8]
        do { bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw InitialModelError.unreadable(path, error.localizedDescription)
        }
        let model: Model
        do { model = try Model.load(bytes: bytes, path: path) } catch { throw InitialModelError.notAModel(path, error.description) }
        guard model.architecture.rawValue == architecture else {
            throw InitialModelError(
                "--init-from \(path) is a \(model.architecture.rawValue) model; this node runs \(architecture) (--arch)",
                hint: "every node of a federation runs the same architecture: start with --arch \(model.architecture.rawValue) if that is "
                    + "the federation's, or start from a \(architecture) model")
        }
        guard model.classes == classes else {
            throw InitialModelError(
                "--init-from \(path) has the classes \(model.classes.joined(separator: ",")); this federation's classes are "
                    + "\(classes.joined(separator: ",")) (config.json, in model output order)",
                hint: "start from this federation's model (`leuknode model export --out FILE` on a member), or fine-tune it with "
                    + "`leuknode train --init-from FILE --label-map ...` so the classes match")
        }
        guard model.inputSize == inputSize else {
            throw InitialModelError(
                "--init-from \(path) reads \(model.inputSize) px images; a federation node reads \(inputSize) px",
                hint: "start from the federation's model (`leuknode model export --out FILE` on a member), or a model trained with "
                    + "`leuknode train --input-size \(inputSize)`")
        }
        if model.stainNormalizer != nil {
            // Applying it here would be easy; the peers do not, so this node would average models that saw
            // re-stained images with models that saw the raw ones. Refused rather than silently dropped.
            throw InitialModelError(
                "--init-from \(path) carries a stain normalisation (stain_normalization in its metadata): a federation node cannot "
                    + "use it, since its peers read images without it and averaging would mix models that see differently coloured cells",
                hint: "start from the federation's model (`leuknode model export --out FILE` on a member), or fine-tune that model "
                    + "with `leuknode train --init-from FILE` (which keeps its input path) and start from the result")
        }
        guard Self.same(model.mean, normalization.mean), Self.same(model.std, normalization.std) else {
            throw InitialModelError(
                "--init-from \(path) reads images with channel mean \(Self.text(model.mean)) and std \(Self.text(model.std)) "
                    + "(`leuknode train` fits them on its own images when it trains from scratch); every federation node reads them "
                    + "with mean \(Self.text(normalization.mean)) and std \(Self.text(normalization.std))",
                hint: "a model trained from scratch cannot join: start from the federation's model (`leuknode model export --out FILE` "
                    + "on a member), or fine-tune that with `leuknode train --init-from FILE` and start from the result")
        }
        return InitialModel(path: path, fileSHA256: Hex.encode(SHA256Hasher.hash(bytes)),
                            parameters: model.parameters, recipe: model.recipe)
    }

    static func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-6 }
    }

    static func text(_ values: [Float]) -> String { values.map { String(format: "%.4g", $0) }.joined(separator: ",") }
}

/// Why a `--init-from` model cannot start this node.
public struct InitialModelError: LeukUserFacingError {
    public var description: String
    public var hint: String?

    public init(_ description: String, hint: String?) {
        self.description = description
        self.hint = hint
    }

    static let whereFrom = "give a model file: one a federation member exported (`leuknode model export --out FILE`), or one "
        + "`leuknode train --init-from` wrote"

    static func unreadable(_ path: String, _ reason: String) -> InitialModelError {
        InitialModelError("cannot read --init-from \(path): \(reason)", hint: whereFrom)
    }

    static func notAModel(_ path: String, _ reason: String) -> InitialModelError {
        InitialModelError("--init-from \(path) is not a usable model file: \(reason)", hint: whereFrom)
    }
}

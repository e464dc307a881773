import Foundation
import Testing

/// `leuknode train` with no flags sizes the run to the set and stores what it chose in the model; `diagnose` and
/// `evaluate` read it back, and a model trained with `--stain-normalize` carries its stain reference.
@Suite(.serialized) struct SmallSetRecipeTests {
    /// The safetensors header's `__metadata__`.
    static func metadata(_ path: String) throws -> [String: String] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any]
        return header?["__metadata__"] as? [String: String] ?? [:]
    }

    @Test func theDefaultRecipeFollowsTheSetAndTravelsWithTheModel() throws {
        let dir = CLI.temporaryDirectory("small-set-recipe")
        #expect(try CLI.run(["dataset", "synth", "--out", dir + "/syn", "--count", "20", "--seed", "3", "--size", "16"]).status == 0)
        let trained = try CLI.run(["train", "--dataset", dir + "/syn", "--out", dir + "/m.safetensors", "--input-size", "16",
                                   "--stain-normalize"])
        #expect(trained.status == 0, "\(trained.stderr)")
        // 16 training images are one batch of 16 an epoch: the step budget asks for more epochs than the cap allows.
        #expect(trained.stdout.contains("recipe: leuknet-s at 16 px; 200 epochs of 16 images in batches of 16"), "\(trained.stdout)")
        #expect(trained.stdout.contains("augmentation smear; stain normalisation macenko"), "\(trained.stdout)")
        let metadata = try Self.metadata(dir + "/m.safetensors")
        #expect(metadata["recipe"]?.contains("200 epochs") == true)
        #expect(metadata["stain_normalization"]?.hasPrefix("macenko:") == true)

        let diagnosed = try CLI.run(["diagnose", "--model", dir + "/m.safetensors", dir + "/syn", "--json", "--tta"])
        #expect(diagnosed.status == 0, "\(diagnosed.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(diagnosed.stdout.utf8)) as? [String: Any]
        #expect((report?["model_recipe"] as? String) == metadata["recipe"])
        #expect((report?["stain_normalization"] as? String) == "macenko")
        #expect((report?["results"] as? [Any])?.count == 20)

        let evaluated = try CLI.run(["evaluate", "--model", dir + "/m.safetensors", "--dataset", dir + "/syn", "--tta"])
        #expect(evaluated.status == 0, "\(evaluated.stderr)")
        #expect(evaluated.stdout.contains("model trained: leuknet-s at 16 px"), "\(evaluated.stdout)")

        // A model whose stain reference is garbage is refused with the key named, not used.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/m.safetensors")))
        let text = String(decoding: bytes, as: UTF8.self)
        if let range = text.range(of: "macenko:") {
            let offset = text.utf8.distance(from: text.utf8.startIndex, to: range.lowerBound.samePosition(in: text.utf8)!)
            bytes[offset] = UInt8(ascii: "x")
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/bad.safetensors"))
            let refused = try CLI.run(["diagnose", "--model", dir + "/bad.safetensors", dir + "/syn"])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("stain_normalization"), "\(refused.stderr)")
        } else {
            Issue.record("no stain reference in the model file")
        }

        #expect(try CLI.run(["diagnose", "--patient", "ana", "--tta", dir + "/syn"]).status != 0)
    }
}

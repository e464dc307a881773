import Foundation
import LeukData
import Testing
@testable import LeukModel

/// `train --init-from MODEL [--freeze-features]`: fine-tuning starts from the model's weights and keeps its
/// preprocessing; with frozen features only the classifier moves.
@Suite struct FineTuningTests {
    @Test func fineTuningStartsFromTheModelAndFrozenFeaturesStayPut() throws {
        let dir = NSTemporaryDirectory() + "leuk-finetune-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try SyntheticCells.writeDataset(to: dir + "/a", count: 24, seed: 1, size: 16, site: 0)
        _ = try SyntheticCells.writeDataset(to: dir + "/b", count: 24, seed: 2, size: 16, site: 3)
        var base = TrainingOptions(datasetDirectory: dir + "/a", outputPath: dir + "/base.safetensors")
        base.epochs = 2; base.inputSize = 16; base.batchSize = 8; base.stainNormalize = true
        _ = try TrainingSession.run(base) { _ in }
        let start = try Model.load(from: dir + "/base.safetensors", threads: 1)

        var tune = TrainingOptions(datasetDirectory: dir + "/b", outputPath: dir + "/tuned.safetensors")
        tune.epochs = 3; tune.inputSize = 16; tune.batchSize = 8; tune.initFrom = dir + "/base.safetensors"; tune.freezeFeatures = true
        tune.validationFraction = 0
        let summary = try TrainingSession.run(tune) { _ in }
        #expect(summary.recipe.hasPrefix("fine-tuned from base.safetensors (classifier only); "))
        let tuned = try Model.load(from: dir + "/tuned.safetensors", threads: 1)
        // The preprocessing travels with the weights: the same channel and stain normalisation.
        #expect(tuned.mean == start.mean && tuned.std == start.std)
        #expect(tuned.stainNormalizer == start.stainNormalizer && tuned.stainNormalizer != nil)
        let descriptions = tuned.parameterDescriptions
        var offset = 0, moved: [String] = []
        for d in descriptions {
            if tuned.parameters[offset..<(offset + d.count)] != start.parameters[offset..<(offset + d.count)] { moved.append(d.name) }
            offset += d.count
        }
        // Only the last layer's weight and bias moved.
        #expect(moved.count == 2 && moved.allSatisfy { $0.hasPrefix(descriptions.last!.name.split(separator: ".").first.map(String.init) ?? "") },
                "moved: \(moved)")

        // A model with other classes or another input size is refused with the reason.
        tune.inputSize = 24
        #expect(throws: TrainingError.self) { try TrainingSession.run(tune) { _ in } }
    }
}

/// The default recipe sizes a run by the training set: batches of 16 below 512 images, 800 steps, 10 to 200 epochs.
@Test func theDefaultRecipeFollowsTheSetsSize() {
    #expect(TrainingRecipe.batchSize(trainImages: 104) == 16)
    #expect(TrainingRecipe.epochs(trainImages: 104, batchSize: 16) == 115)  // 7 batches an epoch
    #expect(TrainingRecipe.batchSize(trainImages: 2_500) == 32)
    #expect(TrainingRecipe.epochs(trainImages: 2_500, batchSize: 32) == 11)  // 79 batches an epoch
    #expect(TrainingRecipe.epochs(trainImages: 100_000, batchSize: 32) == 10)
    #expect(TrainingRecipe.epochs(trainImages: 8, batchSize: 16) == 200)
}

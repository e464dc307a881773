import Foundation
import Testing

/// `leuknode diagnose --model M FOLDER`: a folder stands for every image under it, in path order, with the
/// same results as naming the files; a folder without images is refused before anything runs.
@Suite(.serialized) struct DiagnoseFolderTests {
    @Test func aFolderIsEveryImageUnderItInPathOrder() throws {
        let dir = CLI.temporaryDirectory("diagnose-folder")
        #expect(try CLI.run(["dataset", "synth", "--out", dir + "/syn", "--count", "6", "--seed", "2", "--size", "16"]).status == 0)
        let trained = try CLI.run(["train", "--dataset", dir + "/syn", "--out", dir + "/m.safetensors", "--epochs", "1",
                                   "--input-size", "16", "--batch", "4"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let byFolder = try CLI.run(["diagnose", "--model", dir + "/m.safetensors", dir + "/syn", "--threads", "2", "--json"])
        #expect(byFolder.status == 0, "\(byFolder.stderr)")
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir + "/syn")
            .filter { $0.hasSuffix(".png") }.sorted().map { dir + "/syn/" + $0 }
        #expect(files.count == 6)
        let byFiles = try CLI.run(["diagnose", "--model", dir + "/m.safetensors", "--json"] + files)
        func predictions(_ text: String) throws -> [String] {
            let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
            let results = object?["results"] as? [[String: Any]] ?? []
            return results.map { "\($0["image"] ?? "") \($0["prediction"] ?? "") \(($0["probabilities"] as? [String: Double])?.sorted { $0.key < $1.key } ?? [])" }
        }
        let folderLines = try predictions(byFolder.stdout)
        #expect(folderLines.count == 6)
        #expect(folderLines == (try predictions(byFiles.stdout)))

        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        let empty = try CLI.run(["diagnose", "--model", dir + "/m.safetensors", dir + "/empty"])
        #expect(empty.status != 0)
        #expect(empty.stderr.contains("folder without images"), "\(empty.stderr)")
    }
}

import Foundation
import Testing
import LeukMetrics
@testable import LeukReport

/// Every result file committed under docs/results/ (written by `simulate --json` over the project's
/// history) must stay readable by `report`, and must come out of our encoder byte for byte as it was
/// written: the metrics type moved between modules, and this is what proves its keys, key order and
/// number formatting did not move with it.
struct CommittedResultsTests {
    static let resultsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/results")

    static func resultFiles() -> [URL] {
        guard let enumerator = FileManager.default.enumerator(at: resultsDirectory, includingPropertiesForKeys: nil) else { return [] }
        var files: [URL] = []
        for case let url as URL in enumerator where url.lastPathComponent == "result.json" { files.append(url) }
        return files.sorted { $0.path < $1.path }
    }

    @Test func everyCommittedResultLoadsAndReencodesUnchanged() throws {
        let files = Self.resultFiles()
        #expect(files.count >= 10, "docs/results/ should hold the committed simulation results")
        for file in files {
            let result = try SimulationResult.load(path: file.path)
            let original = try Data(contentsOf: file)
            let reencoded = try result.jsonData()
            let trimmed = original.last == UInt8(ascii: "\n") ? original.dropLast() : original[...]
            #expect(reencoded == Data(trimmed), "\(file.path) no longer re-encodes to the bytes it was written with")
            #expect(result.federated.perNode.count == result.config.nodes)
        }
    }
}

import Foundation
import LeukFuzz
import Testing

/// The committed fuzz corpus (Tests/FuzzCorpus/<target>/seeds, for every target but `image`, and .../regressions)
/// replayed through the same
/// target functions libFuzzer runs, in the normal unsanitized build. A file that once crashed a target stays
/// here, so the bug it found cannot come back unnoticed; a target that traps fails the whole test run.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus").path

    static func files(_ target: String, _ folder: String) -> [String] {
        let directory = corpus + "/" + target + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }

    @Test("every committed seed and regression input ends cleanly", arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = Self.files(name, "seeds")
        if target.seedsCommitted {
            #expect(!seeds.isEmpty, "no committed seeds for \(name): run `leukfuzz seeds Tests/FuzzCorpus --committed`")
        } else {
            // Image seeds are made afresh for each fuzzing run (`generatedSeedsAreValid` checks the generator).
            #expect(seeds.isEmpty, "\(name)'s seeds are images, which the repository does not keep")
        }
        for file in seeds + Self.files(name, "regressions") {
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: file)))
            // Returning at all is the main check; a refusal must also say why.
            if case let .refused(why) = await target.run(bytes) {
                #expect(!why.isEmpty, "\(file) refused without a reason")
            }
        }
    }

    @Test("the committed seeds are accepted: they reach past the parser's first checks", arguments: FuzzTargets.all.map(\.name))
    func committedSeedsAreValid(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        for file in Self.files(name, "seeds") {
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: file)))
            let outcome = await target.run(bytes)
            #expect(outcome == .accepted, "\(file): \(outcome)")
        }
    }

    @Test("the seed generator makes inputs the target accepts, for every target", arguments: FuzzTargets.all.map(\.name))
    func generatedSeedsAreValid(_ name: String) async throws {
        let target = try #require(FuzzTargets.named(name))
        let seeds = await target.seeds()
        #expect(!seeds.isEmpty)
        for seed in seeds {
            let outcome = await target.run(seed.bytes)
            #expect(outcome == .accepted, "\(name)/\(seed.name): \(outcome)")
        }
    }
}

import Foundation
import LeukCore
import LeukCrypto
import Testing

/// `leuknode start --init-from`: a new site joins from the federation's current model (exported by a
/// member, fine-tuned on the site's images with `leuknode train`) instead of the seeded initialisation;
/// a restarted node keeps its own model; a file the federation cannot use is refused before the node listens.
@Suite(.serialized) struct JoinFromModelE2ETests {
    /// A safetensors file's tensors: each name's raw bytes, and all of them in file order (the model's
    /// flat parameters as little-endian float32, which is what the node's `sha256` digests).
    struct Tensors {
        var byName: [String: [UInt8]]
        var flat: [UInt8]
        var metadata: [String: String]

        init(_ path: String) throws {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            guard bytes.count >= 8 else { throw E2EFailure("\(path) is too short for safetensors") }
            let length = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            guard let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any] else {
                throw E2EFailure("\(path) has no JSON header")
            }
            metadata = header["__metadata__"] as? [String: String] ?? [:]
            var ranges: [(name: String, start: Int, end: Int)] = []
            for (name, value) in header where name != "__metadata__" {
                guard let entry = value as? [String: Any], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                    throw E2EFailure("\(path): tensor \(name) has no data_offsets")
                }
                ranges.append((name, 8 + length + offsets[0], 8 + length + offsets[1]))
            }
            ranges.sort { $0.start < $1.start }
            byName = Dictionary(uniqueKeysWithValues: ranges.map { ($0.name, Array(bytes[$0.start..<$0.end])) })
            flat = ranges.flatMap { bytes[$0.start..<$0.end] }
        }

        var sha256: String { Hex.encode(SHA256Hasher.hash(flat)) }
    }

    /// A federation member's current model, exported the way an operator hands it to a new site.
    static func exportMembersModel(_ scratch: Scratch) async throws -> String {
        let member = try await TestNode.create("member", in: scratch)
        try await member.start()
        let path = scratch.file("federation.safetensors")
        try await scratch.run(["model", "export", "--data-dir", member.dataDir, "--out", path]).checked()
        try await member.stop()
        return path
    }

    @Test func aNewNodeStartsFromTheFederationsModelAndARestartKeepsItsOwn() async throws {
        let scratch = try Scratch("join-from")
        defer { scratch.tearDown() }
        let federationModel = try await Self.exportMembersModel(scratch)

        // The new site fine-tunes it on its own few images (the federation's input path is kept).
        let images = try await synthesizeDataset(scratch, name: "site", count: 16, seed: 5, site: 2)
        let tunedModel = scratch.file("tuned.safetensors")
        let trained = try await scratch.run(["train", "--dataset", images, "--init-from", federationModel, "--epochs", "1",
                                             "--out", tunedModel], timeout: 120).checked()
        #expect(trained.stdout.contains("recipe: fine-tuned from federation.safetensors"), "\(trained.stdout)")
        let federation = try Tensors(federationModel), tuned = try Tensors(tunedModel)
        #expect(federation.flat != tuned.flat, "a training epoch must move the parameters, or this test proves nothing")

        // Joins from the tuned file: the gossip state (status) and the exported current model are the file's parameters.
        let site = try await TestNode.create("site", in: scratch)
        try await site.start(["--init-from", tunedModel, "--dataset", images, "--rounds", "0"])
        #expect(site.log.contains("starting from \(tunedModel)"), "\(site.log)")
        #expect(site.log.contains("parameters sha256 \(tuned.sha256)"), "\(site.log)")
        #expect(site.log.contains("its recipe: fine-tuned from federation.safetensors; leuknet-s at 64 px; 1 epochs"), "\(site.log)")
        #expect(try await site.status().modelSHA256 == tuned.sha256)
        let served = scratch.file("site-current.safetensors")
        try await scratch.run(["model", "export", "--data-dir", site.dataDir, "--out", served]).checked()
        let current = try Tensors(served)
        #expect(current.byName == tuned.byName, "the node's current model differs from the --init-from file")
        #expect(current.flat != federation.flat)
        try await site.stop()

        // Restarted with another file, it keeps its own stored model and says so.
        try await site.start(["--init-from", federationModel])
        #expect(site.errorLog.contains("warning: --init-from \(federationModel) ignored: the store already holds this node's own model"),
                "\(site.errorLog)")
        #expect(!site.log.contains("starting from"))
        #expect(try await site.status().modelSHA256 == tuned.sha256)
        try await site.stop()
    }

    @Test func aModelTheFederationCannotUseIsRefusedBeforeTheNodeListens() async throws {
        let scratch = try Scratch("join-from-refused")
        defer { scratch.tearDown() }
        let federationModel = try await Self.exportMembersModel(scratch)

        let images = try await synthesizeDataset(scratch, name: "site", count: 12, seed: 7, site: 1)
        let fromScratch = scratch.file("scratch.safetensors"), stained = scratch.file("stained.safetensors")
        try await scratch.run(["train", "--dataset", images, "--epochs", "1", "--out", fromScratch], timeout: 120).checked()
        try await scratch.run(["train", "--dataset", images, "--epochs", "1", "--stain-normalize", "--out", stained], timeout: 120).checked()
        let garbage = scratch.file("garbage.safetensors")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: garbage))

        let fresh = try await TestNode.create("fresh", in: scratch)
        let otherClasses = scratch.file("node-other")
        let peerPort = try Ports.free(), apiPort = try Ports.free()
        try await scratch.run(["init", "--data-dir", otherClasses, "--listen", "127.0.0.1:\(peerPort)", "--api", "127.0.0.1:\(apiPort)",
                               "--classes", "normal,blast"]).checked()

        let cases: [(dir: String, extra: [String], says: String)] = [
            (fresh.dataDir, ["--init-from", scratch.file("missing.safetensors")], "cannot read --init-from"),
            (fresh.dataDir, ["--init-from", garbage], "is not a usable model file"),
            (fresh.dataDir, ["--init-from", federationModel, "--arch", "leuknet-m"], "is a leuknet-s model; this node runs leuknet-m"),
            (otherClasses, ["--init-from", federationModel], "has the classes hem,all; this federation's classes are normal,blast"),
            (fresh.dataDir, ["--init-from", stained], "carries a stain normalisation"),
            (fresh.dataDir, ["--init-from", fromScratch], "every federation node reads them with mean 0.5,0.5,0.5 and std 0.25,0.25,0.25"),
        ]
        for (dir, extra, says) in cases {
            let result = try await scratch.run(["start", "--data-dir", dir] + extra, timeout: 60)
            #expect(result.status != 0, "`start \(extra)` started")
            #expect(result.stderr.contains(says) && result.stderr.contains("hint:"), "`start \(extra)`: \(result.stderr)")
            #expect(!result.stdout.contains("listening for peers"), "`start \(extra)`: \(result.stdout)")
        }
        // The refusals left no model behind: the node still starts from a good file.
        try await fresh.start(["--init-from", federationModel])
        #expect(try await fresh.status().modelSHA256 == (try Tensors(federationModel)).sha256)
        try await fresh.stop()
    }
}

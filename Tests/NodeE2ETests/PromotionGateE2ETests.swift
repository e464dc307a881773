import Foundation
import Testing

/// Issue 13, "done means" (gate): a real node serves only models that meet its floors on its own
/// validation split, diagnoses name the served model, and an operator's promote, rollback and pin
/// take effect at once and survive `kill -9`.
@Suite("Promotion gate on a real node", .serialized)
struct PromotionGateE2ETests {
    /// `model history --decisions --json`: the serving state and the gate's decisions.
    static func serving(_ node: TestNode, in scratch: Scratch) async throws -> JSON {
        try await scratch.run(["model", "history", "--decisions", "--json", "--limit", "200", "--data-dir", node.dataDir]).checked().json()
    }

    @Test("the gate serves what meets the floors; promote, rollback and pin act at once and survive kill -9",
          .timeLimit(.minutes(4)))
    func gateAndOperatorVerbs() async throws {
        let scratch = try Scratch("gate")
        defer { scratch.tearDown() }
        let node = try await TestNode.create("gate", in: scratch)
        let cells = try await synthesizeDataset(scratch, name: "cells", count: 240, seed: 31, site: 0)
        let floors = ["--min-sensitivity", "0.75", "--min-specificity", "0.75", "--min-validation-images", "5"]
        let flags = ["--dataset", cells, "--steps-per-round", "6", "--round-pause", "0.1", "--gossip-interval", "0.3"] + floors
        try await node.start(flags)
        let dir = ["--data-dir", node.dataDir]

        // 1. The gate serves a model once one meets the floors; every decision respects them.
        let served = try await eventually("a model to pass the floors", timeout: 150) { () -> Poll<JSON> in
            let state = try await Self.serving(node, in: scratch)
            return state["served"].isNull ? .waiting("\(state["decisions"].array.prefix(2))") : .done(state)
        }
        #expect(served["floors"]["min_sensitivity"].double == 0.75 && served["floors"]["min_images_per_class"].int == 5, "\(served["floors"])")
        for decision in served["decisions"].array {
            let figures = decision["candidate"]
            let sensitivity = try #require(figures["sensitivity"].double, "\(decision)")
            let specificity = try #require(figures["specificity"].double, "\(decision)")
            let meets = sensitivity >= 0.75 && specificity >= 0.75
            switch decision["action"].string {
            case "promoted": #expect(meets, "served below the floors: \(decision)")
            case "held": #expect(!meets || decision["reasons"].array.contains { $0.string?.contains("below the served") == true }, "\(decision)")
            default: Issue.record("the gate alone made an operator's decision: \(decision)")
            }
        }
        let firstServed = try #require(served["served"]["version"].uint64)

        // 2. A diagnosis names the served model.
        let tag = String(UUID().uuidString.prefix(8))
        let doctor = ClinicE2ETests.Person(name: "dr-\(tag)", password: "pw-\(UUID().uuidString)", sessionFile: scratch.file("dr.session"))
        for (name, role, password) in [(doctor.name, "doctor", doctor.password), ("pat-\(tag)", "patient", "pw-\(UUID().uuidString)")] {
            try await scratch.run(["user", "add", "--role", role, "--name", name, "--password-stdin"] + dir, stdin: password + "\n").checked()
        }
        try await scratch.run(["login", "--name", doctor.name, "--password-stdin"] + dir, stdin: doctor.password + "\n",
                              environment: doctor.environment).checked()
        let image = cells + "/all/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: cells + "/all").sorted().first))
        func diagnosedWith() async throws -> String? {
            let report = try await scratch.run(["diagnose", "--patient", "pat-\(tag)", image, "--json"] + dir,
                                               environment: doctor.environment).checked().json()
            return report["model_sha256"].string
        }

        // 3. Pin: the gate keeps judging but serves nothing new.
        let pinned = try await scratch.run(["model", "pin", "--json"] + dir).checked().json()
        #expect(pinned["action"].string == "pinned", "\(pinned)")
        let pinnedVersion = try #require(pinned["version"].uint64)
        let servedSHA = try #require(pinned["sha256"].string)
        #expect(try await diagnosedWith() == servedSHA)
        _ = try await eventually("the gate to judge a candidate while pinned", timeout: 60) { () -> Poll<Void> in
            let decisions = try await Self.serving(node, in: scratch)["decisions"].array
            let heldForPin = decisions.contains { $0["reasons"].array.contains { $0.string?.contains("pinned") == true } }
            return heldForPin ? .done(()) : .waiting("\(decisions.prefix(1))")
        }
        #expect(try await Self.serving(node, in: scratch)["served"]["version"].uint64 == pinnedVersion)

        // 4. Promote, by force, a candidate the gate held for the pin (the node keeps the last 20 it judged;
        // the merged model of the moment moves on with every tick, so `status`'s version may be gone by the
        // time a command names it): served at once.
        let held = try await Self.serving(node, in: scratch)["decisions"].array.first {
            $0["action"].string == "held" && $0["version"].uint64 != pinnedVersion
        }
        let heldVersion = try #require(held?["version"].uint64)
        let promoted = try await scratch.run(["model", "promote", "\(heldVersion)", "--force", "--json"] + dir).checked().json()
        #expect(promoted["action"].string == "promoted-by-operator" && promoted["version"].uint64 == heldVersion, "\(promoted)")
        #expect(try await diagnosedWith() == promoted["sha256"].string)
        let unknown = try await scratch.run(["model", "promote", "999999999"] + dir)
        #expect(unknown.status != 0 && unknown.stderr.contains("not kept"), "\(unknown.stderr)")

        // 5. Roll back: the pinned model is served again, and pinned.
        let rolled = try await scratch.run(["model", "rollback", "--json"] + dir).checked().json()
        #expect(rolled["action"].string == "rolled-back" && rolled["version"].uint64 == pinnedVersion, "\(rolled)")
        #expect(try await diagnosedWith() == servedSHA)

        // 6. kill -9 and restart: the served model, the pin and every decision are still there.
        let before = try await Self.serving(node, in: scratch)
        node.killHard()
        try await node.start(flags)
        let after = try await Self.serving(node, in: scratch)
        #expect(after["served"]["version"].uint64 == pinnedVersion)
        #expect(after["pinned"].bool == true)
        // The gate keeps judging (and holding, for the pin) between the operator's verbs.
        let actions = after["decisions"].array.compactMap { $0["action"].string }.filter { $0 != "held" }
        #expect(Array(actions.prefix(3)) == ["rolled-back", "promoted-by-operator", "pinned"], "\(actions.prefix(6))")
        #expect(after["decisions"].array.count >= before["decisions"].array.count)
        #expect(try await diagnosedWith() == servedSHA)
        #expect(firstServed <= pinnedVersion)

        // 7. Each verb is in the audit chain.
        let audit = try await scratch.run(["audit", "log", "--json", "--limit", "1000"] + dir).checked().json()
        let audited = Set(audit.array.compactMap { $0["action"].string }.filter { $0.hasPrefix("model.") })
        #expect(audited == ["model.pin", "model.promote", "model.rollback"], "\(audited)")
        try await node.stop()
    }
}

import Foundation
import LeukCore
import LeukMetrics
@testable import LeukNode
import LeukStore
import Testing

/// The served model's shell over the real store: the gate's decisions, the operator's verbs, and
/// that every one of them is still there when the store is reopened (each is a synced write).
@Suite struct ModelServingTests {
    static let good = ValidationFigures(positives: 20, truePositives: 18, negatives: 20, trueNegatives: 18, loss: 0.3)
    static let better = ValidationFigures(positives: 20, truePositives: 19, negatives: 20, trueNegatives: 19, loss: 0.2)
    /// What a sign-flipped merge looks like on the site's images: every cell called a blast.
    static let poisoned = ValidationFigures(positives: 20, truePositives: 20, negatives: 20, trueNegatives: 0, loss: 9)

    /// The fixture's model under another version, its parameters shifted so each version has its own digest.
    func model(_ node: NodeFixture, version: UInt64, shift: Float = 0) async -> ModelSnapshot {
        var snapshot = await node.federation.currentSnapshot()
        snapshot.version = version
        snapshot.parameters = snapshot.parameters.map { $0 + shift + Float(version) * 1e-3 }
        return snapshot
    }

    @Test func theGateServesWhatPassesAndNeverWhatFails() async throws {
        let node = try NodeFixture()
        let serving = try ModelServing(store: node.store, gate: PromotionGate())
        #expect(await serving.served() == nil)
        let held = try await serving.review(candidate: await model(node, version: 1), figures: Self.poisoned)
        #expect(held.action == .held)
        #expect(held.reasons.contains { $0.hasPrefix("specificity 0.0 is below the floor") })
        #expect(await serving.served() == nil)

        try await serving.review(candidate: await model(node, version: 2), figures: Self.good)
        #expect(await serving.servedVersion() == 2)
        // A poisoned merge after a good one: the good one stays served.
        try await serving.review(candidate: await model(node, version: 3), figures: Self.poisoned)
        var broken = await model(node, version: 4)
        broken.parameters[0] = .nan
        let nan = try await serving.review(candidate: broken, figures: Self.better)
        #expect(nan.reasons == ["the parameters are not all finite numbers"])
        #expect(await serving.servedVersion() == 2)
        try await serving.review(candidate: await model(node, version: 5), figures: Self.better)
        #expect(await serving.servedVersion() == 5)

        let decisions = try await serving.decisions()
        #expect(decisions.map(\.version) == [5, 4, 3, 2, 1])
        #expect(decisions.map(\.action) == [.promoted, .held, .held, .promoted, .held])
        #expect(decisions[0].servedBefore == 2 && decisions[0].served == Self.good && decisions[0].candidate == Self.better)
        #expect(decisions.allSatisfy { $0.actor == "gate" })
    }

    @Test func rollbackServesThePreviousModelAndPinsItUntilUnpinned() async throws {
        let node = try NodeFixture()
        let serving = try ModelServing(store: node.store, gate: PromotionGate())
        await #expect(throws: ServingError.nothingToRollBack) { try await serving.rollback(actor: "op") }
        await #expect(throws: ServingError.nothingServed) { try await serving.setPinned(true, actor: "op") }
        try await serving.review(candidate: await model(node, version: 2), figures: Self.good)
        try await serving.review(candidate: await model(node, version: 3), figures: Self.better)
        let rollback = try await serving.rollback(actor: "admin-1")
        #expect(rollback.action == .rolledBack && rollback.version == 2 && rollback.servedBefore == 3 && rollback.actor == "admin-1")
        #expect(await serving.servedVersion() == 2)
        #expect(await serving.pinned)
        // Pinned: a better candidate is judged but not served.
        let held = try await serving.review(candidate: await model(node, version: 4), figures: Self.better)
        #expect(held.action == .held && held.reasons == ["the served model is pinned by an operator"])
        #expect(await serving.servedVersion() == 2)
        await #expect(throws: ServingError.nothingToRollBack) { try await serving.rollback(actor: "op") }
        try await serving.setPinned(false, actor: "op")
        try await serving.review(candidate: await model(node, version: 5), figures: Self.better)
        #expect(await serving.servedVersion() == 5)
    }

    @Test func anOperatorPromotionRespectsTheFloorsUnlessForced() async throws {
        let node = try NodeFixture()
        let serving = try ModelServing(store: node.store, gate: PromotionGate())
        let bad = await model(node, version: 7)
        await #expect(throws: ServingError.self) { try await serving.promote(bad, figures: Self.poisoned, force: false, actor: "op") }
        #expect(await serving.served() == nil)
        let forced = try await serving.promote(bad, figures: Self.poisoned, force: true, actor: "op")
        #expect(forced.action == .promotedByOperator)
        #expect(forced.reasons.last == "served by the operator despite the floors (--force)")
        #expect(await serving.servedVersion() == 7)
        // The candidate's parameters are kept, so the version can be served again later.
        #expect(try await serving.kept(version: 7)?.parameters == bad.parameters)
        #expect(try await serving.kept(version: 99) == nil)
    }

    @Test func theServedModelThePinAndTheDecisionsSurviveAReopenedStore() async throws {
        let node = try NodeFixture()
        var serving = try ModelServing(store: node.store, gate: PromotionGate())
        let first = await model(node, version: 2)
        try await serving.review(candidate: first, figures: Self.good)
        try await serving.review(candidate: await model(node, version: 3), figures: Self.better)
        try await serving.rollback(actor: "op")
        try await node.restart()
        serving = try ModelServing(store: node.store, gate: PromotionGate())
        #expect(await serving.served() == first)
        #expect(await serving.servedSHA256() == first.sha256)
        #expect(await serving.pinned)
        #expect(await serving.servedFigures == Self.good)
        #expect(try await serving.decisions().map(\.action) == [.rolledBack, .promoted, .promoted])
        // The sequence continues after the reopen.
        let unpinned = try await serving.setPinned(false, actor: "op")
        #expect(unpinned.seq == 4)
    }

    @Test func theStoreKeepsABoundedNumberOfCandidates() async throws {
        let node = try NodeFixture()
        let serving = try ModelServing(store: node.store, gate: PromotionGate())
        for version in 1...(UInt64(ModelServing.keptCandidates) + 5) {
            try await serving.review(candidate: await model(node, version: version), figures: Self.poisoned)
        }
        let kept = try node.store.database.scan(prefix: NodeKeyspaces.models.key("candidate/")).count
        #expect(kept == ModelServing.keptCandidates)
        #expect(try await serving.kept(version: 1) == nil)
        #expect(try await serving.kept(version: UInt64(ModelServing.keptCandidates) + 5) != nil)
    }

    @Test func aDecisionRecordRoundTripsAndRefusesAnUnknownAction() throws {
        let decision = PromotionDecision(seq: 3, time: Timestamp(nanosecondsSinceEpoch: 1_000), action: .promotedByOperator, version: 9,
                                         sha256: String(repeating: "ab", count: 32), servedBefore: nil, candidate: Self.good,
                                         served: nil, reasons: ["a", "b"], actor: "op")
        var writer = BinaryWriter()
        decision.encode(to: &writer)
        var reader = BinaryReader(writer.bytes)
        #expect(try PromotionDecision(decoding: &reader, version: 1) == decision)
        var tampered = writer.bytes
        // The action's length prefix is 4 bytes after seq and time; overwrite the action's first byte.
        tampered[20] = UInt8(ascii: "x")
        var bad = BinaryReader(tampered)
        #expect(throws: BinaryDecodingError.self) { try PromotionDecision(decoding: &bad, version: 1) }
    }
}

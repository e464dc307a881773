public import LeukCore
public import LeukMetrics
public import LeukStore

/// What happened to the served model, one entry per decision: the gate's verdicts and the operator's
/// verbs. `leuknode model history` shows them with their figures.
public struct PromotionDecision: StoreRecord, Sendable, Equatable {
    public static let formatVersion: UInt8 = 1

    public enum Action: String, Sendable, CaseIterable {
        /// The gate served the candidate: it met every floor the site could measure.
        case promoted
        /// The gate kept the served model: the candidate failed a floor, dropped too far, or the served model is pinned.
        case held
        /// The site could measure nothing and its rule is to follow: the candidate is served unchecked.
        case followed
        /// An operator served a version (`leuknode model promote`).
        case promotedByOperator = "promoted-by-operator"
        /// An operator went back to the previously served model (`leuknode model rollback`), which also pins it.
        case rolledBack = "rolled-back"
        case pinned
        case unpinned
    }

    /// Grows by one per decision; the key orders them.
    public var seq: UInt64
    public var time: Timestamp
    public var action: Action
    /// The model the decision is about (the candidate, or the model an operator served or pinned).
    public var version: UInt64
    public var sha256: String
    /// The served model before the decision (nil: nothing was served).
    public var servedBefore: UInt64?
    /// The figures on the site's validation split; nil when the site has no split.
    public var candidate: ValidationFigures?
    public var served: ValidationFigures?
    public var reasons: [String]
    /// `gate`, or the user id of the operator or admin who acted.
    public var actor: String

    public init(seq: UInt64, time: Timestamp, action: Action, version: UInt64, sha256: String, servedBefore: UInt64?,
                candidate: ValidationFigures?, served: ValidationFigures?, reasons: [String], actor: String) {
        self.seq = seq
        self.time = time
        self.action = action
        self.version = version
        self.sha256 = sha256
        self.servedBefore = servedBefore
        self.candidate = candidate
        self.served = served
        self.reasons = reasons
        self.actor = actor
    }

    public func encode(to writer: inout BinaryWriter) {
        writer.write(seq)
        writer.write(time.nanosecondsSinceEpoch)
        writer.writeString(action.rawValue)
        writer.write(version)
        writer.writeString(sha256)
        writer.write(servedBefore != nil)
        writer.write(servedBefore ?? 0)
        ValidationFigures.encode(candidate, to: &writer)
        ValidationFigures.encode(served, to: &writer)
        writer.write(UInt32(reasons.count))
        for reason in reasons { writer.writeString(reason) }
        writer.writeString(actor)
    }

    public init(decoding reader: inout BinaryReader, version recordVersion: UInt8) throws(BinaryDecodingError) {
        seq = try reader.readUInt64("seq")
        time = Timestamp(nanosecondsSinceEpoch: try reader.readUInt64("time"))
        let name = try reader.readString("action", limit: 32)
        guard let action = Action(rawValue: name) else {
            throw BinaryDecodingError(field: "action", reason: .invalid("unknown action \(name)"))
        }
        self.action = action
        version = try reader.readUInt64("version")
        sha256 = try reader.readString("sha256", limit: 64)
        let hasServed = try reader.readBool("served_before.present")
        let servedVersion = try reader.readUInt64("served_before")
        servedBefore = hasServed ? servedVersion : nil
        candidate = try ValidationFigures.decode(from: &reader, "candidate")
        served = try ValidationFigures.decode(from: &reader, "served")
        let count = Int(try reader.readUInt32("reasons.count"))
        guard count <= 16 else { throw BinaryDecodingError(field: "reasons", reason: .tooLarge(length: count, limit: 16)) }
        reasons = []
        for _ in 0..<count { reasons.append(try reader.readString("reasons", limit: 1024)) }
        actor = try reader.readString("actor", limit: 256)
    }
}

extension ValidationFigures {
    static func encode(_ figures: ValidationFigures?, to writer: inout BinaryWriter) {
        writer.write(figures != nil)
        guard let figures else { return }
        writer.write(UInt64(figures.positives))
        writer.write(UInt64(figures.truePositives))
        writer.write(UInt64(figures.negatives))
        writer.write(UInt64(figures.trueNegatives))
        writer.write(figures.loss)
    }

    static func decode(from reader: inout BinaryReader, _ field: String) throws(BinaryDecodingError) -> ValidationFigures? {
        guard try reader.readBool(field + ".present") else { return nil }
        func count(_ name: String) throws(BinaryDecodingError) -> Int {
            let value = try reader.readUInt64(field + "." + name)
            guard value <= 1 << 32 else { throw BinaryDecodingError(field: field + "." + name, reason: .invalid("\(value) images")) }
            return Int(value)
        }
        let positives = try count("positives"), truePositives = try count("true_positives")
        let negatives = try count("negatives"), trueNegatives = try count("true_negatives")
        guard truePositives <= positives, trueNegatives <= negatives else {
            throw BinaryDecodingError(field: field, reason: .invalid("more correct calls than images"))
        }
        return ValidationFigures(positives: positives, truePositives: truePositives, negatives: negatives, trueNegatives: trueNegatives,
                                 loss: try reader.readDouble(field + ".loss"))
    }
}

/// Which model doctors diagnose with, and whether the gate may replace it: one record, written
/// synced with every change so a decision an operator was told about survives `kill -9`.
struct ServingStateRecord: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 1
    /// The served model's version; its parameters are under `served/<version>`.
    var served: UInt64?
    /// Its figures on the validation split when it was served (the drop check compares against them).
    var servedFigures: ValidationFigures?
    /// Previously served versions with their figures, oldest first, for `rollback`; their parameters are kept too.
    var previous: [Earlier]

    struct Earlier: Equatable {
        var version: UInt64
        var figures: ValidationFigures?
    }
    var pinned: Bool
    var nextSeq: UInt64

    static let empty = ServingStateRecord(served: nil, servedFigures: nil, previous: [], pinned: false, nextSeq: 1)

    func encode(to writer: inout BinaryWriter) {
        writer.write(served != nil)
        writer.write(served ?? 0)
        ValidationFigures.encode(servedFigures, to: &writer)
        writer.write(UInt32(previous.count))
        for earlier in previous {
            writer.write(earlier.version)
            ValidationFigures.encode(earlier.figures, to: &writer)
        }
        writer.write(pinned)
        writer.write(nextSeq)
    }

    init(served: UInt64?, servedFigures: ValidationFigures?, previous: [Earlier], pinned: Bool, nextSeq: UInt64) {
        self.served = served
        self.servedFigures = servedFigures
        self.previous = previous
        self.pinned = pinned
        self.nextSeq = nextSeq
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        let hasServed = try reader.readBool("served.present")
        let servedVersion = try reader.readUInt64("served")
        served = hasServed ? servedVersion : nil
        servedFigures = try ValidationFigures.decode(from: &reader, "served_figures")
        let count = Int(try reader.readUInt32("previous.count"))
        guard count <= ModelServing.keptServed else {
            throw BinaryDecodingError(field: "previous", reason: .tooLarge(length: count, limit: ModelServing.keptServed))
        }
        previous = []
        for _ in 0..<count {
            previous.append(Earlier(version: try reader.readUInt64("previous.version"),
                                    figures: try ValidationFigures.decode(from: &reader, "previous.figures")))
        }
        pinned = try reader.readBool("pinned")
        nextSeq = try reader.readUInt64("next_seq")
    }
}

/// Why an operator's verb was refused; the API answers 404 or 409 with these words.
public enum ServingError: LeukUserFacingError, Equatable {
    /// The version's parameters are not kept (only recent candidates and served models are).
    case unknownVersion(UInt64)
    /// The candidate fails the site's floors; `--force` serves it anyway.
    case failsFloors(UInt64, [String])
    /// Nothing was served before the current model.
    case nothingToRollBack
    /// The architecture or classes of the stored model differ from the node's (a changed configuration).
    case incompatible(String)
    /// Nothing is served yet, so there is nothing to pin.
    case nothingServed

    public var description: String {
        switch self {
        case let .unknownVersion(version): return "model version \(version) is not kept on this node"
        case let .failsFloors(version, reasons): return "model version \(version) fails the site's floors: " + reasons.joined(separator: "; ")
        case .nothingToRollBack: return "no earlier served model to roll back to"
        case let .incompatible(why): return "the stored model does not fit this node: \(why)"
        case .nothingServed: return "no model is served yet, so there is nothing to pin"
        }
    }

    public var hint: String? {
        switch self {
        case .unknownVersion:
            return "the node keeps the last \(ModelServing.keptCandidates) judged candidates, the last \(ModelServing.keptServed) served models and the current one; see `leuknode model history`"
        case .failsFloors: return "pass --force to serve it anyway; the decision is audited"
        case .nothingToRollBack: return "see `leuknode model history` for what has been served"
        case .incompatible: return nil
        case .nothingServed: return "serve one first with `leuknode model promote VERSION`"
        }
    }
}

/// The served model and the decisions about it: the shell around `PromotionGate`.
///
/// The node's merged model changes with every gossip mix; doctors diagnose with the *served* one,
/// which changes only when the gate passes a candidate on the site's own validation split, or when
/// an operator acts. An actor on its own thread: every change is a synced LevelDB write (blocking),
/// and check-then-write sequences (judge, then serve) run without interleaving.
public actor ModelServing {
    static let keptCandidates = 20
    static let keptServed = 10
    static let keptDecisions = 1_000
    static let stateID = "serving"

    public let gate: PromotionGate
    private let store: RecordStore
    private let clock: any WallClock
    private let executor = ThreadExecutor(name: "leuk-serving")
    private var state: ServingStateRecord
    private var servedSnapshot: ModelSnapshot? {
        didSet { servedSHA = servedSnapshot?.sha256 }
    }
    /// The served parameters' digest, computed once per served model.
    private var servedSHA: String?
    /// The newest candidate the gate judged in this run (version and parameter digest), so the same
    /// model is not judged twice: the version moves with every gossip tick even when the parameters
    /// do not (a node alone, or one whose peers are quiet).
    public private(set) var lastJudged: UInt64?
    public private(set) var lastJudgedSHA256: String?

    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public init(store: RecordStore, gate: PromotionGate, clock: any WallClock = SystemWallClock()) throws(StoreError) {
        self.store = store
        self.gate = gate
        self.clock = clock
        let state = try store.get(ServingStateRecord.self, in: NodeKeyspaces.models, id: Self.stateID) ?? .empty
        self.state = state
        servedSnapshot = try state.served.flatMap { (version) throws(StoreError) in
            try store.get(ModelSnapshot.self, in: NodeKeyspaces.models, id: Self.servedID(version))
        }
        servedSHA = servedSnapshot?.sha256  // observers do not run in an initializer
    }

    static func servedID(_ version: UInt64) -> String { "served/" + ModelRepository.padded(version) }
    static func candidateID(_ version: UInt64) -> String { "candidate/" + ModelRepository.padded(version) }
    static func decisionID(_ seq: UInt64) -> String { "decision/" + ModelRepository.padded(seq) }

    // MARK: Reading

    /// The model diagnoses use, or nil when none has been served yet.
    public func served() -> ModelSnapshot? { servedSnapshot }
    public func servedSHA256() -> String? { servedSHA }
    public func servedVersion() -> UInt64? { servedSnapshot?.version }
    public var pinned: Bool { state.pinned }
    public var servedFigures: ValidationFigures? { state.servedFigures }

    /// Decisions, newest first.
    public func decisions(limit: Int = 100) throws(StoreError) -> [PromotionDecision] {
        Array(try store.all(PromotionDecision.self, in: NodeKeyspaces.models, idPrefix: "decision/").map(\.record).reversed().prefix(limit))
    }

    /// The parameters of `version` when the node keeps them: the served model, an earlier served one,
    /// or a recently judged candidate.
    public func kept(version: UInt64) throws(StoreError) -> ModelSnapshot? {
        if let servedSnapshot, servedSnapshot.version == version { return servedSnapshot }
        if let earlier = try store.get(ModelSnapshot.self, in: NodeKeyspaces.models, id: Self.servedID(version)) { return earlier }
        return try store.get(ModelSnapshot.self, in: NodeKeyspaces.models, id: Self.candidateID(version))
    }

    /// Records the served model's figures, measured again at start-up (the validation split may have
    /// changed with the dataset), so the drop check compares like with like.
    public func refreshServedFigures(_ figures: ValidationFigures?, version: UInt64) throws(StoreError) {
        guard state.served == version, state.servedFigures != figures else { return }
        var next = state
        next.servedFigures = figures
        var batch = store.batch()
        batch.put(next, in: NodeKeyspaces.models, id: Self.stateID)
        try store.commit(batch, sync: true)
        state = next
    }

    // MARK: The gate

    /// Judges the merged model `candidate` on its figures and serves it when it passes.
    @discardableResult
    public func review(candidate: ModelSnapshot, figures: ValidationFigures?) throws(StoreError) -> PromotionDecision {
        let finite = candidate.parameters.allSatisfy(\.isFinite)
        let verdict = gate.judge(candidate: figures, served: servedSnapshot == nil ? nil : state.servedFigures, pinned: state.pinned,
                                 finite: finite)
        lastJudged = candidate.version
        lastJudgedSHA256 = candidate.sha256
        let action: PromotionDecision.Action = switch verdict.outcome {
        case .promoted: .promoted
        case .held: .held
        case .followed: .followed
        }
        return try record(action, model: candidate, figures: figures, reasons: verdict.reasons, actor: "gate",
                          serve: verdict.serves, keepCandidate: true)
    }

    // MARK: Operator verbs

    /// Serves `model` (a kept version, or the current merged one) at once. Without `force`, a model
    /// that fails the site's floors is refused; the pin is left as it is.
    @discardableResult
    public func promote(_ model: ModelSnapshot, figures: ValidationFigures?, force: Bool, actor: String) throws -> PromotionDecision {
        let verdict = gate.judge(candidate: figures, served: servedSnapshot == nil ? nil : state.servedFigures, pinned: false,
                                 finite: model.parameters.allSatisfy(\.isFinite))
        var reasons = verdict.reasons
        if !verdict.serves {
            guard force else { throw ServingError.failsFloors(model.version, verdict.reasons) }
            reasons.append("served by the operator despite the floors (--force)")
        }
        return try record(.promotedByOperator, model: model, figures: figures, reasons: reasons, actor: actor, serve: true,
                          keepCandidate: true)
    }

    /// Serves the previously served model again and pins it, so the gate does not replace it at the
    /// next round; `model pin --off` hands control back to the gate.
    @discardableResult
    public func rollback(actor: String) throws -> PromotionDecision {
        guard let earlier = state.previous.last else { throw ServingError.nothingToRollBack }
        let version = earlier.version
        guard let model = try store.get(ModelSnapshot.self, in: NodeKeyspaces.models, id: Self.servedID(version)) else {
            throw ServingError.unknownVersion(version)
        }
        return try record(.rolledBack, model: model, figures: earlier.figures, reasons: ["pinned, so the gate keeps it until `model pin --off`"],
                          actor: actor, serve: true, keepCandidate: false, rollingBack: true)
    }

    /// Pins (or unpins) the served model: while pinned, the gate judges candidates but serves none.
    @discardableResult
    public func setPinned(_ pinned: Bool, actor: String) throws -> PromotionDecision {
        guard let servedSnapshot else { throw ServingError.nothingServed }
        var next = state
        next.pinned = pinned
        let decision = PromotionDecision(seq: state.nextSeq, time: clock.now(), action: pinned ? .pinned : .unpinned,
                                         version: servedSnapshot.version, sha256: servedSnapshot.sha256, servedBefore: servedSnapshot.version,
                                         candidate: nil, served: state.servedFigures, reasons: [], actor: actor)
        next.nextSeq += 1
        var batch = store.batch()
        batch.put(next, in: NodeKeyspaces.models, id: Self.stateID)
        batch.put(decision, in: NodeKeyspaces.models, id: Self.decisionID(decision.seq))
        try store.commit(batch, sync: true)
        state = next
        try prune()
        return decision
    }

    /// Writes the decision, and when `serve`, the new served model with the state, in one synced batch.
    private func record(_ action: PromotionDecision.Action, model: ModelSnapshot, figures: ValidationFigures?, reasons: [String],
                        actor: String, serve: Bool, keepCandidate: Bool, rollingBack: Bool = false) throws(StoreError) -> PromotionDecision {
        let before = servedSnapshot?.version
        let decision = PromotionDecision(seq: state.nextSeq, time: clock.now(), action: action, version: model.version,
                                         sha256: model.sha256, servedBefore: before, candidate: figures,
                                         served: before == nil ? nil : state.servedFigures, reasons: reasons, actor: actor)
        var next = state
        next.nextSeq += 1
        var batch = store.batch()
        if keepCandidate { batch.put(model, in: NodeKeyspaces.models, id: Self.candidateID(model.version)) }
        if serve && before != model.version {
            if rollingBack {
                next.previous.removeLast()
                next.pinned = true
            } else if let before {
                next.previous.append(.init(version: before, figures: state.servedFigures))
                if next.previous.count > Self.keptServed { next.previous.removeFirst(next.previous.count - Self.keptServed) }
            }
            next.served = model.version
            next.servedFigures = figures
            batch.put(model, in: NodeKeyspaces.models, id: Self.servedID(model.version))
        } else if serve, rollingBack {
            next.pinned = true
        }
        batch.put(next, in: NodeKeyspaces.models, id: Self.stateID)
        batch.put(decision, in: NodeKeyspaces.models, id: Self.decisionID(decision.seq))
        try store.commit(batch, sync: true)
        state = next
        if serve { servedSnapshot = model }
        try prune()
        return decision
    }

    /// Keeps the store bounded: the newest candidates and decisions, and the served models rollback
    /// can reach. Reads keys only (ids end in zero-padded numbers, so key order is numeric order).
    private func prune() throws(StoreError) {
        var batch = store.batch()
        var removed = 0
        func ids(_ prefix: String) throws(StoreError) -> [String] {
            let base = NodeKeyspaces.models.key("").count
            return try store.database.scan(prefix: NodeKeyspaces.models.key(prefix)).map { String(decoding: $0.key.dropFirst(base), as: UTF8.self) }
        }
        let candidates = try ids("candidate/")
        for id in candidates.dropLast(Self.keptCandidates) {
            batch.delete(in: NodeKeyspaces.models, id: id)
            removed += 1
        }
        let reachable = Set((state.previous.map(\.version) + (state.served.map { [$0] } ?? [])).map(Self.servedID))
        for id in try ids("served/") where !reachable.contains(id) {
            batch.delete(in: NodeKeyspaces.models, id: id)
            removed += 1
        }
        let decisions = try ids("decision/")
        // Pruned in steps of a hundred, so the scan is not paid for every decision.
        if decisions.count > Self.keptDecisions + 100 {
            for id in decisions.dropLast(Self.keptDecisions) {
                batch.delete(in: NodeKeyspaces.models, id: id)
                removed += 1
            }
        }
        if removed > 0 { try store.commit(batch, sync: false) }
    }
}

// MARK: - JSON (the API's and `--json`'s shape; docs/api/openapi.yaml)

extension PromotionDecision: Encodable {
    enum CodingKeys: String, CodingKey {
        case seq, time, action, version, sha256, servedBefore = "served_before", candidate, served, reasons, actor
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seq, forKey: .seq)
        try c.encode(time.iso8601, forKey: .time)
        try c.encode(action.rawValue, forKey: .action)
        try c.encode(version, forKey: .version)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(servedBefore, forKey: .servedBefore)
        try c.encode(candidate.map(FiguresJSON.init), forKey: .candidate)
        try c.encode(served.map(FiguresJSON.init), forKey: .served)
        try c.encode(reasons, forKey: .reasons)
        try c.encode(actor, forKey: .actor)
    }
}

/// Figures with the rates a reader wants beside the counts they rest on (a rate is null without images).
struct FiguresJSON: Encodable {
    let figures: ValidationFigures

    init(_ figures: ValidationFigures) { self.figures = figures }

    enum CodingKeys: String, CodingKey {
        case positives, truePositives = "true_positives", negatives, trueNegatives = "true_negatives", loss, sensitivity, specificity
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(figures.positives, forKey: .positives)
        try c.encode(figures.truePositives, forKey: .truePositives)
        try c.encode(figures.negatives, forKey: .negatives)
        try c.encode(figures.trueNegatives, forKey: .trueNegatives)
        try c.encode(figures.loss.isFinite ? figures.loss : nil, forKey: .loss)
        try c.encode(figures.sensitivity, forKey: .sensitivity)
        try c.encode(figures.specificity, forKey: .specificity)
    }
}

/// `GET /v1/model/serving`: the served model, the pin, the site's floors and the newest decisions.
public struct ServingView: Sendable, Encodable {
    public struct Served: Sendable, Encodable {
        public var version: UInt64
        public var sha256: String
        public var figures: ValidationFigures?

        enum CodingKeys: String, CodingKey { case version, sha256, figures }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(version, forKey: .version)
            try c.encode(sha256, forKey: .sha256)
            try c.encode(figures.map(FiguresJSON.init), forKey: .figures)
        }
    }

    public var served: Served?
    public var pinned: Bool
    public var floors: PromotionFloors
    public var decisions: [PromotionDecision]

    enum CodingKeys: String, CodingKey { case served, pinned, floors, decisions }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(served, forKey: .served)
        try c.encode(pinned, forKey: .pinned)
        try c.encode(floors, forKey: .floors)
        try c.encode(decisions, forKey: .decisions)
    }
}

extension ModelServing {
    public func view(limit: Int) throws(StoreError) -> ServingView {
        ServingView(served: servedSnapshot.map { ServingView.Served(version: $0.version, sha256: $0.sha256, figures: servedFigures) },
                    pinned: pinned, floors: gate.floors, decisions: try decisions(limit: limit))
    }
}

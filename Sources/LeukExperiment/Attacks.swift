import Foundation
import LeukCore
import LeukGossip
import LeukTraining

/// What the Byzantine nodes of `simulate --byzantine K --attack NAME` do (issue 13). Every attacker is a
/// full member: it has real keys in a real deployment, follows the protocol (versions, timing, its claimed
/// sample count) and mixes what it receives; only the state it publishes after its local round is bad.
public enum ByzantineAttack: String, Sendable, Equatable, CaseIterable {
    /// The negated honest update, amplified: it trains as an honest node would and publishes
    /// `start - 4 (trained - start)`. Amplified because a plain negation is only outvoted: on a complete graph
    /// of 10 with 3 attackers the mean update is still `(7 - 3) / 10` of an honest one and the federation learns
    /// on (measured: 0.910 against 0.902 without attackers). With 4x, `7 - 3 * 4 < 0`: plain averaging walks
    /// backwards.
    case signFlip = "sign-flip"
    /// "A Little Is Enough" (Baruch, Baruch and Goldberg, NeurIPS 2019): every coordinate at the honest
    /// nodes' freshly trained mean minus `z` standard deviations, `z` from the number of nodes and attackers,
    /// so the state stays inside the honest spread and distance-based filters let it through.
    case alie
    /// The received state plus Gaussian noise of standard deviation 1 per parameter (far larger than any
    /// trained weight).
    case gaussian
    /// Trains honestly on deliberately wrong labels (`c` read as `c + 1 mod k`).
    case labelFlip = "label-flip"
    /// Replays the state it started from in round 1, every round.
    case stale
    /// Sends back the state gossip left it with, without training: a free rider.
    case freeRider = "free-rider"
}

/// The `LocalTrainer` of a simulation with attackers: honest nodes train through `SessionTrainer`; an
/// attacker's "local round" returns what its attack publishes.
struct AttackingTrainer: LocalTrainer {
    var inner: SessionTrainer
    let attackers: Set<Int>
    let attack: ByzantineAttack
    /// ALIE's `z`.
    let z: Double
    /// The honest nodes' current states, set by the runner before each round: what an omniscient attacker
    /// knows before anyone has trained.
    var honestStates: [[Float]] = []
    /// Each honest node's latest trained state, as it publishes it: ALIE's mean and spread come from these.
    /// (At a round's start a complete graph has averaged every honest node to the same point, so their spread
    /// is zero there; their freshly trained states differ by one round of local training.)
    private var trainedHonest: [Int: [Float]] = [:]
    private var replayed: [Int: [Float]] = [:]
    private var rng: SeededGenerator

    init(inner: SessionTrainer, attackers: Set<Int>, attack: ByzantineAttack, nodes: Int, seed: UInt64) {
        self.inner = inner
        self.attackers = attackers
        self.attack = attack
        z = Self.alieZ(nodes: nodes, attackers: attackers.count)
        rng = SeededGenerator(seed: seed ^ 0xBAD5_EED)
    }

    /// How much the sign-flip attacker amplifies its negated update (`ByzantineAttack.signFlip`).
    static let signFlipAmplification: Float = 4

    var lastMeanLoss: Double { inner.lastMeanLoss }

    mutating func trainStep(node: Int, round: Int, parameters: [Float]) -> LocalTrainingResult? {
        guard attackers.contains(node) else {
            let result = inner.trainStep(node: node, round: round, parameters: parameters)
            if attack == .alie, let result { trainedHonest[node] = result.parameters }
            return result
        }
        let samples = inner.sessions[node].trainingSampleCount
        switch attack {
        case .labelFlip:
            // Its session was made with `flipsLabels`.
            return inner.trainStep(node: node, round: round, parameters: parameters)
        case .signFlip:
            guard let honest = inner.trainStep(node: node, round: round, parameters: parameters) else { return nil }
            return LocalTrainingResult(parameters: zip(parameters, honest.parameters).map { start, trained in
                start - Self.signFlipAmplification * (trained - start)
            }, sampleCount: samples)
        case .alie:
            let known = trainedHonest.isEmpty ? honestStates : trainedHonest.keys.sorted().compactMap { trainedHonest[$0] }
            guard let state = Self.alie(known, z: z) else { return LocalTrainingResult(parameters: parameters, sampleCount: samples) }
            return LocalTrainingResult(parameters: state, sampleCount: samples)
        case .gaussian:
            var noisy = parameters
            for k in noisy.indices { noisy[k] += Float(rng.nextGaussian()) }
            return LocalTrainingResult(parameters: noisy, sampleCount: samples)
        case .stale:
            let old = replayed[node] ?? parameters
            replayed[node] = old
            return LocalTrainingResult(parameters: old, sampleCount: samples)
        case .freeRider:
            return LocalTrainingResult(parameters: parameters, sampleCount: samples)
        }
    }

    /// Coordinate-wise `mean - z * std` of `states` (population standard deviation); `nil` for no states.
    static func alie(_ states: [[Float]], z: Double) -> [Float]? {
        guard let first = states.first else { return nil }
        let n = Double(states.count)
        var out = [Float](repeating: 0, count: first.count)
        for k in 0..<first.count {
            var sum = 0.0, squares = 0.0
            for s in states {
                let v = Double(s[k])
                sum += v
                squares += v * v
            }
            let mean = sum / n
            let variance = max(0, squares / n - mean * mean)
            out[k] = Float(mean - z * variance.squareRoot())
        }
        return out
    }

    /// Baruch et al.'s `z_max`: with `s = floor(n / 2 + 1) - f` honest nodes the attackers must win over,
    /// `z = Phi^-1((n - s) / n)`. At least 0 (a majority of attackers needs no subtlety).
    static func alieZ(nodes n: Int, attackers f: Int) -> Double {
        let s = n / 2 + 1 - f
        let p = Double(n - s) / Double(max(n, 1))
        guard p > 0.5, p < 1 else { return p >= 1 ? 3 : 0 }
        return inverseNormal(p)
    }

    /// The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
    static func inverseNormal(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
                 -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
                 -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
                 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let low = 0.02425
        if p < low {
            let q = (-2 * Foundation.log(p)).squareRoot()
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        }
        if p > 1 - low { return -inverseNormal(1 - p) }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }

    /// Which `count` of `nodes` attack: a seeded draw, so a seed names the same attackers every time.
    static func chooseAttackers(count: Int, nodes: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<nodes)
        var rng = SeededGenerator(seed: seed ^ 0xA77A_C4E5)
        order.shuffle(using: &rng)
        return order.prefix(count).sorted()
    }
}

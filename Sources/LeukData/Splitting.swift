import LeukCore

/// Train/validation/test splits that are stratified by class and never separate a group: all crops
/// of one smear (or all images of one patient) land on the same side. Reproducible from a seed.
public enum Splitter {
    public static func split(_ dataset: Dataset, fractions: (train: Double, validation: Double, test: Double),
                             seed: UInt64) -> (train: [DatasetSample], validation: [DatasetSample], test: [DatasetSample]) {
        let weights = [fractions.train, fractions.validation, fractions.test].map { max($0, 0) }
        let total = weights.reduce(0, +)
        precondition(total > 0, "split fractions must not all be zero")
        let share = weights.map { $0 / total }

        let groups = GroupIndex(dataset.samples)
        // Stratify on each group's majority class; within a stratum, deal shuffled groups to
        // whichever side is furthest below its target, so class proportions track the fractions.
        var strata: [Int: [String]] = [:]
        for name in groups.names { strata[groups.majorityLabel(name), default: []].append(name) }
        var side: [String: Int] = [:]
        for stratum in strata.keys.sorted() {
            var rng = SeededGenerator(seed: seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(stratum + 1)))
            var names = strata[stratum]!
            names.shuffle(using: &rng)
            let stratumTotal = Double(names.reduce(0) { $0 + groups.members[$1]!.count })
            var assigned = [Double](repeating: 0, count: 3)
            for name in names {
                let size = Double(groups.members[name]!.count)
                var best = 0, bestDeficit = -Double.infinity
                for s in 0..<3 where share[s] > 0 {
                    let deficit = (share[s] * stratumTotal - assigned[s]) / (share[s] * stratumTotal)
                    if deficit > bestDeficit { best = s; bestDeficit = deficit }
                }
                assigned[best] += size
                side[name] = best
            }
        }
        var out: [[DatasetSample]] = [[], [], []]
        for sample in dataset.samples { out[side[sample.group]!].append(sample) }
        return (out[0], out[1], out[2])
    }
}

/// Samples grouped by `group`, with deterministic group order (sorted names).
struct GroupIndex {
    var names: [String]
    var members: [String: [DatasetSample]]

    init(_ samples: [DatasetSample]) {
        var members: [String: [DatasetSample]] = [:]
        for sample in samples { members[sample.group, default: []].append(sample) }
        self.members = members
        self.names = members.keys.sorted()
    }

    func majorityLabel(_ name: String) -> Int {
        var counts: [Int: Int] = [:]
        for sample in members[name]! { counts[sample.label, default: 0] += 1 }
        return counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }!.key
    }
}

/// Splits a dataset across federation nodes.
public enum Partitioner {
    /// Label skew drawn from a Dirichlet distribution, the usual non-IID benchmark setting
    /// (Hsu et al. 2019; the NIID-Bench procedure of Li et al. 2022): for each class, node shares
    /// are drawn from Dir(alpha), and nodes already holding their fair share stop receiving more.
    /// Small alpha gives strongly skewed nodes, large alpha nearly IID ones. Draws are repeated
    /// until every node has at least `minimumPerNode` images. Same seed, same partition.
    public static func dirichlet(_ dataset: Dataset, nodes: Int, alpha: Double, seed: UInt64,
                                 minimumPerNode: Int = 10) throws(DatasetError) -> [[DatasetSample]] {
        guard nodes >= 1 else { throw .partition(reason: "need at least one node") }
        guard alpha > 0, alpha.isFinite else { throw .partition(reason: "alpha must be a positive number, got \(alpha)") }
        let total = dataset.samples.count
        guard total >= nodes else { throw .partition(reason: "\(total) images cannot fill \(nodes) nodes") }
        let required = max(1, min(minimumPerNode, total / (nodes * 4)))
        var byClass = [[Int]](repeating: [], count: dataset.classes.count)
        for (i, sample) in dataset.samples.enumerated() { byClass[sample.label].append(i) }
        var rng = SeededGenerator(seed: seed)
        let fairShare = Double(total) / Double(nodes)
        for _ in 0..<1000 {
            var assignment = [[Int]](repeating: [], count: nodes)
            for members in byClass where !members.isEmpty {
                var shuffled = members
                shuffled.shuffle(using: &rng)
                var p = rng.nextDirichlet(alpha: alpha, count: nodes)
                for j in 0..<nodes where Double(assignment[j].count) >= fairShare { p[j] = 0 }
                let sum = p.reduce(0, +)
                p = sum > 0 ? p.map { $0 / sum } : Array(repeating: 1.0 / Double(nodes), count: nodes)
                var start = 0, cumulative = 0.0
                for j in 0..<nodes {
                    cumulative += p[j]
                    let end = j == nodes - 1 ? shuffled.count : min(shuffled.count, Int(cumulative * Double(shuffled.count)))
                    if end > start { assignment[j].append(contentsOf: shuffled[start..<end]) }
                    start = max(start, end)
                }
            }
            if assignment.allSatisfy({ $0.count >= required }) {
                return assignment.map { $0.sorted().map { dataset.samples[$0] } }
            }
        }
        throw .partition(reason: "no Dirichlet(\(alpha)) draw gave every one of \(nodes) nodes at least \(required) images; use a larger alpha or fewer nodes")
    }

    /// Whole groups per node, one hospital per group: with as many nodes as groups each node gets
    /// one group; with fewer nodes, groups (largest first, ties in seeded order) go to the node
    /// holding the fewest images. A group is never split.
    public static func byGroup(_ dataset: Dataset, nodes: Int, seed: UInt64) throws(DatasetError) -> [[DatasetSample]] {
        guard nodes >= 1 else { throw .partition(reason: "need at least one node") }
        let groups = GroupIndex(dataset.samples)
        guard groups.names.count >= nodes else {
            throw .partition(reason: "\(groups.names.count) group(s) cannot fill \(nodes) nodes without splitting a group")
        }
        var rng = SeededGenerator(seed: seed)
        var order = groups.names
        order.shuffle(using: &rng)
        let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        order.sort { a, b in
            let (ca, cb) = (groups.members[a]!.count, groups.members[b]!.count)
            return ca != cb ? ca > cb : rank[a]! < rank[b]!
        }
        var nodeOf: [String: Int] = [:]
        var load = [Int](repeating: 0, count: nodes)
        for name in order {
            let target = load.indices.min { load[$0] < load[$1] || (load[$0] == load[$1] && $0 < $1) }!
            nodeOf[name] = target
            load[target] += groups.members[name]!.count
        }
        var out = [[DatasetSample]](repeating: [], count: nodes)
        for sample in dataset.samples { out[nodeOf[sample.group]!].append(sample) }
        return out
    }
}

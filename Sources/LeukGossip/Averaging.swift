/// The mixing weights and the vector measures shared by the instance, the simulator and the tests.
public enum MetropolisHastings {
    /// The weight node i gives neighbour j: `min(1 / (1 + d_i), n_j / (n_i * (1 + d_j)))`.
    ///
    /// With equal sample counts this is the classic Metropolis-Hastings weight `1 / (1 + max(d_i, d_j))`
    /// (Xiao and Boyd 2004). In general `n_i * W_ij = min(n_i / (1 + d_i), n_j / (1 + d_j))` is symmetric,
    /// so the mixing matrix is reversible with stationary distribution proportional to the sample counts:
    /// repeated mixing converges to the sample-weighted mean. Each row's neighbour weights sum to at
    /// most `d_i / (1 + d_i)`, so the self weight is at least `1 / (1 + d_i)` (the chain is lazy and
    /// aperiodic). Sample counts below 1 count as 1.
    public static func weight(ownSamples: Int, ownDegree: Int, peerSamples: Int, peerDegree: Int) -> Double {
        let ni = Double(max(ownSamples, 1)), nj = Double(max(peerSamples, 1))
        return min(1 / Double(1 + max(ownDegree, 0)), nj / (ni * Double(1 + max(peerDegree, 0))))
    }

    /// The weight when both ends report their neighbourhood's samples `N = n + sum of neighbours' n`:
    /// `n_j / max(N_i, N_j)`.
    ///
    /// Why: the degree-based weight above is exact in one step only when the counts are equal. Under
    /// label skew the sites hold very different numbers of images (Dirichlet shares), and on a
    /// complete graph it then needs many rounds to agree. Here `n_i W_ij = n_i n_j / max(N_i, N_j)` is
    /// symmetric (the sample-weighted mean is kept), each row's neighbour weights sum to at most
    /// `(N_i - n_i) / N_i < 1`, and on a complete graph every `N` is the federation's total, so one
    /// synchronous step lands every node on the sample-weighted mean. With equal counts it is the
    /// classic `1 / (1 + max(d_i, d_j))`.
    public static func weight(peerSamples: Int, ownNeighborhood: Int, peerNeighborhood: Int) -> Double {
        Double(max(peerSamples, 1)) / Double(max(ownNeighborhood, peerNeighborhood, 1))
    }

    /// The synchronous mixing matrix of a graph (adjacency lists) with per-node sample counts: what
    /// one round of the protocol computes when every state arrives in time (every node reports its
    /// neighbourhood; an edge whose two ends report the same total uses the neighbourhood-sum weight).
    public static func mixingMatrix(adjacency: [[Int]], sampleCounts: [Int]) -> [[Double]] {
        let n = adjacency.count
        var w = Array(repeating: Array(repeating: 0.0, count: n), count: n)
        let neighborhood = (0..<n).map { i in
            max(sampleCounts[i], 1) + adjacency[i].filter { $0 != i }.reduce(0) { $0 + max(sampleCounts[$1], 1) }
        }
        for i in 0..<n {
            var rowSum = 0.0
            for j in adjacency[i] where j != i {
                let wij = neighborhood[i] == neighborhood[j]
                    ? weight(peerSamples: sampleCounts[j], ownNeighborhood: neighborhood[i], peerNeighborhood: neighborhood[j])
                    : weight(ownSamples: sampleCounts[i], ownDegree: adjacency[i].count,
                             peerSamples: sampleCounts[j], peerDegree: adjacency[j].count)
                w[i][j] = wij
                rowSum += wij
            }
            w[i][i] = 1 - rowSum
        }
        return w
    }
}

/// Distances between parameter vectors.
public enum ParameterMath {
    /// A 64-bit digest of the exact bit patterns (FNV-1a over 32-bit words, then a 64-bit finaliser): what the
    /// gossip core recognises a peer's earlier state by. Not cryptographic, and it need not be: digests are kept
    /// per peer, so a forged collision could only make the forger's own state look replayed.
    public static func digest(_ a: [Float]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        a.withUnsafeBufferPointer { pa in
            for k in 0..<pa.count { h = (h ^ UInt64(pa[k].bitPattern)) &* 0x0000_0100_0000_01b3 }
        }
        h ^= UInt64(a.count)
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    /// Euclidean norm.
    public static func norm(_ a: [Float]) -> Double {
        var sum = 0.0
        a.withUnsafeBufferPointer { pa in
            for k in 0..<pa.count { sum += Double(pa[k]) * Double(pa[k]) }
        }
        return sum.squareRoot()
    }

    /// Euclidean distance; the vectors must have equal length.
    public static func distance(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "distance between vectors of \(a.count) and \(b.count) parameters")
        var sum = 0.0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for k in 0..<pa.count {
                    let d = Double(pa[k]) - Double(pb[k])
                    sum += d * d
                }
            }
        }
        return sum.squareRoot()
    }

    /// The mean of the vectors, each weighted (by sample count, say). `nil` for no vectors.
    public static func weightedMean(_ vectors: [[Float]], weights: [Double]) -> [Double]? {
        guard let first = vectors.first, vectors.count == weights.count else { return nil }
        var mean = [Double](repeating: 0, count: first.count)
        let total = weights.reduce(0, +)
        guard total > 0 else { return nil }
        mean.withUnsafeMutableBufferPointer { m in
            for (v, w) in zip(vectors, weights) {
                precondition(v.count == m.count, "weighted mean of vectors of unequal length")
                let share = w / total
                v.withUnsafeBufferPointer { x in
                    for k in 0..<x.count { m[k] += share * Double(x[k]) }
                }
            }
        }
        return mean
    }

    /// True when every value is finite (no NaN, no infinity).
    public static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { buffer in
            for v in buffer where !v.isFinite { return false }
            return true
        }
    }

    /// Consensus distance (as in Kong et al. 2021): `sqrt(1/n * sum_i |x_i - mean|^2)` with the plain mean.
    /// Zero when every vector agrees.
    public static func consensusDistance(_ vectors: [[Float]]) -> Double {
        guard let mean = weightedMean(vectors, weights: Array(repeating: 1, count: vectors.count)) else { return 0 }
        return rootMeanSquareDistance(vectors, to: mean)
    }

    /// `sqrt(1/n * sum_i |x_i - target|^2)`.
    public static func rootMeanSquareDistance(_ vectors: [[Float]], to target: [Double]) -> Double {
        guard !vectors.isEmpty else { return 0 }
        var sum = 0.0
        target.withUnsafeBufferPointer { t in
            for v in vectors {
                precondition(v.count == t.count, "distance between vectors of \(v.count) and \(t.count) parameters")
                v.withUnsafeBufferPointer { x in
                    for k in 0..<x.count {
                        let d = Double(x[k]) - t[k]
                        sum += d * d
                    }
                }
            }
        }
        return (sum / Double(vectors.count)).squareRoot()
    }
}

/// The robust mixing rules' arithmetic, apart from the instance so that tests can check it exactly.
public enum RobustMixing {
    /// One coordinate-wise trimmed-mean step (`ClippingRule.trimmedMean`): the change to `reference` and how
    /// many neighbours had at least one coordinate dropped.
    ///
    /// For each parameter `k` the differences `d_j = states[j][k] - reference[k]` are sorted; the `trim`
    /// smallest and `trim` largest are dropped, and the step is `sum_kept w_j d_j * (sum_all w_j / sum_kept w_j)`:
    /// the kept neighbours carry the whole neighbour weight, so `trim == 0` is the plain weighted step. With
    /// fewer than `2 * trim + 1` states there is no honest majority to keep, and the step is zero: the node
    /// keeps its own state.
    public static func trimmedMeanStep(reference: [Float], states: [[Float]], weights: [Double], trim: Int)
        -> (delta: [Double], trimmedPeers: Int) {
        precondition(states.count == weights.count, "one weight per state")
        let count = states.count
        var delta = [Double](repeating: 0, count: reference.count)
        guard count > 2 * trim else { return (delta, trim > 0 ? count : 0) }
        let total = weights.reduce(0, +)
        var touched = [Bool](repeating: false, count: count)
        var column = [(value: Double, peer: Int)](repeating: (0, 0), count: count)
        for k in 0..<reference.count {
            let own = Double(reference[k])
            for j in 0..<count { column[j] = (Double(states[j][k]) - own, j) }
            if trim > 0 { column.sort { $0.value < $1.value || ($0.value == $1.value && $0.peer < $1.peer) } }
            var sum = 0.0, kept = 0.0
            for position in 0..<count {
                let entry = column[position]
                if position < trim || position >= count - trim {
                    touched[entry.peer] = true
                    continue
                }
                sum += weights[entry.peer] * entry.value
                kept += weights[entry.peer]
            }
            delta[k] = kept > 0 ? sum * total / kept : 0
        }
        return (delta, touched.filter { $0 }.count)
    }
}

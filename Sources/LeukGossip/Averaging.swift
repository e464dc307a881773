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

    /// The synchronous mixing matrix of a graph (adjacency lists) with per-node sample counts: what
    /// one round of the protocol computes when every state arrives in time.
    public static func mixingMatrix(adjacency: [[Int]], sampleCounts: [Int]) -> [[Double]] {
        let n = adjacency.count
        var w = Array(repeating: Array(repeating: 0.0, count: n), count: n)
        for i in 0..<n {
            var rowSum = 0.0
            for j in adjacency[i] where j != i {
                let wij = weight(ownSamples: sampleCounts[i], ownDegree: adjacency[i].count,
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

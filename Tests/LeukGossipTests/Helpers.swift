import LeukCore
@testable import LeukGossip

/// A node id for tests: `index` in the first byte.
func testID(_ index: UInt8) -> NodeID { NodeID(bytes: [index] + Array(repeating: 0xA5, count: 31))! }

func at(_ seconds: Double) -> Timestamp { Timestamp(nanosecondsSinceEpoch: UInt64(1_000_000_000_000 + seconds * 1e9)) }

func state(from author: NodeID, version: UInt64, parameters: [Float], samples: Int = 1, degree: Int = 1) -> GossipMessage {
    GossipMessage(author: author, version: version, round: version, sampleCount: samples, degree: degree, parameters: parameters)
}

func gaussianVectors(count: Int, width: Int, seed: UInt64, offset: Float = 0) -> [[Float]] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (0..<width).map { _ in offset + Float(rng.nextGaussian()) } }
}

/// Eigenvalues of a symmetric matrix by the cyclic Jacobi method: exact enough for a 64x64 mixing
/// matrix and independent of the code under test.
func symmetricEigenvalues(_ matrix: [[Double]]) -> [Double] {
    var a = matrix
    let n = a.count
    for _ in 0..<100 {
        var off = 0.0
        for p in 0..<n { for q in (p + 1)..<n { off += a[p][q] * a[p][q] } }
        if off < 1e-22 { break }
        for p in 0..<n {
            for q in (p + 1)..<n where abs(a[p][q]) > 1e-300 {
                let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {
                    let akp = a[k][p], akq = a[k][q]
                    a[k][p] = c * akp - s * akq
                    a[k][q] = s * akp + c * akq
                }
                for k in 0..<n {
                    let apk = a[p][k], aqk = a[q][k]
                    a[p][k] = c * apk - s * aqk
                    a[q][k] = s * apk + c * aqk
                }
            }
        }
    }
    return (0..<n).map { a[$0][$0] }
}

/// Second-largest eigenvalue modulus of a mixing matrix reversible with respect to `weights`
/// (computed on the symmetrised `D^1/2 W D^-1/2`, which has the same spectrum).
func secondLargestEigenvalueModulus(_ w: [[Double]], weights: [Double]) -> Double {
    let n = w.count
    let total = weights.reduce(0, +)
    let pi = weights.map { $0 / total }
    var s = w
    for i in 0..<n { for j in 0..<n { s[i][j] = (pi[i] / pi[j]).squareRoot() * w[i][j] } }
    // Symmetrise away rounding so Jacobi sees an exactly symmetric matrix.
    for i in 0..<n { for j in (i + 1)..<n { let m = (s[i][j] + s[j][i]) / 2; s[i][j] = m; s[j][i] = m } }
    let moduli = symmetricEigenvalues(s).map(abs).sorted(by: >)
    return moduli[1]
}

/// Runs until the consensus distance is at most `fraction` of `reference`; returns the round reached, or nil.
func roundsUntilConsensus(_ sim: inout GossipSimulator, fraction: Double, of reference: Double, maxRounds: Int) -> Int? {
    for _ in 0..<maxRounds {
        let stats = sim.runRound()
        if stats.consensusDistance <= fraction * reference { return stats.round }
    }
    return nil
}

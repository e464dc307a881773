/// How much each class weighs in a federation's averaged gradient, and the weights that balance it for the
/// sites that miss a class (`ClassBalance.adaptive`).
///
/// Why: gossip averages the sites' models by training images, and each site's loss is a class-weighted mean,
/// so class `c` enters the federation's step with the mass `sum_j n_j * E_j[w_jc * 1{label = c}]` (site `j`'s
/// images times the share of its sampled stream in class `c` times its weight for `c`). A site that holds
/// every class balances its own mix, and its masses are equal, unless its rare class hits the oversampling
/// limit or the weight range (2 normal cells beside 436 blasts: their weight stops at 5 where balance would
/// need 109). A site that misses a class cannot balance itself; it picks the weights that make the
/// neighbourhood's masses equal, given what the self-balanced sites put in. Weighting it by the whole
/// federation's mix instead (the rule before) counted its class about three times as much as a self-balanced
/// site's beside self-balanced sites, and the federation leaned to that class (docs/results.md, "One-class
/// sites balance the neighbourhood's class masses").
public enum ClassMasses {
    /// A self-balancing site repeats a rare class's images at most this often in its sampling order.
    public static let maximumRepeat = 4

    /// The per-class sums of several sites' counts (negative counts as 0), saturating at `Int.max`: the counts
    /// come from peers, and a peer's can be as large as the wire allows.
    public static func pooled(_ sites: [[Int]], classes: Int) -> [Int] {
        var total = [Int](repeating: 0, count: classes)
        for counts in sites where counts.count == classes {
            for c in 0..<classes {
                let (sum, overflow) = total[c].addingReportingOverflow(max(counts[c], 0))
                total[c] = overflow ? Int.max : sum
            }
        }
        return total
    }

    /// How often a self-balancing site with `counts` images per class repeats each class's images: towards the
    /// largest class, at most `maximumRepeat` times, at least once.
    public static func repeats(counts: [Int], maximumRepeat: Int = maximumRepeat) -> [Int] {
        let largest = counts.max() ?? 0
        return counts.map { count in Int(min(Double(maximumRepeat), max(1, (Double(largest) / Double(max(count, 1))).rounded(.down)))) }
    }

    /// The per-class masses a site holding `counts` images adds to the federation's step when it balances
    /// its own mix (oversampling, then the balanced weights of the oversampled stream, clipped to `range`):
    /// `n * stream_c / stream * w_c`. Equal for every class it holds unless the clipping bites.
    public static func selfBalanced(counts: [Int], range: ClosedRange<Float>) -> [Double] {
        // In doubles throughout: the counts come from peers, and a peer's can be as large as the wire allows.
        let images = counts.reduce(0.0) { $0 + Double(max($1, 0)) }
        let stream = zip(counts, repeats(counts: counts)).map { Double(max($0, 0)) * Double($1) }
        let streamTotal = stream.reduce(0, +)
        let present = Double(stream.filter { $0 > 0 }.count)
        guard images > 0, streamTotal > 0 else { return counts.map { _ in 0 } }
        // The balanced weights of the oversampled stream, as `FederatedTrainingSession.balancedWeights` gives them.
        return stream.map { count in
            guard count > 0 else { return 0 }
            let weight = min(max(streamTotal / (present * count), Double(range.lowerBound)), Double(range.upperBound))
            return images * count / streamTotal * weight
        }
    }

    /// The class weights every site that misses a class uses, so that the classes weigh the same in the
    /// neighbourhood's step: with `S_c` the self-balanced sites' masses and `O_c` the images of class `c` at the
    /// sites that miss a class (`missing`, the node's own counts among them), `w_c = (T - S_c) / O_c` with `T`
    /// the mean mass per class `(sum S + sum O) / K`, clipped to `range`. A class no such site holds gets the
    /// top of the range (no image of it is weighted). With no self-balanced site it is the balanced weight of
    /// the pooled counts (`n / (K n_c)`), the `.federation` rule; with one one-class site beside self-balanced
    /// ones it is `1 / K`, the weight a self-balanced site of its size gives its class.
    public static func missingClassWeights(missing: [[Int]], selfBalanced balanced: [[Int]], range: ClosedRange<Float>) -> [Float] {
        let classes = (missing + balanced).map(\.count).max() ?? 0
        let pooled = pooled(missing, classes: classes)
        var masses = [Double](repeating: 0, count: classes)
        // No self-balanced site: exactly the pooled counts' balanced weights (the `.federation` rule's arithmetic).
        guard !balanced.isEmpty else { return FederatedTrainingSession.balancedWeights(counts: pooled, range: range) }
        for counts in balanced where counts.count == classes {
            for (c, mass) in selfBalanced(counts: counts, range: range).enumerated() { masses[c] += mass }
        }
        let held = pooled.map(Double.init)
        let present = (0..<classes).filter { held[$0] > 0 || masses[$0] > 0 }.count
        guard present > 0 else { return Array(repeating: 1, count: classes) }
        let target = (held.reduce(0, +) + masses.reduce(0, +)) / Double(present)
        return (0..<classes).map { c in
            guard held[c] > 0 else { return range.upperBound }
            return min(max(Float((target - masses[c]) / held[c]), range.lowerBound), range.upperBound)
        }
    }
}

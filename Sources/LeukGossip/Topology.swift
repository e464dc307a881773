public import LeukCore

/// Who gossips with whom in a simulation (adjacency lists over node indices 0..<n).
public enum GossipTopology: Sendable, Equatable, CustomStringConvertible {
    /// Each node linked to its two ring neighbours.
    case ring
    /// A connected random graph in which every node has exactly `degree` neighbours.
    case randomRegular(degree: Int)
    /// Everyone linked to everyone.
    case full

    public var description: String {
        switch self {
        case .ring: return "ring"
        case let .randomRegular(degree): return "random-\(degree)"
        case .full: return "full"
        }
    }

    /// Parses the `--topology` spelling: `ring`, `full` or `random-K`.
    public init?(parsing text: String) {
        switch text {
        case "ring": self = .ring
        case "full": self = .full
        default:
            guard text.hasPrefix("random-"), let k = Int(text.dropFirst("random-".count)), k > 0 else { return nil }
            self = .randomRegular(degree: k)
        }
    }

    /// Why this topology cannot be built on `nodeCount` nodes, or `nil` when it can.
    public func problem(nodeCount: Int) -> String? {
        if nodeCount < 2 { return "a federation needs at least 2 nodes, got \(nodeCount)" }
        if case let .randomRegular(k) = self {
            if k >= nodeCount { return "random-\(k) needs more than \(k) nodes, got \(nodeCount)" }
            if (k * nodeCount) % 2 != 0 { return "random-\(k) on \(nodeCount) nodes is impossible: degree times nodes must be even" }
        }
        return nil
    }

    /// Adjacency lists, sorted. Random graphs are drawn from `rng` (pairing model, redrawn until simple
    /// and connected). Precondition: `problem(nodeCount:) == nil`.
    public func adjacency(nodeCount n: Int, rng: inout SeededGenerator) -> [[Int]] {
        precondition(problem(nodeCount: n) == nil, problem(nodeCount: n) ?? "")
        switch self {
        case .ring:
            if n == 2 { return [[1], [0]] }
            return (0..<n).map { [($0 + n - 1) % n, ($0 + 1) % n].sorted() }
        case .full:
            return (0..<n).map { i in (0..<n).filter { $0 != i } }
        case let .randomRegular(k):
            while true {
                if let graph = Self.randomRegularAttempt(n: n, k: k, rng: &rng), Self.isConnected(graph) {
                    return graph
                }
            }
        }
    }

    /// One pairing-model draw with a greedy repair of self-loops and double edges; `nil` when stuck.
    private static func randomRegularAttempt(n: Int, k: Int, rng: inout SeededGenerator) -> [[Int]]? {
        var stubs = (0..<n).flatMap { Array(repeating: $0, count: k) }
        var neighbours = Array(repeating: Set<Int>(), count: n)
        while !stubs.isEmpty {
            var paired = false
            for _ in 0..<100 {
                let a = Int(rng.next() % UInt64(stubs.count))
                let b = Int(rng.next() % UInt64(stubs.count))
                let u = stubs[a], v = stubs[b]
                guard a != b, u != v, !neighbours[u].contains(v) else { continue }
                neighbours[u].insert(v)
                neighbours[v].insert(u)
                for index in [a, b].sorted(by: >) { stubs.remove(at: index) }
                paired = true
                break
            }
            if !paired { return nil }
        }
        return neighbours.map { $0.sorted() }
    }

    static func isConnected(_ adjacency: [[Int]]) -> Bool {
        guard !adjacency.isEmpty else { return true }
        var seen = Set([0]), stack = [0]
        while let node = stack.popLast() {
            for next in adjacency[node] where !seen.contains(next) {
                seen.insert(next)
                stack.append(next)
            }
        }
        return seen.count == adjacency.count
    }
}

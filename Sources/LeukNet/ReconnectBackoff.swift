/// How long to wait before redialling a peer: exponential growth with a cap, and jitter so that
/// nodes that lost each other at the same instant do not all redial at the same instant again.
/// Pure: the random generator comes in, so tests and simulations replay exactly.
public struct ReconnectBackoff: Sendable, Equatable {
    /// The ceiling of the first retry.
    public var initial: Duration
    /// No wait ever exceeds this.
    public var maximum: Duration
    /// Growth of the ceiling per failed attempt.
    public var multiplier: Double
    /// Fraction of the ceiling that is randomised: the wait lies in `[ceiling * (1 - jitter), ceiling]`.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(60), multiplier: Double = 2, jitter: Double = 0.5) {
        precondition(initial > .zero && maximum >= initial && multiplier >= 1 && (0...1).contains(jitter), "invalid backoff parameters")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The ceiling for `attempt` (0 for the first retry), before jitter.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let initialSeconds = Self.seconds(initial)
        let maximumSeconds = Self.seconds(maximum)
        // Stop multiplying once past the cap, so huge attempt numbers cannot overflow.
        var value = initialSeconds
        var step = 0
        while step < attempt && value < maximumSeconds {
            value *= multiplier
            step += 1
        }
        return .nanoseconds(Int64(min(value, maximumSeconds) * 1e9))
    }

    /// The wait before retry number `attempt`.
    public func delay(forAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let ceilingSeconds = Self.seconds(ceiling(forAttempt: max(0, attempt)))
        let u = Double.random(in: 0..<1, using: &generator)
        return .nanoseconds(Int64(ceilingSeconds * (1 - jitter * u) * 1e9))
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) / 1e18
    }
}

import LeukCore
import LeukNet
import Testing

@Suite struct ReconnectBackoffTests {
    let backoff = ReconnectBackoff(initial: .milliseconds(500), maximum: .seconds(60), multiplier: 2, jitter: 0.5)

    @Test func ceilingGrowsExponentiallyUpToTheCap() {
        #expect(backoff.ceiling(forAttempt: 0) == .milliseconds(500))
        #expect(backoff.ceiling(forAttempt: 1) == .seconds(1))
        #expect(backoff.ceiling(forAttempt: 3) == .seconds(4))
        #expect(backoff.ceiling(forAttempt: 7) == .seconds(60))
        #expect(backoff.ceiling(forAttempt: 1_000_000) == .seconds(60))
    }

    @Test func jitteredDelaysStayInTheirWindowAndVary() {
        var rng = SeededGenerator(seed: 1)
        for attempt in 0..<12 {
            let ceiling = backoff.ceiling(forAttempt: attempt)
            var seen = Set<Duration>()
            for _ in 0..<50 {
                let d = backoff.delay(forAttempt: attempt, using: &rng)
                #expect(d <= ceiling)
                #expect(d >= ceiling / 2)
                seen.insert(d)
            }
            #expect(seen.count > 10, "jitter spreads redials")
        }
    }

    @Test func sameSeedSameSchedule() {
        var a = SeededGenerator(seed: 99), b = SeededGenerator(seed: 99)
        let first = (0..<10).map { backoff.delay(forAttempt: $0, using: &a) }
        let second = (0..<10).map { backoff.delay(forAttempt: $0, using: &b) }
        #expect(first == second)
    }

    @Test func noJitterIsExactlyTheCeiling() {
        var rng = SeededGenerator(seed: 3)
        let exact = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), multiplier: 3, jitter: 0)
        #expect((0..<4).map { exact.delay(forAttempt: $0, using: &rng) } == [.seconds(1), .seconds(3), .seconds(8), .seconds(8)])
    }
}

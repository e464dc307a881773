/// Wall-clock time as nanoseconds since the Unix epoch.
///
/// Protocol cores take time as an argument instead of reading a clock, so simulations replay exactly;
/// this is the value they are handed.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: UInt64

    public init(nanosecondsSinceEpoch: UInt64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }
    /// Clamped to what 64 bits of nanoseconds hold (1970 to about 2554), so hostile input cannot trap.
    public init(secondsSinceEpoch: Double) {
        let nanos = secondsSinceEpoch * 1_000_000_000
        if !(nanos > 0) {
            nanosecondsSinceEpoch = 0
        } else if nanos >= 18_446_744_073_709_549_568 {
            nanosecondsSinceEpoch = UInt64.max
        } else {
            nanosecondsSinceEpoch = UInt64(nanos)
        }
    }

    public var secondsSinceEpoch: Double { Double(nanosecondsSinceEpoch) / 1_000_000_000 }
    public static let zero = Timestamp(nanosecondsSinceEpoch: 0)

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.nanosecondsSinceEpoch < b.nanosecondsSinceEpoch }

    public func adding(_ duration: Duration) -> Timestamp {
        let (seconds, attoseconds) = duration.components
        let nanos = Int64(seconds) * 1_000_000_000 + attoseconds / 1_000_000_000
        if nanos >= 0 { return Timestamp(nanosecondsSinceEpoch: nanosecondsSinceEpoch &+ UInt64(nanos)) }
        let back = UInt64(-nanos)
        return Timestamp(nanosecondsSinceEpoch: nanosecondsSinceEpoch > back ? nanosecondsSinceEpoch - back : 0)
    }

    /// The duration from `earlier` to this instant, zero when `earlier` is later.
    public func since(_ earlier: Timestamp) -> Duration {
        guard nanosecondsSinceEpoch > earlier.nanosecondsSinceEpoch else { return .zero }
        return .nanoseconds(Int64(nanosecondsSinceEpoch - earlier.nanosecondsSinceEpoch))
    }

    public var description: String { String(format: "%.3f", secondsSinceEpoch) }
}

/// A source of wall-clock time, injected so that tests and simulations control it.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The real clock, for the executable and real-node tests.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(nanosecondsSinceEpoch: UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec))
    }
}

/// Monotonic nanoseconds, for measuring durations (latency, throughput), never for timestamps.
public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import Foundation

extension Timestamp {
    /// ISO 8601 in UTC with seconds: the one date format of every JSON output and log line.
    public var iso8601: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: secondsSinceEpoch))
    }

    /// Parses ISO 8601 with or without fractional seconds; `nil` for anything else.
    public init?(iso8601 text: String) {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = plain.date(from: text) ?? fractional.date(from: text) else { return nil }
        self.init(secondsSinceEpoch: date.timeIntervalSince1970)
    }
}

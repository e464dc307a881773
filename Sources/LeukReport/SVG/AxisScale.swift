internal import Foundation

/// One tick on an axis: the data value, its label (empty for unlabelled minor ticks), and whether it
/// is a major tick that also draws a grid line.
public struct AxisTick: Sendable, Hashable {
    public var value: Double
    public var label: String
    /// For log axes, the decade exponent (label rendered as 10 with a superscript); `nil` otherwise.
    public var exponent: Int?
    public var isMajor: Bool
}

/// Maps data values to a fraction of the axis length (0 at the low end, 1 at the high end) and
/// chooses readable ticks: multiples of 1, 2 or 5 times a power of ten on a linear axis, whole decades
/// on a log axis.
public struct AxisScale: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case linear, log10 }

    public let kind: Kind
    /// Axis ends in data units (for log axes, the powers of ten at the ends).
    public let lower: Double
    public let upper: Double
    public let ticks: [AxisTick]

    /// A linear axis covering `minimum...maximum`, widened to whole tick steps. With
    /// `integerSteps`, steps are at least 1 (round numbers on the x axis).
    public static func linear(minimum: Double, maximum: Double, targetTickCount: Int = 6,
                              integerSteps: Bool = false) -> AxisScale {
        var low = minimum.isFinite ? minimum : 0
        var high = maximum.isFinite ? maximum : 1
        if low > high { swap(&low, &high) }
        if high - low < 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        var step = niceStep((high - low) / Double(max(targetTickCount - 1, 1)))
        if integerSteps { step = max(step.rounded(.up), 1) }
        let first = (low / step).rounded(.down) * step
        let last = (high / step).rounded(.up) * step
        let decimals = max(0, Int((-log10Floor(step)).rounded(.up)))
        var ticks: [AxisTick] = []
        var index = 0
        while true {
            let value = first + Double(index) * step
            if value > last + step * 1e-9 { break }
            let clean = abs(value) < step * 1e-9 ? 0 : value
            ticks.append(AxisTick(value: clean, label: SVGNumber.fixed(clean, decimals: decimals), exponent: nil, isMajor: true))
            index += 1
        }
        return AxisScale(kind: .linear, lower: first, upper: last, ticks: ticks)
    }

    /// A base-10 log axis spanning whole decades around the positive values in
    /// `minimum...maximum`. Each decade is a labelled major tick; with six decades or fewer the
    /// values 2...9 times each decade are unlabelled minor ticks.
    public static func log10(minimum: Double, maximum: Double) -> AxisScale {
        var low = minimum > 0 && minimum.isFinite ? minimum : 1e-3
        var high = maximum > 0 && maximum.isFinite ? maximum : 1
        if low > high { swap(&low, &high) }
        var lowExponent = Int(log10Floor(low))
        var highExponent = Int(log10Ceil(high))
        if lowExponent == highExponent {
            lowExponent -= 1
            highExponent += 1
        }
        var ticks: [AxisTick] = []
        let showMinor = highExponent - lowExponent <= 6
        for exponent in lowExponent...highExponent {
            let decade = power10(exponent)
            ticks.append(AxisTick(value: decade, label: "10^\(exponent)", exponent: exponent, isMajor: true))
            if showMinor && exponent < highExponent {
                for multiple in 2...9 {
                    ticks.append(AxisTick(value: Double(multiple) * decade, label: "", exponent: nil, isMajor: false))
                }
            }
        }
        return AxisScale(kind: .log10, lower: power10(lowExponent), upper: power10(highExponent), ticks: ticks)
    }

    /// Where `value` falls along the axis, 0 at `lower` and 1 at `upper`; `nil` for a value a log
    /// axis cannot show (zero, negative, not finite).
    public func fraction(of value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch kind {
        case .linear:
            return (value - lower) / (upper - lower)
        case .log10:
            guard value > 0 else { return nil }
            let low = decimalLogarithm(lower), high = decimalLogarithm(upper)
            return (decimalLogarithm(value) - low) / (high - low)
        }
    }

    /// 1, 2 or 5 times a power of ten, the smallest not below `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = power10(Int(log10Floor(raw)))
        for multiple in [1.0, 2, 5, 10] where multiple * magnitude >= raw * (1 - 1e-9) {
            return multiple * magnitude
        }
        return 10 * magnitude
    }

    /// Exact powers of ten (repeated multiplication drifts; 1e-3 must be 0.001 to the last bit).
    static func power10(_ exponent: Int) -> Double {
        Double("1e\(exponent)") ?? 1
    }

    static func log10Floor(_ value: Double) -> Double {
        var exponent = decimalLogarithm(value).rounded(.down)
        // Guard against log10(1000) = 2.9999999: step to the decade that really is <= value.
        if power10(Int(exponent) + 1) <= value { exponent += 1 }
        if power10(Int(exponent)) > value { exponent -= 1 }
        return exponent
    }

    static func log10Ceil(_ value: Double) -> Double {
        let floor = log10Floor(value)
        return power10(Int(floor)) == value ? floor : floor + 1
    }
}

/// The C library's log10, named apart from `AxisScale.log10(minimum:maximum:)` which shadows it.
private func decimalLogarithm(_ value: Double) -> Double {
    Foundation.log10(value)
}

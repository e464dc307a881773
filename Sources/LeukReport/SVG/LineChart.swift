/// A line chart with several series, an optional shaded band, dashed horizontal reference lines, a
/// legend, axis ticks and labels, and a linear or log-10 y axis.
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var dash: String?
        public var showsMarkers: Bool

        public init(name: String, points: [(x: Double, y: Double)], color: String, dash: String? = nil,
                    showsMarkers: Bool = true) {
            self.name = name
            self.points = points
            self.color = color
            self.dash = dash
            self.showsMarkers = showsMarkers
        }
    }

    /// A shaded area between a lower and an upper value at each x (for example the worst and best
    /// node's accuracy around the mean).
    public struct Band: Sendable {
        public var name: String
        public var points: [(x: Double, lower: Double, upper: Double)]
        public var color: String

        public init(name: String, points: [(x: Double, lower: Double, upper: Double)], color: String) {
            self.name = name
            self.points = points
            self.color = color
        }
    }

    /// A horizontal dashed line at a constant y, such as the centralized model's accuracy.
    public struct ReferenceLine: Sendable {
        public var name: String
        public var value: Double
        public var color: String

        public init(name: String, value: Double, color: String) {
            self.name = name
            self.value = value
            self.color = color
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var bands: [Band]
    public var referenceLines: [ReferenceLine]
    public var logScaleY: Bool
    /// Ticks on the x axis at whole numbers only (rounds).
    public var integerX: Bool
    /// When set, the linear y axis covers at least this range (e.g. accuracy never zooms past 0...1).
    public var yClamp: ClosedRange<Double>?
    /// Width of the plot with its axes; the legend column to its right comes on top of this.
    public var width: Double
    public var height: Double

    public init(title: String, xLabel: String, yLabel: String, series: [Series], bands: [Band] = [],
                referenceLines: [ReferenceLine] = [], logScaleY: Bool = false, integerX: Bool = true,
                yClamp: ClosedRange<Double>? = nil, width: Double = 600, height: Double = 440) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.bands = bands
        self.referenceLines = referenceLines
        self.logScaleY = logScaleY
        self.integerX = integerX
        self.yClamp = yClamp
        self.width = width
        self.height = height
    }

    /// Plot-area margins: room for tick labels on the left and below; the legend on the right gets
    /// what its longest entry needs.
    static let marginLeft = 78.0, marginTop = 48.0, marginBottom = 58.0

    var legendNames: [String] { series.map(\.name) + bands.map(\.name) + referenceLines.map(\.name) }

    /// The chart's full width: the requested width plus whatever the legend needs beyond the default.
    var marginRight: Double { max(150, 34 + 16 + TextMetrics.width(of: legendNames.max { $0.count < $1.count } ?? "", size: 12) + 12) }

    /// The axes the chart will draw, exposed so tests can check tick placement without parsing SVG.
    public func axes() -> (x: AxisScale, y: AxisScale) {
        let xs = series.flatMap { $0.points.map(\.x) } + bands.flatMap { $0.points.map(\.x) }
        var ys = series.flatMap { $0.points.map(\.y) } + referenceLines.map(\.value)
        ys += bands.flatMap { $0.points.flatMap { [$0.lower, $0.upper] } }
        ys = ys.filter { $0.isFinite && (!logScaleY || $0 > 0) }
        let xAxis = AxisScale.linear(minimum: xs.min() ?? 0, maximum: xs.max() ?? 1, targetTickCount: 8,
                                     integerSteps: integerX)
        if logScaleY {
            return (xAxis, AxisScale.log10(minimum: ys.min() ?? 1e-3, maximum: ys.max() ?? 1))
        }
        var low = ys.min() ?? 0, high = ys.max() ?? 1
        if let yClamp {
            // Pad a little around the data but never beyond the meaningful range.
            let pad = max((high - low) * 0.08, 0.01)
            low = max(low - pad, yClamp.lowerBound)
            high = min(high + pad, yClamp.upperBound)
        }
        return (xAxis, AxisScale.linear(minimum: low, maximum: high))
    }

    public func render() -> String {
        // `width` is the plot-plus-axes width; the legend column is added to it.
        let marginRight = marginRight
        let totalWidth = width + marginRight
        var svg = SVGDocument(width: totalWidth, height: height)
        let (xAxis, yAxis) = axes()
        let plotLeft = Self.marginLeft, plotTop = Self.marginTop
        let plotWidth = width - Self.marginLeft - 20
        let plotHeight = height - Self.marginTop - Self.marginBottom
        func px(_ x: Double) -> Double? { xAxis.fraction(of: x).map { plotLeft + $0 * plotWidth } }
        func py(_ y: Double) -> Double? { yAxis.fraction(of: y).map { plotTop + (1 - $0) * plotHeight } }

        svg.text(title, x: plotLeft + plotWidth / 2, y: 28, size: 16, anchor: .middle, weight: "bold",
                 extra: [("class", "title")])
        svg.rect(x: plotLeft, y: plotTop, width: plotWidth, height: plotHeight, fill: "#fbfbfb", stroke: "#999")

        // Grid and ticks.
        for tick in yAxis.ticks {
            guard let y = py(tick.value) else { continue }
            if tick.isMajor {
                svg.line(x1: plotLeft, y1: y, x2: plotLeft + plotWidth, y2: y, stroke: "#e2e2e2")
                svg.line(x1: plotLeft - 6, y1: y, x2: plotLeft, y2: y, stroke: "#555")
                if let exponent = tick.exponent {
                    svg.raw("<text x=\"\(SVGNumber.format(plotLeft - 10))\" y=\"\(SVGNumber.format(y + 4))\" "
                        + "font-size=\"12\" text-anchor=\"end\" fill=\"#222\" class=\"y-tick\" "
                        + "data-value=\"\(XMLEscaping.escape(tick.label))\">10<tspan dy=\"-6\" font-size=\"9\">"
                        + "\(XMLEscaping.escape(String(exponent)))</tspan></text>")
                } else {
                    svg.text(tick.label, x: plotLeft - 10, y: y + 4, size: 12, anchor: .end,
                             extra: [("class", "y-tick")])
                }
            } else {
                svg.line(x1: plotLeft - 3, y1: y, x2: plotLeft, y2: y, stroke: "#777")
                svg.line(x1: plotLeft, y1: y, x2: plotLeft + plotWidth, y2: y, stroke: "#f0f0f0")
            }
        }
        for tick in xAxis.ticks {
            guard let x = px(tick.value) else { continue }
            svg.line(x1: x, y1: plotTop, x2: x, y2: plotTop + plotHeight, stroke: "#eeeeee")
            svg.line(x1: x, y1: plotTop + plotHeight, x2: x, y2: plotTop + plotHeight + 6, stroke: "#555")
            svg.text(tick.label, x: x, y: plotTop + plotHeight + 20, size: 12, anchor: .middle,
                     extra: [("class", "x-tick")])
        }
        svg.text(xLabel, x: plotLeft + plotWidth / 2, y: height - 14, size: 13, anchor: .middle,
                 extra: [("class", "x-label")])
        svg.text(yLabel, x: 20, y: plotTop + plotHeight / 2, size: 13, anchor: .middle, rotate: -90,
                 extra: [("class", "y-label")])

        // Bands under lines, then reference lines, then series on top.
        for band in bands {
            let upper = band.points.compactMap { p in px(p.x).flatMap { x in py(p.upper).map { (x, $0) } } }
            let lower = band.points.reversed().compactMap { p in px(p.x).flatMap { x in py(p.lower).map { (x, $0) } } }
            guard upper.count >= 2, lower.count >= 2 else { continue }
            let path = (upper + lower).map { "\(SVGNumber.format($0.0)),\(SVGNumber.format($0.1))" }.joined(separator: " ")
            svg.element("polygon", [("points", path), ("fill", band.color), ("fill-opacity", "0.18"), ("stroke", "none"),
                                    ("class", "band"), ("data-name", band.name)])
        }
        for reference in referenceLines {
            guard let y = py(reference.value) else { continue }
            svg.element("line", [("x1", SVGNumber.format(plotLeft)), ("y1", SVGNumber.format(y)),
                                 ("x2", SVGNumber.format(plotLeft + plotWidth)), ("y2", SVGNumber.format(y)),
                                 ("stroke", reference.color), ("stroke-width", "1.8"), ("stroke-dasharray", "7 5"),
                                 ("class", "reference"), ("data-name", reference.name)])
        }
        for line in series {
            let points = line.points.compactMap { p in px(p.x).flatMap { x in py(p.y).map { (x, $0) } } }
            if points.count >= 2 {
                svg.polyline(points, stroke: line.color, width: 2.2, dash: line.dash,
                             extra: [("class", "series"), ("data-name", line.name)])
            }
            if line.showsMarkers && points.count <= 60 {
                for point in points { svg.circle(cx: point.0, cy: point.1, r: 2.8, fill: line.color) }
            }
        }

        // Legend, right of the plot.
        var legendY = plotTop + 10
        let legendX = plotLeft + plotWidth + 16
        func legendEntry(_ name: String, color: String, dash: String?, band: Bool) {
            if band {
                svg.rect(x: legendX, y: legendY - 6, width: 26, height: 12, fill: color, extra: [("fill-opacity", "0.18")])
            } else {
                svg.line(x1: legendX, y1: legendY, x2: legendX + 26, y2: legendY, stroke: color, width: 2.2, dash: dash)
            }
            svg.text(name, x: legendX + 34, y: legendY + 4, size: 12, extra: [("class", "legend")])
            legendY += 22
        }
        for line in series { legendEntry(line.name, color: line.color, dash: line.dash, band: false) }
        for band in bands { legendEntry(band.name, color: band.color, dash: nil, band: true) }
        for reference in referenceLines { legendEntry(reference.name, color: reference.color, dash: "7 5", band: false) }

        let hidden = logScaleY
            ? series.reduce(0) { total, line in total + line.points.count { point in !(point.y > 0) || !point.y.isFinite } }
            : 0
        if hidden > 0 {
            svg.text("\(hidden) value(s) ≤ 0 not shown on the log scale", x: legendX, y: legendY + 10, size: 11,
                     fill: "#a33", extra: [("class", "note")])
        }
        return svg.render()
    }
}

/// Colours that stay distinguishable for the common colour-vision deficiencies (Okabe-Ito).
/// A rough text-width estimate for layout (DejaVu Sans averages about 0.6 em per character), so
/// titles and legends get room without measuring fonts.
enum TextMetrics {
    static func width(of text: String, size: Double, bold: Bool = false) -> Double {
        Double(text.count) * size * (bold ? 0.66 : 0.6)
    }
}

public enum ChartPalette {
    public static let blue = "#0072B2"
    public static let orange = "#E69F00"
    public static let green = "#009E73"
    public static let vermillion = "#D55E00"
    public static let purple = "#CC79A7"
    public static let sky = "#56B4E9"
    public static let gray = "#555555"
}

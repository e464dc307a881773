public import LeukMetrics
/// A confusion matrix as a heatmap: rows are the true class, columns the predicted class; each cell
/// shows its count and its share of the row (so the diagonal reads as per-class recall), shaded by
/// that share.
public struct ConfusionHeatmap: Sendable {
    public var title: String
    /// A second, smaller title line (for example how the matrix was pooled); `nil` for none.
    public var subtitle: String?
    public var confusion: ConfusionMatrix
    public var cellSize: Double

    public init(title: String, subtitle: String? = nil, confusion: ConfusionMatrix, cellSize: Double = 130) {
        self.title = title
        self.subtitle = subtitle
        self.confusion = confusion
        self.cellSize = cellSize
    }

    public func render() -> String {
        let classes = confusion.labels.count
        let gridWidth = 150 + Double(classes) * cellSize + 60
        let footnote = "n = \(confusion.total); shading and percentages are shares of each true-class row"
        let width = max(gridWidth, TextMetrics.width(of: title, size: 16, bold: true) + 40,
                        TextMetrics.width(of: subtitle ?? "", size: 12) + 40, TextMetrics.width(of: footnote, size: 11) + 30)
        let left = 150 + (width - gridWidth) / 2
        let top = subtitle == nil ? 86.0 : 112.0
        let height = top + Double(classes) * cellSize + 70
        var svg = SVGDocument(width: width, height: height)
        svg.text(title, x: width / 2, y: 28, size: 16, anchor: .middle, weight: "bold", extra: [("class", "title")])
        if let subtitle {
            svg.text(subtitle, x: width / 2, y: 48, size: 12, anchor: .middle, fill: "#555", extra: [("class", "subtitle")])
        }
        svg.text("Predicted class", x: left + Double(classes) * cellSize / 2, y: top - 36, size: 13, anchor: .middle,
                 extra: [("class", "x-label")])
        svg.text("True class", x: left - 124, y: top + Double(classes) * cellSize / 2, size: 13, anchor: .middle, rotate: -90,
                 extra: [("class", "y-label")])
        for (index, label) in confusion.labels.enumerated() {
            svg.text(label, x: left + (Double(index) + 0.5) * cellSize, y: top - 10, size: 13, anchor: .middle,
                     weight: "bold", extra: [("class", "column-label")])
            svg.text(label, x: left - 12, y: top + (Double(index) + 0.5) * cellSize + 5, size: 13, anchor: .end,
                     weight: "bold", extra: [("class", "row-label")])
        }
        for row in 0..<classes {
            let shares = confusion.rowNormalized(row)
            for column in 0..<classes {
                let share = shares[column]
                let x = left + Double(column) * cellSize, y = top + Double(row) * cellSize
                svg.rect(x: x, y: y, width: cellSize, height: cellSize, fill: Self.shade(share), stroke: "#ffffff",
                         extra: [("stroke-width", "2"), ("class", "cell"),
                                 ("data-row", String(row)), ("data-column", String(column))])
                let ink = share > 0.55 ? "#ffffff" : "#1a1a1a"
                svg.text(String(confusion.matrix[row][column]), x: x + cellSize / 2, y: y + cellSize / 2 - 2, size: 22,
                         anchor: .middle, weight: "bold", fill: ink, extra: [("class", "count")])
                svg.text(SVGNumber.fixed(share * 100, decimals: 1) + "% of row", x: x + cellSize / 2,
                         y: y + cellSize / 2 + 20, size: 12, anchor: .middle, fill: ink, extra: [("class", "share")])
            }
        }
        svg.text(footnote, x: width / 2, y: height - 22, size: 11, anchor: .middle, fill: "#555", extra: [("class", "note")])
        return svg.render()
    }

    /// White to deep blue as the share goes from 0 to 1.
    static func shade(_ share: Double) -> String {
        let t = min(max(share, 0), 1)
        let from = (r: 247.0, g: 251.0, b: 255.0), to = (r: 8.0, g: 69.0, b: 148.0)
        func channel(_ a: Double, _ b: Double) -> String {
            let value = Int((a + (b - a) * t).rounded())
            let hex = String(value, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }
        return "#" + channel(from.r, to.r) + channel(from.g, to.g) + channel(from.b, to.b)
    }
}

/// A ROC curve: true-positive rate against false-positive rate, the chance diagonal dashed, and the
/// area under the curve in the title.
public struct ROCChart: Sendable {
    public var title: String
    public var points: [ROCPoint]
    public var auc: Double?
    public var size: Double

    public init(title: String, points: [ROCPoint], auc: Double?, size: Double = 460) {
        self.title = title
        self.points = points
        self.auc = auc
        self.size = size
    }

    /// The title as drawn: the given title followed by the AUC (or "n/a" when undefined).
    public var fullTitle: String {
        "\(title) (AUC = \(auc.map { SVGNumber.fixed($0, decimals: 4) } ?? "n/a"))"
    }

    public func render() -> String {
        let left = 72.0, top = 52.0, plot = size - left - 28
        let width = size, height = top + plot + 56
        var svg = SVGDocument(width: width, height: height)
        func px(_ fpr: Double) -> Double { left + min(max(fpr, 0), 1) * plot }
        func py(_ tpr: Double) -> Double { top + (1 - min(max(tpr, 0), 1)) * plot }

        svg.text(fullTitle, x: width / 2, y: 28, size: 15, anchor: .middle, weight: "bold", extra: [("class", "title")])
        svg.rect(x: left, y: top, width: plot, height: plot, fill: "#fbfbfb", stroke: "#999")
        for step in 0...5 {
            let value = Double(step) / 5
            let label = SVGNumber.fixed(value, decimals: 1)
            svg.line(x1: px(value), y1: top, x2: px(value), y2: top + plot, stroke: "#eeeeee")
            svg.line(x1: left, y1: py(value), x2: left + plot, y2: py(value), stroke: "#eeeeee")
            svg.text(label, x: px(value), y: top + plot + 18, size: 12, anchor: .middle, extra: [("class", "x-tick")])
            svg.text(label, x: left - 8, y: py(value) + 4, size: 12, anchor: .end, extra: [("class", "y-tick")])
        }
        svg.text("False-positive rate (1 − specificity)", x: left + plot / 2, y: height - 12, size: 13, anchor: .middle,
                 extra: [("class", "x-label")])
        svg.text("True-positive rate (detection rate)", x: 20, y: top + plot / 2, size: 13, anchor: .middle,
                 rotate: -90, extra: [("class", "y-label")])
        svg.element("line", [("x1", SVGNumber.format(px(0))), ("y1", SVGNumber.format(py(0))),
                             ("x2", SVGNumber.format(px(1))), ("y2", SVGNumber.format(py(1))),
                             ("stroke", "#888"), ("stroke-width", "1.2"), ("stroke-dasharray", "6 5"),
                             ("class", "diagonal")])
        let sorted = points.sorted {
            ($0.falsePositiveRate, $0.truePositiveRate) < ($1.falsePositiveRate, $1.truePositiveRate)
        }
        if sorted.count >= 2 {
            svg.polyline(sorted.map { (px($0.falsePositiveRate), py($0.truePositiveRate)) }, stroke: ChartPalette.blue,
                         width: 2.4, extra: [("class", "series"), ("data-name", "ROC")])
        } else {
            svg.text("no ROC curve: the test set holds a single class", x: left + plot / 2, y: top + plot / 2,
                     size: 13, anchor: .middle, fill: "#a33", extra: [("class", "note")])
        }
        return svg.render()
    }
}

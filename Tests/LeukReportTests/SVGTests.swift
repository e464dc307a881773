import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import LeukMetrics
@testable import LeukReport

/// The elements of a parsed XML document, with the text inside each, in document order.
final class ParsedXML: NSObject, XMLParserDelegate {
    struct Element {
        var name: String
        var attributes: [String: String]
        var text: String
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []
    private(set) var error: String?

    /// Parses `xml`; `nil` when it is not well-formed.
    static func parse(_ xml: String) -> ParsedXML? {
        let collector = ParsedXML()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = collector
        guard parser.parse(), collector.error == nil else { return nil }
        return collector
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        open.append(elements.count)
        elements.append(Element(name: name, attributes: attributes, text: ""))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        for index in open { elements[index].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        open.removeLast()
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        error = String(describing: parseError)
    }

    func withClass(_ name: String) -> [Element] { elements.filter { $0.attributes["class"] == name } }
    var texts: [String] { elements.filter { $0.name == "text" }.map(\.text) }
}

struct SVGTests {
    @Test func escapingMakesHostileTextSafe() throws {
        #expect(XMLEscaping.escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
        #expect(XMLEscaping.escape("bell\u{07}") == "bell\u{FFFD}")
        let nasty = "</text><script>alert('x')</script> & \u{01}"
        let chart = LineChart(title: nasty, xLabel: "Round", yLabel: "y",
                              series: [.init(name: "A&B <series>", points: [(1, 0.5), (2, 0.6)], color: "#000")])
        let parsed = try #require(ParsedXML.parse(chart.render()))
        #expect(!parsed.elements.contains { $0.name == "script" })
        #expect(parsed.withClass("title").first?.text == "</text><script>alert('x')</script> & \u{FFFD}")
        #expect(parsed.withClass("legend").map(\.text) == ["A&B <series>"])
    }

    @Test func lineChartHasSeriesLegendReferencesAndTicks() throws {
        let chart = LineChart(
            title: "Accuracy", xLabel: "Round", yLabel: "Accuracy",
            series: [.init(name: "Federated", points: [(1, 0.62), (2, 0.8), (3, 0.9)], color: ChartPalette.blue),
                     .init(name: "Local", points: [(1, 0.6), (2, 0.7), (3, 0.72)], color: ChartPalette.orange)],
            bands: [.init(name: "Range", points: [(1, 0.6, 0.65), (2, 0.75, 0.85), (3, 0.88, 0.93)], color: "#00f")],
            referenceLines: [.init(name: "Centralized", value: 0.95, color: ChartPalette.green)],
            yClamp: 0...1)
        let parsed = try #require(ParsedXML.parse(chart.render()))
        #expect(parsed.elements.first?.name == "svg")
        #expect(parsed.withClass("series").compactMap { $0.attributes["data-name"] } == ["Federated", "Local"])
        #expect(parsed.withClass("legend").map(\.text) == ["Federated", "Local", "Range", "Centralized"])
        let reference = try #require(parsed.withClass("reference").first)
        #expect(reference.attributes["stroke-dasharray"] != nil)
        #expect(parsed.withClass("band").count == 1)
        #expect(parsed.withClass("x-tick").map(\.text) == ["1", "2", "3"])
        // Data 0.6 ... 0.95 padded by 0.028 -> nice ticks of 0.1 from 0.5 to 1.0.
        #expect(parsed.withClass("y-tick").map(\.text) == ["0.5", "0.6", "0.7", "0.8", "0.9", "1.0"])
        #expect(parsed.withClass("x-label").first?.text == "Round")
    }

    @Test func linearTicksAreNiceSteps() {
        let axis = AxisScale.linear(minimum: 0.013, maximum: 0.087)
        #expect(axis.ticks.map(\.label) == ["0.00", "0.02", "0.04", "0.06", "0.08", "0.10"])
        #expect(abs((axis.fraction(of: 0.05) ?? 0) - 0.5) < 1e-12)
        let rounds = AxisScale.linear(minimum: 1, maximum: 3, targetTickCount: 8, integerSteps: true)
        #expect(rounds.ticks.map(\.value) == [1, 2, 3])
        #expect(AxisScale.niceStep(0.07) == 0.1 && AxisScale.niceStep(3) == 5 && AxisScale.niceStep(1) == 1)
    }

    @Test func logTicksSitOnWholeDecadesEvenlySpaced() throws {
        let axis = AxisScale.log10(minimum: 3e-4, maximum: 0.5)
        let majors = axis.ticks.filter(\.isMajor)
        #expect(majors.map(\.exponent) == [-4, -3, -2, -1, 0])
        #expect(majors.map(\.value) == [1e-4, 1e-3, 1e-2, 1e-1, 1])
        let fractions = majors.compactMap { axis.fraction(of: $0.value) }
        for (fraction, expected) in zip(fractions, [0, 0.25, 0.5, 0.75, 1.0]) { #expect(abs(fraction - expected) < 1e-12) }
        // 2 x 10^-4 sits log10(2) of a decade above 10^-4.
        let two = try #require(axis.ticks.first { !$0.isMajor })
        #expect(two.value == 2e-4)
        #expect(abs(try #require(axis.fraction(of: two.value)) - 0.30103 / 4) < 1e-5)
        #expect(axis.fraction(of: 0) == nil && axis.fraction(of: -1) == nil)
        // Values exactly on decades do not widen the axis; values inside one decade span that decade;
        // a single value on a decade gets a decade either side.
        #expect(AxisScale.log10(minimum: 1e-3, maximum: 1).ticks.filter(\.isMajor).map(\.exponent) == [-3, -2, -1, 0])
        #expect(AxisScale.log10(minimum: 0.2, maximum: 0.5).ticks.filter(\.isMajor).map(\.exponent) == [-1, 0])
        #expect(AxisScale.log10(minimum: 0.01, maximum: 0.01).ticks.filter(\.isMajor).map(\.exponent) == [-3, -2, -1])
    }

    @Test func logChartDrawsDecadeLabelsAtEvenPixelSteps() throws {
        let chart = LineChart(title: "Consensus", xLabel: "Round", yLabel: "Distance",
                              series: [.init(name: "Consensus distance",
                                             points: [(1, 0.5), (2, 0.04), (3, 3e-3), (4, 3e-4), (5, 0)], color: "#000")],
                              logScaleY: true)
        let parsed = try #require(ParsedXML.parse(chart.render()))
        let labels = parsed.withClass("y-tick")
        #expect(labels.map(\.text) == ["10-4", "10-3", "10-2", "10-1", "100"])  // "10" + superscript exponent
        #expect(labels.compactMap { $0.attributes["data-value"] } == ["10^-4", "10^-3", "10^-2", "10^-1", "10^0"])
        let ys = labels.compactMap { $0.attributes["y"].flatMap(Double.init) }
        let gaps = zip(ys, ys.dropFirst()).map { $0 - $1 }
        #expect(gaps.count == 4)
        for gap in gaps { #expect(abs(gap - gaps[0]) < 0.02 && gap > 0) }  // higher decades sit higher
        #expect(parsed.withClass("note").first?.text.contains("1 value(s)") == true)  // the 0 cannot be shown
    }

    @Test func confusionHeatmapShowsCountsAndRowShares() throws {
        let heatmap = ConfusionHeatmap(title: "Confusion", confusion: ConfusionMatrix(labels: ["hem", "all"],
                                                                                      matrix: [[30, 10], [5, 55]]))
        let parsed = try #require(ParsedXML.parse(heatmap.render()))
        #expect(parsed.withClass("count").map(\.text) == ["30", "10", "5", "55"])
        #expect(parsed.withClass("share").map(\.text) == ["75.0% of row", "25.0% of row", "8.3% of row", "91.7% of row"])
        #expect(parsed.withClass("row-label").map(\.text) == ["hem", "all"])
        #expect(parsed.withClass("cell").count == 4)
        #expect(ConfusionHeatmap.shade(0) == "#f7fbff" && ConfusionHeatmap.shade(1) == "#084594")
        // An empty row does not divide by zero.
        let empty = ConfusionHeatmap(title: "e", confusion: ConfusionMatrix(labels: ["hem", "all"], matrix: [[0, 0], [1, 1]]))
        #expect(try #require(ParsedXML.parse(empty.render())).withClass("share").first?.text == "0.0% of row")
    }

    @Test func rocChartHasDiagonalCurveAndAUCInTitle() throws {
        let points = try MetricsComputation.rocCurve(labels: [1, 1, 0, 0], scores: [0.8, 0.5, 0.5, 0.2])
        let chart = ROCChart(title: "ROC", points: points, auc: 0.875)
        let parsed = try #require(ParsedXML.parse(chart.render()))
        #expect(parsed.withClass("title").first?.text == "ROC (AUC = 0.8750)")
        #expect(parsed.withClass("diagonal").count == 1)
        let curve = try #require(parsed.withClass("series").first?.attributes["points"])
        #expect(curve.split(separator: " ").count == 4)
        let single = try #require(ParsedXML.parse(ROCChart(title: "ROC", points: [], auc: nil).render()))
        #expect(single.withClass("title").first?.text == "ROC (AUC = n/a)")
        #expect(single.withClass("note").count == 1)
    }

    @Test func numberFormattingIsCompactAndLocaleFree() {
        #expect(SVGNumber.format(12.0) == "12")
        #expect(SVGNumber.format(12.345) == "12.35")
        #expect(SVGNumber.format(-0.5) == "-0.5")
        #expect(SVGNumber.fixed(0.9375, decimals: 2) == "0.94")
        #expect(SVGNumber.fixed(-0.001, decimals: 2) == "0.00")
        #expect(SVGNumber.fixed(7, decimals: 0) == "7")
    }
}

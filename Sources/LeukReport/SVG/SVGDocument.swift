/// A minimal SVG writer: the charts append elements, and every piece of text and every attribute
/// value goes through `XMLEscaping`, so a dataset path or label with `<`, `&` or quotes cannot break
/// the file. Output is plain SVG 1.1 that browsers, GitHub and `rsvg-convert` all render.
public struct SVGDocument: Sendable {
    public let width: Double
    public let height: Double
    private var body: [String] = []

    public init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    /// Appends an element with attributes and optional text content (escaped here).
    public mutating func element(_ name: String, _ attributes: [(String, String)], text: String? = nil) {
        let attrs = attributes.map { " \($0.0)=\"\(XMLEscaping.escape($0.1))\"" }.joined()
        if let text {
            body.append("<\(name)\(attrs)>\(XMLEscaping.escape(text))</\(name)>")
        } else {
            body.append("<\(name)\(attrs)/>")
        }
    }

    /// Appends pre-built, already-escaped markup (used for `<tspan>` exponents and groups).
    mutating func raw(_ markup: String) {
        body.append(markup)
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String,
                              width: Double = 1, dash: String? = nil) {
        var attributes = [("x1", SVGNumber.format(x1)), ("y1", SVGNumber.format(y1)), ("x2", SVGNumber.format(x2)),
                          ("y2", SVGNumber.format(y2)), ("stroke", stroke), ("stroke-width", SVGNumber.format(width))]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        element("line", attributes)
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String,
                              stroke: String? = nil, extra: [(String, String)] = []) {
        var attributes = [("x", SVGNumber.format(x)), ("y", SVGNumber.format(y)), ("width", SVGNumber.format(width)),
                          ("height", SVGNumber.format(height)), ("fill", fill)]
        if let stroke { attributes.append(("stroke", stroke)) }
        element("rect", attributes + extra)
    }

    public enum Anchor: String, Sendable { case start, middle, end }

    public mutating func text(_ content: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
                              weight: String? = nil, fill: String = "#222", rotate: Double? = nil,
                              extra: [(String, String)] = []) {
        var attributes = [("x", SVGNumber.format(x)), ("y", SVGNumber.format(y)), ("font-size", SVGNumber.format(size)),
                          ("text-anchor", anchor.rawValue), ("fill", fill)]
        if let weight { attributes.append(("font-weight", weight)) }
        if let rotate {
            attributes.append(("transform", "rotate(\(SVGNumber.format(rotate)) \(SVGNumber.format(x)) \(SVGNumber.format(y)))"))
        }
        element("text", attributes + extra, text: content)
    }

    /// An open polyline through the points, already in pixel coordinates.
    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 2,
                                  dash: String? = nil, extra: [(String, String)] = []) {
        let path = points.map { "\(SVGNumber.format($0.0)),\(SVGNumber.format($0.1))" }.joined(separator: " ")
        var attributes = [("points", path), ("fill", "none"), ("stroke", stroke),
                          ("stroke-width", SVGNumber.format(width)), ("stroke-linejoin", "round")]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        element("polyline", attributes + extra)
    }

    public mutating func circle(cx: Double, cy: Double, r: Double, fill: String) {
        element("circle", [("cx", SVGNumber.format(cx)), ("cy", SVGNumber.format(cy)), ("r", SVGNumber.format(r)),
                           ("fill", fill)])
    }

    /// The complete file, with an XML declaration and a white background.
    public func render() -> String {
        let w = SVGNumber.format(width), h = SVGNumber.format(height)
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(w)\" height=\"\(h)\" "
        out += "viewBox=\"0 0 \(w) \(h)\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(w)\" height=\"\(h)\" fill=\"#ffffff\"/>\n"
        out += body.joined(separator: "\n")
        out += "\n</svg>\n"
        return out
    }
}

/// Escaping for XML text and attribute values. Characters XML 1.0 forbids (control characters other
/// than tab, newline and carriage return) are replaced by U+FFFD, since no escape can express them.
public enum XMLEscaping {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// Compact, locale-independent number formatting for coordinates and labels.
public enum SVGNumber {
    /// A coordinate with at most two decimals and no trailing zeros ("12.5", "3", "-0.25").
    public static func format(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let rounded = (value * 100).rounded() / 100
        if rounded == rounded.rounded() && abs(rounded) < 1e15 { return String(Int(rounded)) }
        var text = fixed(rounded, decimals: 2)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    /// Fixed-point text with exactly `decimals` digits after the point, without Foundation's
    /// locale-dependent formatting.
    public static func fixed(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard scaled < 9e15 else { return sign + String(abs(value)) }
        let integer = Int(scaled)
        let whole = integer / Int(scale)
        let fraction = integer % Int(scale)
        if decimals == 0 { return sign + String(whole) }
        var fractionText = String(fraction)
        while fractionText.count < decimals { fractionText = "0" + fractionText }
        return "\(sign)\(whole).\(fractionText)"
    }
}

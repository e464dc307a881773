public import LeukCore
import Foundation

/// Synthetic single-white-cell images on a blood-smear background, for demos and tests on a fresh
/// machine. Two classes, as in C-NMC: `all` (lymphoblasts) and `hem` (normal lymphocytes).
///
/// Morphology follows the textbook contrast, driven by one latent "blastness" per cell:
/// - lymphoblast: large cell, high nucleus-to-cytoplasm ratio, fine open (paler) chromatin,
///   visible nucleoli, irregular outline and nuclear contour;
/// - lymphocyte: small cell, dense dark round nucleus with coarse clumped chromatin, thin rim
///   of cytoplasm, no nucleoli.
/// Each class draws its latent from a normal distribution; `difficulty` (0...1, default 0.5) moves
/// the two distributions together, so some cells are genuinely ambiguous (the Bayes error is
/// about 0.2% at 0, 5% at 0.5 and 38% at 1), and it scales the nuisances: stain and illumination
/// jitter, blur, sensor noise, scale jitter, and independent per-feature noise.
///
/// Images are rendered in optical density with a two-stain (Beer-Lambert) model: a purple
/// "haematoxylin-like" stain for nuclei and cytoplasm and a pink "eosin-like" stain for red
/// cells. A `site` fixes the stain colours, stain strength, background tint and light level of
/// one laboratory, so federated nodes see differently coloured data of the same biology.
public enum SyntheticCells {
    public static let classes = ["hem", "all"]
    public static let defaultDifficulty = 0.5

    /// Renders one cell. `label` 0 = hem (lymphocyte), 1 = all (lymphoblast).
    public static func render(label: Int, size: Int, difficulty: Double, site: Int, rng: inout SeededGenerator) -> RGBImage {
        var canvas = Canvas(size: size)
        let d = min(max(difficulty, 0), 1.5)
        let stain = SiteStain(site: site)
        let s = Float(size)
        let nuisance = Float(0.4 + 1.2 * d)

        // Latent blastness: N(+mu, 1) for blasts, N(-mu, 1) for lymphocytes.
        let mu = 2.9 - 2.6 * d
        let z = (label == 1 ? mu : -mu) + rng.nextGaussian()
        let t = Float(1 / (1 + exp(-0.9 * z)))
        func jitter(_ scale: Float) -> Float { Float(rng.nextGaussian()) * scale * Float(0.5 + d) }

        // Per-image magnification: red cells keep the scale reference, absolute size is blurred.
        let magnification = 1 + Float(rng.nextGaussian()) * 0.05 * nuisance

        // Background plasma and red cells (drawn first, the white cell covers them).
        canvas.fill(eosin: 0.03 + 0.03 * rng.nextUnitFloat())
        let redCells = 3 + Int(rng.next() % 5)
        for _ in 0..<redCells {
            let r = s * 0.115 * magnification * (1 + jitter(0.06))
            let angle = Float(rng.nextUnitDouble() * 2 * .pi)
            let distance = s * (0.25 + 0.3 * rng.nextUnitFloat())
            let cx = s / 2 + distance * _cosf(angle), cy = s / 2 + distance * _sinf(angle)
            canvas.drawRedCell(cx: cx, cy: cy, radius: r, density: 0.32 + 0.18 * rng.nextUnitFloat(),
                               squash: 1 + 0.15 * rng.nextUnitFloat(), rotation: Float(rng.nextUnitDouble() * .pi))
        }

        // The white cell.
        let cellRadius = s * (0.235 + 0.115 * t + jitter(0.012)) * magnification
        let nucleusRatio = min(0.95, max(0.6, 0.74 + 0.17 * t + jitter(0.025)))
        let nucleusRadius = cellRadius * nucleusRatio
        let cx = s / 2 + Float(rng.nextGaussian()) * s * 0.025, cy = s / 2 + Float(rng.nextGaussian()) * s * 0.025
        let cellShape = Outline(rng: &rng, irregularity: max(0.01, 0.025 + 0.07 * t + jitter(0.015)))
        canvas.drawCytoplasm(cx: cx, cy: cy, radius: cellRadius, outline: cellShape,
                             haematoxylin: 0.22 + 0.1 * rng.nextUnitFloat() + 0.06 * (1 - t))
        let offset = (cellRadius - nucleusRadius) * 0.7 * rng.nextUnitFloat()
        let offsetAngle = Float(rng.nextUnitDouble() * 2 * .pi)
        let nx = cx + offset * _cosf(offsetAngle), ny = cy + offset * _sinf(offsetAngle)
        let nucleusShape = Outline(rng: &rng, irregularity: max(0.01, 0.02 + 0.09 * t + jitter(0.02)))
        let chromatin = Chromatin(
            density: 1.25 - 0.45 * t + jitter(0.06),
            coarse: ValueNoise(rng: &rng, cells: max(3, Int(nucleusRadius / max(1, s / 64 * 2.6)))),
            coarseAmplitude: max(0.05, 0.48 * (1 - t) + 0.08 + jitter(0.05)),
            fine: ValueNoise(rng: &rng, cells: max(6, Int(2 * nucleusRadius / max(1, s / 64 * 1.3)))),
            fineAmplitude: 0.08 + 0.18 * t)
        canvas.drawNucleus(cx: nx, cy: ny, radius: nucleusRadius, outline: nucleusShape, chromatin: chromatin)
        let expectedNucleoli = 2.6 * t * t + max(0, jitter(0.3))
        let nucleoli = Int(expectedNucleoli + rng.nextUnitFloat())
        for _ in 0..<min(nucleoli, 4) {
            let a = Float(rng.nextUnitDouble() * 2 * .pi), r = nucleusRadius * 0.5 * rng.nextUnitFloat()
            canvas.drawNucleolus(cx: nx + r * _cosf(a), cy: ny + r * _sinf(a), radius: nucleusRadius * (0.11 + 0.06 * rng.nextUnitFloat()))
        }

        // Lab and camera: stain strength, illumination, focus, noise.
        let stainScale = (1 + jitter(0.06)) * stain.strength
        let gradient = (Float(rng.nextGaussian()) * 0.04 * nuisance, Float(rng.nextGaussian()) * 0.04 * nuisance)
        var rgb = canvas.toRGB(stain: stain, stainScale: stainScale, gradient: gradient,
                               hueShift: jitter(0.03))
        let blurSigma = Float(rng.nextUnitDouble()) * 0.9 * nuisance * s / 64
        if blurSigma > 0.25 { rgb = gaussianBlur(rgb, size: size, sigma: blurSigma) }
        let noise = (1.5 + 5 * Float(d)) / 255
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for i in 0..<pixels.count {
            let v = rgb[i] + Float(rng.nextGaussian()) * noise
            pixels[i] = UInt8(min(max((v * 255).rounded(), 0), 255))
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// Renders `count` cells in memory; `classBalance` is the fraction of `all`. Same arguments,
    /// same images (each image has its own generator, so rendering runs in parallel).
    public static func generate(count: Int, seed: UInt64, size: Int = 64, difficulty: Double = defaultDifficulty, site: Int = 0,
                                classBalance: Double = 0.5, threads: Int = 2) -> (images: [RGBImage], labels: [Int]) {
        let labels = labelSequence(count: count, seed: seed, classBalance: classBalance)
        let images = parallelMap(count: count, threads: threads) { i in
            var rng = imageGenerator(seed: seed, site: site, index: i)
            return render(label: labels[i], size: size, difficulty: difficulty, site: site, rng: &rng)
        }
        return (images, labels)
    }

    /// Writes `count` images (PNG unless `format` says otherwise) as `dir/hem/*` and `dir/all/*` and
    /// returns the count per class.
    @discardableResult
    public static func writeDataset(to dir: String, count: Int, seed: UInt64, size: Int = 64, difficulty: Double = defaultDifficulty,
                                    site: Int = 0, classBalance: Double = 0.5, threads: Int = 2,
                                    format: ImageFormat = .png) throws -> [String: Int] {
        for name in classes { try makeDirectory(DatasetScanner.join(dir, name)) }
        let labels = labelSequence(count: count, seed: seed, classBalance: classBalance)
        let failures = parallelMap(count: count, threads: threads) { i -> ImageError? in
            var rng = imageGenerator(seed: seed, site: site, index: i)
            let image = render(label: labels[i], size: size, difficulty: difficulty, site: site, rng: &rng)
            let name = String(format: "site%d-%06d.", site, i) + format.fileExtension
            let path = DatasetScanner.join(DatasetScanner.join(dir, classes[labels[i]]), name)
            do throws(ImageError) {
                try ImageEncoder.write(image, to: path, format: format)
                return nil
            } catch { return error }
        }
        if let failure = failures.compactMap({ $0 }).first { throw failure }
        var counts: [String: Int] = [:]
        for label in labels { counts[classes[label], default: 0] += 1 }
        return counts
    }

    /// The demo's federation: `sites` hospitals, each with its own stain (site k) and its own class
    /// mix (the fraction of `all` spreads evenly from 0.25 to 0.75 across sites), written to
    /// `dir/site-<k>`. Returns the class counts per site.
    @discardableResult
    public static func writeFederation(to dir: String, sites: Int = 3, countPerSite: Int, seed: UInt64, size: Int = 64,
                                       difficulty: Double = defaultDifficulty) throws -> [[String: Int]] {
        try (0..<sites).map { site in
            try writeDataset(to: DatasetScanner.join(dir, "site-\(site)"), count: countPerSite, seed: seed &+ UInt64(site) &* 7919,
                             size: size, difficulty: difficulty, site: site, classBalance: demoClassBalance(site: site, of: sites))
        }
    }

    /// Fraction of `all` at `site` in the demo federation (non-IID label mix).
    public static func demoClassBalance(site: Int, of sites: Int) -> Double {
        sites <= 1 ? 0.5 : 0.25 + 0.5 * Double(site) / Double(sites - 1)
    }

    static func labelSequence(count: Int, seed: UInt64, classBalance: Double) -> [Int] {
        let blasts = Int((Double(count) * min(max(classBalance, 0), 1)).rounded())
        var labels = [Int](repeating: 1, count: blasts) + [Int](repeating: 0, count: count - blasts)
        var rng = SeededGenerator(seed: seed ^ 0x5EED_1AB5)
        labels.shuffle(using: &rng)
        return labels
    }

    static func imageGenerator(seed: UInt64, site: Int, index: Int) -> SeededGenerator {
        var mixer = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: site) &* 0xD1B5_4A32_D192_ED03))
        return SeededGenerator(seed: mixer.next() ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
    }

    private static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw DatasetError.output(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}

/// One laboratory's look: stain colours (optical density per RGB channel), stain strength,
/// background tint and illumination. Site 0 is a textbook May-Grunwald-Giemsa look; other sites
/// are fixed, seeded perturbations of it.
public struct SiteStain: Sendable, Equatable {
    public var nuclear: (Float, Float, Float)
    public var eosin: (Float, Float, Float)
    public var strength: Float
    public var light: (Float, Float, Float)

    public init(site: Int) {
        var nuclear: (Float, Float, Float) = (0.62, 0.86, 0.30)
        var eosin: (Float, Float, Float) = (0.10, 0.62, 0.38)
        var strength: Float = 1
        var light: (Float, Float, Float) = (0.96, 0.95, 0.97)
        if site != 0 {
            var rng = SeededGenerator(seed: 0xC0FF_EE00 &+ UInt64(truncatingIfNeeded: site) &* 0x9E37_79B9)
            func vary(_ v: Float, _ amount: Float) -> Float { max(0.02, v * (1 + (rng.nextUnitFloat() * 2 - 1) * amount)) }
            nuclear = (vary(nuclear.0, 0.35), vary(nuclear.1, 0.2), vary(nuclear.2, 0.6))
            eosin = (vary(eosin.0, 0.6), vary(eosin.1, 0.25), vary(eosin.2, 0.4))
            strength = 0.75 + 0.5 * rng.nextUnitFloat()
            light = (min(1, 0.86 + 0.13 * rng.nextUnitFloat()), min(1, 0.86 + 0.13 * rng.nextUnitFloat()), min(1, 0.86 + 0.13 * rng.nextUnitFloat()))
        }
        self.nuclear = nuclear; self.eosin = eosin; self.strength = strength; self.light = light
    }

    public static func == (a: SiteStain, b: SiteStain) -> Bool {
        a.nuclear == b.nuclear && a.eosin == b.eosin && a.strength == b.strength && a.light == b.light
    }
}

// MARK: - Rendering internals

/// A closed, wobbly contour: radius multiplier 1 + sum of low harmonics.
struct Outline {
    var amplitudes: [Float] = []
    var phases: [Float] = []

    init(rng: inout SeededGenerator, irregularity: Float) {
        for k in 2...5 {
            amplitudes.append(irregularity * (0.4 + 0.6 * rng.nextUnitFloat()) / Float(k - 1).squareRoot())
            phases.append(Float(rng.nextUnitDouble() * 2 * .pi))
        }
    }

    @inline(__always) func scale(angle: Float) -> Float {
        var r: Float = 1
        for i in 0..<amplitudes.count { r += amplitudes[i] * _cosf(Float(i + 2) * angle + phases[i]) }
        return r
    }
}

/// Smooth random texture in [-1, 1] on the unit square, `cells` x `cells` lattice.
struct ValueNoise {
    var cells: Int
    var values: [Float]

    init(rng: inout SeededGenerator, cells: Int) {
        self.cells = cells
        values = (0..<((cells + 1) * (cells + 1))).map { _ in rng.nextUnitFloat() * 2 - 1 }
    }

    @inline(__always) func sample(_ u: Float, _ v: Float) -> Float {
        let x = min(max(u, 0), 0.9999) * Float(cells), y = min(max(v, 0), 0.9999) * Float(cells)
        let ix = Int(x), iy = Int(y)
        var fx = x - Float(ix), fy = y - Float(iy)
        fx = fx * fx * (3 - 2 * fx); fy = fy * fy * (3 - 2 * fy)
        let w = cells + 1
        let a = values[iy * w + ix], b = values[iy * w + ix + 1], c = values[(iy + 1) * w + ix], d = values[(iy + 1) * w + ix + 1]
        return (a + (b - a) * fx) + ((c + (d - c) * fx) - (a + (b - a) * fx)) * fy
    }
}

struct Chromatin {
    var density: Float
    var coarse: ValueNoise
    var coarseAmplitude: Float
    var fine: ValueNoise
    var fineAmplitude: Float
}

/// Optical-density planes for the two stains.
struct Canvas {
    let size: Int
    var nuclear: [Float]
    var eosin: [Float]

    init(size: Int) {
        self.size = size
        nuclear = [Float](repeating: 0, count: size * size)
        eosin = nuclear
    }

    mutating func fill(eosin value: Float) {
        for i in 0..<eosin.count { eosin[i] = value }
    }

    /// Coverage of a pixel by a shape, anti-aliased over about one pixel.
    @inline(__always) static func coverage(distance: Float, radius: Float) -> Float {
        min(max(radius - distance + 0.5, 0), 1)
    }

    /// Bounding box of a disc, clipped to the canvas.
    private func box(_ cx: Float, _ cy: Float, _ r: Float) -> (ClosedRange<Int>, ClosedRange<Int>)? {
        let x0 = max(0, Int(cx - r - 2)), x1 = min(size - 1, Int(cx + r + 2))
        let y0 = max(0, Int(cy - r - 2)), y1 = min(size - 1, Int(cy + r + 2))
        guard x0 <= x1, y0 <= y1 else { return nil }
        return (x0...x1, y0...y1)
    }

    mutating func drawRedCell(cx: Float, cy: Float, radius: Float, density: Float, squash: Float, rotation: Float) {
        guard let (xs, ys) = box(cx, cy, radius * squash) else { return }
        let c = _cosf(rotation), s = _sinf(rotation)
        for y in ys {
            for x in xs {
                let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                let u = (dx * c + dy * s) / squash, v = -dx * s + dy * c
                let dist = (u * u + v * v).squareRoot()
                let cover = Canvas.coverage(distance: dist, radius: radius)
                if cover <= 0 { continue }
                let rel = dist / radius
                let pallor = 1 - 0.55 * max(0, 1 - rel / 0.55) // paler centre of a biconcave disc
                let i = y * size + x
                eosin[i] = max(eosin[i], eosin[i] * (1 - cover) + density * pallor * cover)
            }
        }
    }

    mutating func drawCytoplasm(cx: Float, cy: Float, radius: Float, outline: Outline, haematoxylin: Float) {
        guard let (xs, ys) = box(cx, cy, radius * 1.4) else { return }
        for y in ys {
            for x in xs {
                let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                let dist = (dx * dx + dy * dy).squareRoot()
                let cover = Canvas.coverage(distance: dist, radius: radius * outline.scale(angle: atan2f(dy, dx)))
                if cover <= 0 { continue }
                let i = y * size + x
                nuclear[i] = nuclear[i] * (1 - cover) + haematoxylin * cover
                eosin[i] = eosin[i] * (1 - cover) + 0.05 * cover
            }
        }
    }

    mutating func drawNucleus(cx: Float, cy: Float, radius: Float, outline: Outline, chromatin: Chromatin) {
        guard let (xs, ys) = box(cx, cy, radius * 1.4) else { return }
        let span = 2 * radius * 1.4
        for y in ys {
            for x in xs {
                let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                let dist = (dx * dx + dy * dy).squareRoot()
                let cover = Canvas.coverage(distance: dist, radius: radius * outline.scale(angle: atan2f(dy, dx)))
                if cover <= 0 { continue }
                let u = (dx + radius * 1.4) / span, v = (dy + radius * 1.4) / span
                let texture = 1 + chromatin.coarseAmplitude * chromatin.coarse.sample(u, v) + chromatin.fineAmplitude * chromatin.fine.sample(u, v)
                let value = max(0.15, chromatin.density * texture)
                let i = y * size + x
                nuclear[i] = nuclear[i] * (1 - cover) + value * cover
                eosin[i] = eosin[i] * (1 - cover) + 0.08 * cover
            }
        }
    }

    mutating func drawNucleolus(cx: Float, cy: Float, radius: Float) {
        guard let (xs, ys) = box(cx, cy, radius) else { return }
        for y in ys {
            for x in xs {
                let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                let cover = Canvas.coverage(distance: (dx * dx + dy * dy).squareRoot(), radius: radius)
                if cover <= 0 { continue }
                let i = y * size + x
                nuclear[i] = nuclear[i] * (1 - cover * 0.55) // pale, lighter spot in the nucleus
            }
        }
    }

    /// Beer-Lambert: light * exp(-(od_nuclear * nuclear_rgb + od_eosin * eosin_rgb)), with a
    /// linear illumination gradient and a small hue shift, as RGB in [0, 1] (HWC).
    func toRGB(stain: SiteStain, stainScale: Float, gradient: (Float, Float), hueShift: Float) -> [Float] {
        var out = [Float](repeating: 0, count: size * size * 3)
        let n = [stain.nuclear.0 * (1 + hueShift), stain.nuclear.1, stain.nuclear.2 * (1 - hueShift)]
        let e = [stain.eosin.0, stain.eosin.1, stain.eosin.2]
        let light = [stain.light.0, stain.light.1, stain.light.2]
        for y in 0..<size {
            for x in 0..<size {
                let i = y * size + x
                let illumination = 1 + gradient.0 * (Float(x) / Float(size) - 0.5) + gradient.1 * (Float(y) / Float(size) - 0.5)
                for c in 0..<3 {
                    let od = stainScale * (nuclear[i] * n[c] + eosin[i] * e[c])
                    out[i * 3 + c] = light[c] * illumination * expf(-od * 2.3)
                }
            }
        }
        return out
    }
}

/// Separable Gaussian blur on HWC float RGB (clamped edges).
func gaussianBlur(_ rgb: [Float], size: Int, sigma: Float) -> [Float] {
    let radius = max(1, Int((sigma * 2.5).rounded(.up)))
    var kernel = (-radius...radius).map { expf(-Float($0 * $0) / (2 * sigma * sigma)) }
    let total = kernel.reduce(0, +)
    kernel = kernel.map { $0 / total }
    var tmp = rgb, out = rgb
    for y in 0..<size {
        for x in 0..<size {
            for c in 0..<3 {
                var acc: Float = 0
                for k in -radius...radius { acc += kernel[k + radius] * rgb[(y * size + min(max(x + k, 0), size - 1)) * 3 + c] }
                tmp[(y * size + x) * 3 + c] = acc
            }
        }
    }
    for y in 0..<size {
        for x in 0..<size {
            for c in 0..<3 {
                var acc: Float = 0
                for k in -radius...radius { acc += kernel[k + radius] * tmp[(min(max(y + k, 0), size - 1) * size + x) * 3 + c] }
                out[(y * size + x) * 3 + c] = acc
            }
        }
    }
    return out
}

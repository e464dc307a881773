import LeukCore

/// Geometric transforms that only move pixels; they never change the multiset of pixel values.
extension RGBImage {
    public func flippedHorizontally() -> RGBImage {
        var out = pixels
        for y in 0..<height {
            for x in 0..<width {
                let s = (y * width + x) * 3, d = (y * width + (width - 1 - x)) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    public func flippedVertically() -> RGBImage {
        var out = pixels
        let row = width * 3
        for y in 0..<height {
            let s = y * row, d = (height - 1 - y) * row
            for i in 0..<row { out[d + i] = pixels[s + i] }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Rotates clockwise by `quarterTurns` x 90 degrees (any integer, taken modulo 4).
    public func rotated90(quarterTurns: Int) -> RGBImage {
        let turns = ((quarterTurns % 4) + 4) % 4
        if turns == 0 { return self }
        let (ow, oh) = turns == 2 ? (width, height) : (height, width)
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                let (nx, ny): (Int, Int)
                switch turns {
                case 1: (nx, ny) = (height - 1 - y, x)
                case 2: (nx, ny) = (width - 1 - x, height - 1 - y)
                default: (nx, ny) = (y, width - 1 - x)
                }
                let s = (y * width + x) * 3, d = (ny * ow + nx) * 3
                out[d] = pixels[s]; out[d + 1] = pixels[s + 1]; out[d + 2] = pixels[s + 2]
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    /// Colour jitter: brightness adds `brightness` (fraction of full scale), contrast scales around
    /// the image mean by `1 + contrast`, hue rotates every colour about the grey axis by
    /// `hueTurns` of a full turn. All zero returns the image unchanged.
    public func colorJittered(brightness: Float, contrast: Float, hueTurns: Float) -> RGBImage {
        if brightness == 0 && contrast == 0 && hueTurns == 0 { return self }
        // Hue rotation about (1,1,1)/sqrt(3) (Rodrigues), a linear map that keeps grey grey.
        let angle = hueTurns * 2 * Float.pi
        let c = _cosf(angle), s = _sinf(angle)
        let k = (1 - c) / 3, r = s / Float(3).squareRoot()
        let m: [Float] = [c + k, k - r, k + r,
                          k + r, c + k, k - r,
                          k - r, k + r, c + k]
        var mean: Float = 0
        for v in pixels { mean += Float(v) }
        mean /= Float(max(pixels.count, 1))
        let gain = 1 + contrast, shift = brightness * 255
        var out = [UInt8](repeating: 0, count: pixels.count)
        var i = 0
        while i < pixels.count {
            let pr = Float(pixels[i]), pg = Float(pixels[i + 1]), pb = Float(pixels[i + 2])
            for ch in 0..<3 {
                let rotated = m[ch * 3] * pr + m[ch * 3 + 1] * pg + m[ch * 3 + 2] * pb
                let v = (rotated - mean) * gain + mean + shift
                out[i + ch] = UInt8(min(max(v.rounded(), 0), 255))
            }
            i += 3
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

/// Transforms for real smears: a rotation by any angle with a zoom, a small blur, and stain jitter in the
/// haematoxylin-eosin-DAB optical-density space (Ruifrok and Johnston 2001; Tellez et al. 2019 for the jitter).
extension RGBImage {
    /// Rotates by `radians` about the centre and zooms by `scale` (above 1 enlarges), sampling bilinearly and
    /// mirroring at the borders: a cell crop has background at its edges, and mirrored background is
    /// background, where a constant fill would draw a square no real image has.
    public func rotatedAndScaled(radians: Float, scale: Float) -> RGBImage {
        if radians == 0 && scale == 1 { return self }
        let c = _cosf(radians) / scale, s = _sinf(radians) / scale
        let cx = Float(width - 1) / 2, cy = Float(height - 1) / 2
        var out = [UInt8](repeating: 0, count: pixels.count)
        func mirror(_ v: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            let period = 2 * (n - 1)
            var m = v % period
            if m < 0 { m += period }
            return m < n ? m : period - m
        }
        pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                for x in 0..<width {
                    let dx = Float(x) - cx, dy = Float(y) - cy
                    let sx = c * dx + s * dy + cx, sy = -s * dx + c * dy + cy
                    let fx = sx.rounded(.down), fy = sy.rounded(.down)
                    let wx = sx - fx, wy = sy - fy
                    let x0 = mirror(Int(fx), width), x1 = mirror(Int(fx) + 1, width)
                    let y0 = mirror(Int(fy), height), y1 = mirror(Int(fy) + 1, height)
                    for ch in 0..<3 {
                        let a = Float(src[(y0 * width + x0) * 3 + ch]), b = Float(src[(y0 * width + x1) * 3 + ch])
                        let d = Float(src[(y1 * width + x0) * 3 + ch]), e = Float(src[(y1 * width + x1) * 3 + ch])
                        let top = a + (b - a) * wx, bottom = d + (e - d) * wx
                        out[(y * width + x) * 3 + ch] = UInt8(min(max((top + (bottom - top) * wy).rounded(), 0), 255))
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// A separable Gaussian blur of standard deviation `sigma` pixels (a kernel of radius `ceil(2 sigma)`,
    /// mirrored at the borders): a slightly defocused camera. 0 returns the image unchanged.
    public func blurred(sigma: Float) -> RGBImage {
        guard sigma > 0.05 else { return self }
        let radius = max(1, Int((2 * sigma).rounded(.up)))
        var kernel = (-radius...radius).map { _expf(-0.5 * Float($0 * $0) / (sigma * sigma)) }
        let total = kernel.reduce(0, +)
        kernel = kernel.map { $0 / total }
        func clampIndex(_ v: Int, _ n: Int) -> Int { min(max(v, 0), n - 1) }
        var horizontal = [Float](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                for ch in 0..<3 {
                    var acc: Float = 0
                    for (k, w) in kernel.enumerated() { acc += w * Float(pixels[(y * width + clampIndex(x + k - radius, width)) * 3 + ch]) }
                    horizontal[(y * width + x) * 3 + ch] = acc
                }
            }
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<height {
            for x in 0..<width {
                for ch in 0..<3 {
                    var acc: Float = 0
                    for (k, w) in kernel.enumerated() { acc += w * horizontal[(clampIndex(y + k - radius, height) * width + x) * 3 + ch] }
                    out[(y * width + x) * 3 + ch] = UInt8(min(max(acc.rounded(), 0), 255))
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Stain jitter: every pixel's optical density `-ln((I + 1) / 256)` is split into haematoxylin, eosin and
    /// DAB concentrations, each scaled by `1 + alpha[k]` and shifted by `beta[k]`, and recomposed. A lab whose
    /// haematoxylin is stronger or whose eosin is paler than the training lab's looks like this. All zero
    /// returns the image unchanged.
    public func stainJittered(alpha: [Float], beta: [Float]) -> RGBImage {
        precondition(alpha.count == 3 && beta.count == 3, "stain jitter needs three stains")
        if alpha.allSatisfy({ $0 == 0 }) && beta.allSatisfy({ $0 == 0 }) { return self }
        let toStain = StainBasis.hed.inverse, toRGB = StainBasis.hed.matrix
        var lookup = [Float](repeating: 0, count: 256)
        for v in 0..<256 { lookup[v] = -_logf((Float(v) + 1) / 256) }
        var out = [UInt8](repeating: 0, count: pixels.count)
        var i = 0
        while i < pixels.count {
            let od = [lookup[Int(pixels[i])], lookup[Int(pixels[i + 1])], lookup[Int(pixels[i + 2])]]
            var jittered = [Float](repeating: 0, count: 3)
            for k in 0..<3 {
                let concentration = od[0] * toStain[0 * 3 + k] + od[1] * toStain[1 * 3 + k] + od[2] * toStain[2 * 3 + k]
                jittered[k] = concentration * (1 + alpha[k]) + beta[k]
            }
            for ch in 0..<3 {
                let density = jittered[0] * toRGB[0 * 3 + ch] + jittered[1] * toRGB[1 * 3 + ch] + jittered[2] * toRGB[2 * 3 + ch]
                let v = 256 * _expf(-max(density, 0)) - 1
                out[i + ch] = UInt8(min(max(v.rounded(), 0), 255))
            }
            i += 3
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}

/// A basis of three stains' optical-density colours, rows normalised: `od = concentrations x matrix`.
public struct StainBasis: Sendable, Equatable {
    /// Row-major 3x3: row k is stain k's optical density in R, G, B.
    public var matrix: [Float]
    /// Its inverse, row-major: `concentrations = od x inverse`.
    public var inverse: [Float]

    public init(rows: [[Float]]) {
        precondition(rows.count == 3 && rows.allSatisfy { $0.count == 3 }, "a stain basis has three rows of three")
        let normalised = rows.map { row -> [Float] in
            let n = (row.reduce(0) { $0 + $1 * $1 }).squareRoot()
            return n > 0 ? row.map { $0 / n } : row
        }
        matrix = normalised.flatMap { $0 }
        inverse = Self.invert(matrix)
    }

    /// Ruifrok and Johnston's haematoxylin, eosin and DAB vectors (the basis of scikit-image's `rgb2hed`).
    public static let hed = StainBasis(rows: [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])

    static func invert(_ m: [Float]) -> [Float] {
        let a = m.map(Double.init)
        let det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
        precondition(abs(det) > 1e-12, "stain basis is singular")
        let cofactors = [
            a[4] * a[8] - a[5] * a[7], a[2] * a[7] - a[1] * a[8], a[1] * a[5] - a[2] * a[4],
            a[5] * a[6] - a[3] * a[8], a[0] * a[8] - a[2] * a[6], a[2] * a[3] - a[0] * a[5],
            a[3] * a[7] - a[4] * a[6], a[1] * a[6] - a[0] * a[7], a[0] * a[4] - a[1] * a[3],
        ]
        return cofactors.map { Float($0 / det) }
    }
}

/// Seeded training augmentation: random flips and quarter turns (blood cells have no up or down)
/// and small brightness, contrast and hue jitter (stains differ between labs). The same seed gives
/// the same sequence of transforms.
public struct Augmenter: Sendable {
    public struct Options: Sendable, Equatable {
        public var flips: Bool
        public var rotations: Bool
        /// Maximum absolute brightness shift, fraction of full scale.
        public var brightness: Float
        /// Maximum absolute contrast change (0.1 = x0.9 ... x1.1).
        public var contrast: Float
        /// Maximum absolute hue rotation, in turns (0.02 = 7.2 degrees).
        public var hue: Float

        /// Rotation by any angle (on top of the quarter turns), with a zoom of up to `scale` either way
        /// (0.1 = x0.9 ... x1.1): cells lie at every angle, and magnifications differ between microscopes.
        public var anyAngle: Bool
        public var scale: Float
        /// Largest blur, as a Gaussian's standard deviation in pixels (drawn uniformly from 0 to it, on half
        /// the images).
        public var blur: Float
        /// Stain jitter in HED space: each stain's concentration scaled by up to `1 ± stain` and shifted by up to
        /// `± stain / 4` (0.05 is Tellez et al.'s "light" setting).
        public var stain: Float

        public init(flips: Bool = true, rotations: Bool = true, brightness: Float = 0.08, contrast: Float = 0.1, hue: Float = 0.02,
                    anyAngle: Bool = false, scale: Float = 0, blur: Float = 0, stain: Float = 0) {
            self.flips = flips; self.rotations = rotations
            self.brightness = brightness; self.contrast = contrast; self.hue = hue
            self.anyAngle = anyAngle; self.scale = scale; self.blur = blur; self.stain = stain
        }

        public static let standard = Options()
        /// Geometry only, no colour change.
        public static let geometric = Options(brightness: 0, contrast: 0, hue: 0)
        /// What real smears from another lab need (`leuknode train`'s default): any angle, a zoom of ±10 %, a blur of
        /// up to 1 pixel, stain jitter of ±5 % in HED space, and small brightness and contrast changes.
        public static let smear = Options(brightness: 0.05, contrast: 0.1, hue: 0, anyAngle: true, scale: 0.1, blur: 1, stain: 0.05)
    }

    public var options: Options
    private var rng: SeededGenerator

    public init(seed: UInt64, options: Options = .standard) {
        self.rng = SeededGenerator(seed: seed)
        self.options = options
    }

    public mutating func augment(_ image: RGBImage) -> RGBImage {
        var out = image
        if options.flips && rng.next() & 1 == 1 { out = out.flippedHorizontally() }
        if options.rotations { out = out.rotated90(quarterTurns: Int(rng.next() % 4)) }
        // The options below draw random numbers only when set, so the older presets replay as before.
        if options.anyAngle || options.scale > 0 {
            let angle = options.anyAngle ? rng.nextUnitFloat() * Float.pi / 2 : 0
            out = out.rotatedAndScaled(radians: angle, scale: 1 + symmetric(options.scale))
        }
        if options.stain > 0 {
            let alpha = (0..<3).map { _ in symmetric(options.stain) }, beta = (0..<3).map { _ in symmetric(options.stain / 4) }
            out = out.stainJittered(alpha: alpha, beta: beta)
        }
        if options.blur > 0, rng.next() & 1 == 1 { out = out.blurred(sigma: rng.nextUnitFloat() * options.blur) }
        let b = symmetric(options.brightness), c = symmetric(options.contrast), h = symmetric(options.hue)
        return out.colorJittered(brightness: b, contrast: c, hueTurns: h)
    }

    private mutating func symmetric(_ magnitude: Float) -> Float {
        magnitude == 0 ? 0 : (rng.nextUnitFloat() * 2 - 1) * magnitude
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _cosf(_ x: Float) -> Float { Glibc.cosf(x) }
@inline(__always) func _sinf(_ x: Float) -> Float { Glibc.sinf(x) }
@inline(__always) func _expf(_ x: Float) -> Float { Glibc.expf(x) }
@inline(__always) func _logf(_ x: Float) -> Float { Glibc.logf(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _cosf(_ x: Float) -> Float { Darwin.cosf(x) }
@inline(__always) func _sinf(_ x: Float) -> Float { Darwin.sinf(x) }
@inline(__always) func _expf(_ x: Float) -> Float { Darwin.expf(x) }
@inline(__always) func _logf(_ x: Float) -> Float { Darwin.logf(x) }
#endif

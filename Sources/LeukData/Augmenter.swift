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

        public init(flips: Bool = true, rotations: Bool = true, brightness: Float = 0.08, contrast: Float = 0.1, hue: Float = 0.02) {
            self.flips = flips; self.rotations = rotations
            self.brightness = brightness; self.contrast = contrast; self.hue = hue
        }

        public static let standard = Options()
        /// Geometry only, no colour change.
        public static let geometric = Options(brightness: 0, contrast: 0, hue: 0)
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
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _cosf(_ x: Float) -> Float { Darwin.cosf(x) }
@inline(__always) func _sinf(_ x: Float) -> Float { Darwin.sinf(x) }
#endif

/// Bilinear resize to `size` x `size` with half-pixel centres (the OpenCV / PyTorch
/// `align_corners=false` convention), rounding to the nearest 8-bit value. Returns the image
/// unchanged when it already has that size, so training and inference see identical pixels.
/// Non-square inputs are stretched; cell crops are square in every layout the project reads.
public func resizeBilinear(_ image: RGBImage, to size: Int) -> RGBImage {
    precondition(size > 0, "resize target must be positive")
    if image.width == size && image.height == size { return image }
    let sw = image.width, sh = image.height
    let scaleX = Float(sw) / Float(size), scaleY = Float(sh) / Float(size)
    // Per-column source indices and weights, computed once.
    var x0 = [Int](repeating: 0, count: size), x1 = x0
    var wx = [Float](repeating: 0, count: size)
    for x in 0..<size {
        let sx = min(max((Float(x) + 0.5) * scaleX - 0.5, 0), Float(sw - 1))
        let lo = Int(sx)
        x0[x] = lo; x1[x] = min(lo + 1, sw - 1); wx[x] = sx - Float(lo)
    }
    let src = image.pixels
    let out = [UInt8](unsafeUninitializedCapacity: size * size * 3) { buffer, initialized in
        for y in 0..<size {
            let sy = min(max((Float(y) + 0.5) * scaleY - 0.5, 0), Float(sh - 1))
            let y0 = Int(sy), y1 = min(Int(sy) + 1, sh - 1)
            let wy = sy - Float(y0)
            let row0 = y0 * sw * 3, row1 = y1 * sw * 3
            for x in 0..<size {
                let a = row0 + x0[x] * 3, b = row0 + x1[x] * 3, c = row1 + x0[x] * 3, d = row1 + x1[x] * 3
                let fx = wx[x]
                for ch in 0..<3 {
                    let top = Float(src[a + ch]) + (Float(src[b + ch]) - Float(src[a + ch])) * fx
                    let bottom = Float(src[c + ch]) + (Float(src[d + ch]) - Float(src[c + ch])) * fx
                    let v = top + (bottom - top) * wy
                    buffer[(y * size + x) * 3 + ch] = UInt8(min(max(v.rounded(), 0), 255))
                }
            }
        }
        initialized = size * size * 3
    }
    return RGBImage(width: size, height: size, pixels: out)
}

/// Per-channel normalisation, `x = (u8 / 255 - mean[c]) / std[c]`, fitted on the training set and
/// stored with the model so that inference applies exactly the same numbers.
public struct Normalization: Sendable, Equatable, Codable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == 3 && std.count == 3, "Normalization needs three channels")
        self.mean = mean
        self.std = std
    }

    /// No change beyond scaling to [0, 1].
    public static let unit = Normalization(mean: [0, 0, 0], std: [1, 1, 1])

    /// Population mean and standard deviation per channel of `u8 / 255` over every pixel of every
    /// image. A channel with (near) zero spread gets std 1 so that it cannot divide by zero.
    public static func fit(_ images: [RGBImage]) -> Normalization {
        var sum = [Double](repeating: 0, count: 3), sumSq = sum
        var count = 0
        for image in images {
            var local = [UInt64](repeating: 0, count: 3), localSq = local
            image.pixels.withUnsafeBufferPointer { p in
                var i = 0
                while i < p.count {
                    for ch in 0..<3 {
                        let v = UInt64(p[i + ch])
                        local[ch] += v; localSq[ch] += v * v
                    }
                    i += 3
                }
            }
            for ch in 0..<3 { sum[ch] += Double(local[ch]); sumSq[ch] += Double(localSq[ch]) }
            count += image.width * image.height
        }
        guard count > 0 else { return .unit }
        var mean = [Float](repeating: 0, count: 3), std = mean
        for ch in 0..<3 {
            let m = sum[ch] / Double(count) / 255
            let variance = max(sumSq[ch] / Double(count) / (255 * 255) - m * m, 0)
            mean[ch] = Float(m)
            let s = variance.squareRoot()
            std[ch] = s < 1e-6 ? 1 : Float(s)
        }
        return Normalization(mean: mean, std: std)
    }

    /// The normalised value of every possible byte, per channel: 3 x 256 entries, computed with
    /// the contract's formula so a table lookup gives bit-identical results.
    public func lookupTable() -> [Float] {
        var table = [Float](repeating: 0, count: 3 * 256)
        for ch in 0..<3 {
            for v in 0..<256 { table[ch * 256 + v] = (Float(v) / 255 - mean[ch]) / std[ch] }
        }
        return table
    }

    /// Writes the image as CHW float32 (3 * height * width values) into `into`. The image must
    /// already be at the model's size; call `resizeBilinear` first.
    public func writeCHW(_ image: RGBImage, into: UnsafeMutablePointer<Float>) {
        writeCHW(image, into: into, table: lookupTable())
    }

    /// As `writeCHW(_:into:)` with a table from `lookupTable()`, for loops over many images.
    public func writeCHW(_ image: RGBImage, into out: UnsafeMutablePointer<Float>, table: [Float]) {
        let plane = image.width * image.height
        image.pixels.withUnsafeBufferPointer { p in
            table.withUnsafeBufferPointer { t in
                for i in 0..<plane {
                    out[i] = t[Int(p[i * 3])]
                    out[plane + i] = t[256 + Int(p[i * 3 + 1])]
                    out[2 * plane + i] = t[512 + Int(p[i * 3 + 2])]
                }
            }
        }
    }

    /// CHW float32 as a new array.
    public func chw(_ image: RGBImage) -> [Float] {
        var out = [Float](repeating: 0, count: 3 * image.width * image.height)
        out.withUnsafeMutableBufferPointer { writeCHW(image, into: $0.baseAddress!) }
        return out
    }
}

/// What a model does to a decoded image before its network sees it: resize to its input size, re-render with
/// its training set's stains when it was trained with stain normalisation, then per-channel normalisation.
/// The one path for training caches, evaluation, `diagnose`, the clinic's uploads and the running node.
public struct InputPreprocessing: Sendable, Equatable {
    public var size: Int
    public var normalization: Normalization
    public var stain: StainNormalizer?

    public init(size: Int, normalization: Normalization, stain: StainNormalizer? = nil) {
        self.size = size
        self.normalization = normalization
        self.stain = stain
    }

    /// Resized and, if the model asks for it, stain-normalised: what training caches and augments.
    public func image(_ decoded: RGBImage) -> RGBImage {
        let resized = resizeBilinear(decoded, to: size)
        return stain?.normalize(resized) ?? resized
    }

    /// The network's input, CHW, for one decoded image.
    public func input(_ decoded: RGBImage) -> [Float] { normalization.chw(image(decoded)) }

    /// The network's input for one file, decoded with the project's bounded decoder.
    public func input(path: String, limits: DecodeLimits = .standard) throws(ImageError) -> [Float] {
        input(try ImageDecoder.decode(path: path, limits: limits))
    }

    /// Test-time augmentation: the eight rotations and reflections of the prepared image, CHW one after
    /// another (a cell has no up, down, left or right, so a model should say the same of all eight).
    public func dihedralInputs(_ decoded: RGBImage) -> [Float] {
        let prepared = image(decoded)
        var out: [Float] = []
        out.reserveCapacity(8 * 3 * prepared.width * prepared.height)
        for flip in [false, true] {
            let base = flip ? prepared.flippedHorizontally() : prepared
            for turns in 0..<4 { out += normalization.chw(base.rotated90(quarterTurns: turns)) }
        }
        return out
    }
}

/// Decode, resize and normalise one file exactly as training does (without stain normalisation; a model
/// that has one goes through `InputPreprocessing`).
public func preprocess(path: String, size: Int, normalization: Normalization, limits: DecodeLimits = .standard) throws(ImageError) -> [Float] {
    try InputPreprocessing(size: size, normalization: normalization).input(path: path, limits: limits)
}

import LeukMetrics
/// Macenko stain normalisation (Macenko et al. 2009): every image's two stains are estimated from its own
/// pixels and its colours re-rendered with a reference lab's stains and stain strengths.
///
/// Why: a lab whose haematoxylin is bluer, or whose eosin is paler, shifts every pixel of every cell, and a
/// CNN trained on one lab's colours reads another lab's as a different cell. Re-rendering every image, in
/// training and at diagnosis alike, with the stains of the training set removes most of that shift. The
/// reference is fitted on the training set (the median of the per-image estimates) and stored in the model
/// (`stain_normalization` in its metadata), so evaluation, diagnosis and the node apply the same transform.
///
/// Optical density: `od = -ln((I + 1) / 256)` per channel (Beer-Lambert: stains add in optical density).
public struct StainNormalizer: Sendable, Equatable {
    /// The reference haematoxylin and eosin optical-density vectors (unit length, R G B each), haematoxylin first.
    public var stains: [Float]
    /// The reference's 99th percentile of each stain's concentration: how strongly the lab stains.
    public var maxConcentrations: [Float]

    /// Optical density (the length of a pixel's density vector) below which it is unstained background
    /// (Macenko's beta).
    public static let transparency: Float = 0.15
    /// The angle percentile that picks the two extreme stain directions (Macenko's alpha, in percent).
    public static let anglePercentile: Float = 1
    /// An image needs this many stained pixels for its stains to be estimated; else it is left as it is.
    public static let minimumStainedPixels = 32

    public init(stains: [Float], maxConcentrations: [Float]) {
        precondition(stains.count == 6 && maxConcentrations.count == 2, "two stains of three channels, two concentrations")
        self.stains = stains
        self.maxConcentrations = maxConcentrations
    }

    // MARK: Estimation

    /// One image's two stains and their strengths, or nil when fewer than `minimumStainedPixels` pixels are stained.
    public static func estimate(_ image: RGBImage) -> StainNormalizer? {
        let density = opticalDensities(image)
        var stained: [(Float, Float, Float)] = []
        // A pixel counts as stained by its total optical density: an eosin-only pixel absorbs little red, and
        // a per-channel threshold would drop every one of them and leave no pure eosin to find.
        for i in stride(from: 0, to: density.count, by: 3) {
            let p = (density[i], density[i + 1], density[i + 2])
            if (p.0 * p.0 + p.1 * p.1 + p.2 * p.2).squareRoot() >= transparency { stained.append(p) }
        }
        guard stained.count >= minimumStainedPixels else { return nil }
        // The plane of the two largest principal directions of the stained pixels' densities.
        var mean = [Double](repeating: 0, count: 3)
        for p in stained { mean[0] += Double(p.0); mean[1] += Double(p.1); mean[2] += Double(p.2) }
        mean = mean.map { $0 / Double(stained.count) }
        var covariance = [Double](repeating: 0, count: 9)
        for p in stained {
            let d = [Double(p.0) - mean[0], Double(p.1) - mean[1], Double(p.2) - mean[2]]
            for r in 0..<3 { for c in 0..<3 { covariance[r * 3 + c] += d[r] * d[c] } }
        }
        let (values, vectors) = symmetricEigen3(covariance.map { $0 / Double(stained.count) })
        let order = [0, 1, 2].sorted { values[$0] > values[$1] }
        // Each direction points into the positive octant, as densities do.
        func direction(_ k: Int) -> [Double] {
            let v = [vectors[0 * 3 + k], vectors[1 * 3 + k], vectors[2 * 3 + k]]
            return v.reduce(0, +) < 0 ? v.map { -$0 } : v
        }
        let e1 = direction(order[0]), e2 = direction(order[1])
        let angles = stained.map { p -> Float in
            let x = Double(p.0) * e1[0] + Double(p.1) * e1[1] + Double(p.2) * e1[2]
            let y = Double(p.0) * e2[0] + Double(p.1) * e2[1] + Double(p.2) * e2[2]
            return Float(_atan2(y, x))
        }
        let low = Double(percentile(angles, anglePercentile)), high = Double(percentile(angles, 100 - anglePercentile))
        func unit(_ angle: Double) -> [Float] {
            let v = (0..<3).map { e1[$0] * _cos(angle) + e2[$0] * _sin(angle) }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { Float(max($0, 0) / max(n, 1e-12)) }
        }
        let a = unit(low), b = unit(high)
        // Haematoxylin absorbs red more than eosin does.
        let stains = a[0] >= b[0] ? a + b : b + a
        guard let concentrations = concentrations(density, stains: stains) else { return nil }
        let maxima = (0..<2).map { k in
            percentile(stride(from: k, to: concentrations.count, by: 2).map { concentrations[$0] }, 99)
        }
        guard maxima.allSatisfy({ $0 > 1e-3 }) else { return nil }
        return StainNormalizer(stains: stains, maxConcentrations: maxima)
    }

    /// The reference for a training set: the median of its images' estimates, per component (robust to the
    /// odd image whose estimate failed or went astray). Nil when no image could be estimated.
    public static func fit(_ images: [RGBImage]) -> StainNormalizer? {
        let estimates = images.compactMap(estimate)
        guard !estimates.isEmpty else { return nil }
        func median(_ values: [Float]) -> Float { percentile(values, 50) }
        var stains = (0..<6).map { k in median(estimates.map { $0.stains[k] }) }
        for s in 0..<2 {
            let n = (0..<3).reduce(Float(0)) { $0 + stains[s * 3 + $1] * stains[s * 3 + $1] }.squareRoot()
            if n > 0 { for c in 0..<3 { stains[s * 3 + c] /= n } }
        }
        return StainNormalizer(stains: stains, maxConcentrations: (0..<2).map { k in median(estimates.map { $0.maxConcentrations[k] }) })
    }

    // MARK: Normalisation

    /// The image re-rendered with the reference's stains and strengths. An image whose stains cannot be
    /// estimated (almost no stained pixel: a blank or washed-out crop) is returned unchanged.
    public func normalize(_ image: RGBImage) -> RGBImage {
        guard let source = Self.estimate(image) else { return image }
        return render(image, from: source)
    }

    /// Re-renders `image`, whose stains are `source`, with this reference's stains and strengths.
    public func render(_ image: RGBImage, from source: StainNormalizer) -> RGBImage {
        let density = Self.opticalDensities(image)
        guard let concentrations = Self.concentrations(density, stains: source.stains) else { return image }
        let scale = (0..<2).map { maxConcentrations[$0] / max(source.maxConcentrations[$0], 1e-6) }
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        for p in 0..<(image.pixels.count / 3) {
            let h = concentrations[p * 2] * scale[0], e = concentrations[p * 2 + 1] * scale[1]
            for c in 0..<3 {
                let od = max(h * stains[c] + e * stains[3 + c], 0)
                out[p * 3 + c] = UInt8(min(max((256 * _expf(-od) - 1).rounded(), 0), 255))
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: out)
    }

    // MARK: Metadata

    /// The model-file form: `macenko:` and eight comma-separated numbers (two stain vectors, two strengths).
    public var metadataValue: String {
        "macenko:" + (stains + maxConcentrations).map { "\($0)" }.joined(separator: ",")
    }

    public init?(metadataValue: String) {
        guard metadataValue.hasPrefix("macenko:") else { return nil }
        let numbers = metadataValue.dropFirst("macenko:".count).split(separator: ",").compactMap { Float(String($0)) }
        guard numbers.count == 8, numbers.allSatisfy({ $0.isFinite && $0 >= 0 }), numbers[6] > 0, numbers[7] > 0 else { return nil }
        self.init(stains: Array(numbers[0..<6]), maxConcentrations: Array(numbers[6..<8]))
    }

    // MARK: Internals

    static func opticalDensities(_ image: RGBImage) -> [Float] {
        var lookup = [Float](repeating: 0, count: 256)
        for v in 0..<256 { lookup[v] = -_logf((Float(v) + 1) / 256) }
        return image.pixels.map { lookup[Int($0)] }
    }

    /// Each pixel's two stain concentrations by least squares (`od ~ h * H + e * E`), interleaved; nil when the
    /// two stain vectors are (nearly) parallel.
    static func concentrations(_ density: [Float], stains: [Float]) -> [Float]? {
        let h = stains[0..<3].map(Double.init), e = stains[3..<6].map(Double.init)
        let hh = zip(h, h).reduce(0) { $0 + $1.0 * $1.1 }, ee = zip(e, e).reduce(0) { $0 + $1.0 * $1.1 }
        let he = zip(h, e).reduce(0) { $0 + $1.0 * $1.1 }
        let det = hh * ee - he * he
        guard det > 1e-6 else { return nil }
        var out = [Float](repeating: 0, count: density.count / 3 * 2)
        for p in 0..<(density.count / 3) {
            let od = [Double(density[p * 3]), Double(density[p * 3 + 1]), Double(density[p * 3 + 2])]
            let bh = od[0] * h[0] + od[1] * h[1] + od[2] * h[2], be = od[0] * e[0] + od[1] * e[1] + od[2] * e[2]
            out[p * 2] = Float((ee * bh - he * be) / det)
            out[p * 2 + 1] = Float((hh * be - he * bh) / det)
        }
        return out
    }

    /// The project's one percentile (LeukMetrics: linear interpolation, `p` in percent); 0 for no values.
    static func percentile(_ values: [Float], _ p: Float) -> Float {
        Float(MetricsComputation.percentile(values.map(Double.init), Double(p)) ?? 0)
    }

    /// Eigenvalues and eigenvectors (columns, row-major) of a symmetric 3x3 matrix, by cyclic Jacobi rotations.
    static func symmetricEigen3(_ matrix: [Double]) -> (values: [Double], vectors: [Double]) {
        var a = matrix
        var v: [Double] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        for _ in 0..<50 {
            let off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5]
            if off < 1e-24 { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where abs(a[p * 3 + q]) > 1e-300 {
                let theta = (a[q * 3 + q] - a[p * 3 + p]) / (2 * a[p * 3 + q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {
                    let akp = a[k * 3 + p], akq = a[k * 3 + q]
                    a[k * 3 + p] = c * akp - s * akq
                    a[k * 3 + q] = s * akp + c * akq
                }
                for k in 0..<3 {
                    let apk = a[p * 3 + k], aqk = a[q * 3 + k]
                    a[p * 3 + k] = c * apk - s * aqk
                    a[q * 3 + k] = s * apk + c * aqk
                }
                for k in 0..<3 {
                    let vkp = v[k * 3 + p], vkq = v[k * 3 + q]
                    v[k * 3 + p] = c * vkp - s * vkq
                    v[k * 3 + q] = s * vkp + c * vkq
                }
            }
        }
        return ([a[0], a[4], a[8]], v)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _atan2(_ y: Double, _ x: Double) -> Double { Glibc.atan2(y, x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func _atan2(_ y: Double, _ x: Double) -> Double { Darwin.atan2(y, x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Darwin.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif

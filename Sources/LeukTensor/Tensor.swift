/// A dense float32 tensor: a shape and its row-major scalars.
///
/// This is the exchange type between model files and the engine (named tensors in safetensors, flat
/// parameter views). The hot loops do not use it: they run on `FloatBuffer`s a layer owns.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count, "Tensor: shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.scalars = Array(repeating: 0, count: shape.reduce(1, *))
    }

    public var count: Int { scalars.count }
}

/// Layout conversions between the PyTorch-style NCHW the outside world uses and the channels-last
/// NHWC the engine runs on (its convolutions are GEMMs with rows = pixels and columns = channels).
public enum Layout {
    /// Copies `images` NCHW images into NHWC order.
    public static func nchwToNHWC(
        _ source: UnsafePointer<Float>, images: Int, channels: Int, height: Int, width: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        let plane = height * width
        for n in 0..<images {
            let src = source + n * channels * plane
            let dst = destination + n * channels * plane
            if channels == 3 {
                let r = src, g = src + plane, b = src + 2 * plane
                for p in 0..<plane {
                    dst[3 * p] = r[p]; dst[3 * p + 1] = g[p]; dst[3 * p + 2] = b[p]
                }
            } else {
                for c in 0..<channels {
                    for p in 0..<plane { dst[p * channels + c] = src[c * plane + p] }
                }
            }
        }
    }

    /// Copies `images` NHWC images into NCHW order.
    public static func nhwcToNCHW(
        _ source: UnsafePointer<Float>, images: Int, channels: Int, height: Int, width: Int,
        into destination: UnsafeMutablePointer<Float>
    ) {
        let plane = height * width
        for n in 0..<images {
            let src = source + n * channels * plane
            let dst = destination + n * channels * plane
            for p in 0..<plane {
                for c in 0..<channels { dst[c * plane + p] = src[p * channels + c] }
            }
        }
    }
}

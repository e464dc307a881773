/// The shape of one 2-D convolution over channels-last (NHWC) images.
public struct ConvGeometry: Sendable, Equatable {
    public var height: Int
    public var width: Int
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    public init(height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(kernel > 0 && stride > 0 && padding >= 0, "ConvGeometry: bad kernel/stride/padding")
        self.height = height; self.width = width
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
    }

    public var outHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// Length of one im2col row: the (ky, kx, ci) patch feeding one output pixel.
    public var patchSize: Int { kernel * kernel * inChannels }
    public var inputPixels: Int { height * width }
    public var outputPixels: Int { outHeight * outWidth }
    /// The 3x3, stride 1, padding 1 ("same") convolution of both architectures, which has vector
    /// (AVX-512, AVX2) im2col kernels.
    public var isSamePadded3x3: Bool { kernel == 3 && stride == 1 && padding == 1 }
}

/// im2col for channels-last images: one row per output pixel, columns ordered (ky, kx, ci).
///
/// With NHWC the `kernel` neighbouring input pixels of one kernel row are contiguous in memory, so a
/// whole kernel row (kernel x inChannels floats) is copied at once when it lies inside the image.
public enum Im2Col {
    /// Fills `col` ((images x outHeight x outWidth) rows of `patchSize`) from `input` (NHWC).
    public static func gather(
        _ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        into col: UnsafeMutablePointer<Float>
    ) {
        if g.isSamePadded3x3 && g.inChannels % 16 == 0, let kernels = VectorKernels.active.table {
            kernels.gather(input, images, g.height, g.width, g.inChannels, col)
            return
        }
        portableGather(input, images: images, geometry: g, into: col)
    }

    /// `gather` without the vector kernels (any CPU, any geometry).
    static func portableGather(
        _ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        into col: UnsafeMutablePointer<Float>
    ) {
        let c = g.inChannels, k = g.kernel, h = g.height, w = g.width
        let oh = g.outHeight, ow = g.outWidth, patch = g.patchSize
        let rowSpan = k * c
        var row = col
        for n in 0..<images {
            let image = input + n * h * w * c
            for y in 0..<oh {
                let iy0 = y * g.stride - g.padding
                for x in 0..<ow {
                    let ix0 = x * g.stride - g.padding
                    let fullRow = ix0 >= 0 && ix0 + k <= w
                    for ky in 0..<k {
                        let dst = row + ky * rowSpan
                        let iy = iy0 + ky
                        if iy < 0 || iy >= h {
                            dst.update(repeating: 0, count: rowSpan)
                            continue
                        }
                        let srcRow = image + iy * w * c
                        if fullRow {
                            dst.update(from: srcRow + ix0 * c, count: rowSpan)
                        } else {
                            for kx in 0..<k {
                                let ix = ix0 + kx
                                let d = dst + kx * c
                                if ix < 0 || ix >= w {
                                    d.update(repeating: 0, count: c)
                                } else {
                                    d.update(from: srcRow + ix * c, count: c)
                                }
                            }
                        }
                    }
                    row += patch
                }
            }
        }
    }

    /// The adjoint of `gather`: adds every column entry back onto the input pixel it came from.
    /// `input` must hold the values to add to (zero it for a fresh gradient).
    public static func scatterAdd(
        _ col: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        into input: UnsafeMutablePointer<Float>
    ) {
        if g.isSamePadded3x3 && g.inChannels % 16 == 0, let kernels = VectorKernels.active.table {
            kernels.scatterAdd(col, images, g.height, g.width, g.inChannels, input)
            return
        }
        portableScatterAdd(col, images: images, geometry: g, into: input)
    }

    /// `scatterAdd` without the vector kernels.
    static func portableScatterAdd(
        _ col: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        into input: UnsafeMutablePointer<Float>
    ) {
        let c = g.inChannels, k = g.kernel, h = g.height, w = g.width
        let oh = g.outHeight, ow = g.outWidth, patch = g.patchSize
        let rowSpan = k * c
        var row = col
        for n in 0..<images {
            let image = input + n * h * w * c
            for y in 0..<oh {
                let iy0 = y * g.stride - g.padding
                for x in 0..<ow {
                    let ix0 = x * g.stride - g.padding
                    let fullRow = ix0 >= 0 && ix0 + k <= w
                    for ky in 0..<k {
                        let iy = iy0 + ky
                        if iy < 0 || iy >= h { continue }
                        let src = row + ky * rowSpan
                        let dstRow = image + iy * w * c
                        if fullRow {
                            let d = dstRow + ix0 * c
                            for i in 0..<rowSpan { d[i] += src[i] }
                        } else {
                            for kx in 0..<k {
                                let ix = ix0 + kx
                                if ix < 0 || ix >= w { continue }
                                let d = dstRow + ix * c, s = src + kx * c
                                for i in 0..<c { d[i] += s[i] }
                            }
                        }
                    }
                    row += patch
                }
            }
        }
    }
}


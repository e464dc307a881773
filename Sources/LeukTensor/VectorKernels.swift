internal import CLeukKernels
import Foundation

/// Whether the AVX-512 kernels of `CLeukKernels` run on this machine, and the direct convolution kernels
/// that only exist there.
///
/// The Swift code of the engine is compiled for generic x86-64 (SSE2) so the binary runs on any x86-64
/// CPU; a `-target-cpu` flag would make it crash on older ones. The C kernels instead carry AVX-512
/// target attributes per function and are only called when the CPU (and the OS, through XCR0) supports
/// AVX-512 F/BW/VL/DQ and FMA. Everywhere else, and with `LEUKNODE_PORTABLE_KERNELS=1`, the portable
/// Swift paths run. Results of the two paths agree to float32 rounding, not bit for bit (a different
/// summation order in conv1); each path is deterministic on its own.
public enum VectorKernels {
    public static let isAvailable: Bool = {
        if ProcessInfo.processInfo.environment["LEUKNODE_PORTABLE_KERNELS"] == "1" { return false }
        return leuk_kernels_have_avx512() != 0
    }()

    /// A human-readable name of the kernel set in use ("avx512" or "portable").
    public static var name: String { isAvailable ? "avx512" : "portable" }

    /// Copies NHWC images into a zero border of `padding` pixels on every side.
    public static func pad(
        _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int, padding: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        leuk_pad_nhwc(input, images, height, width, channels, padding, output)
    }

    /// Whether `DirectConv1` handles this block: 3x3 "same" convolution, 3 -> 16 channels, even sizes.
    public static func directConv1Applies(_ g: ConvGeometry) -> Bool {
        isAvailable && g.isSamePadded3x3 && g.inChannels == 3 && g.outChannels == 16 && g.height % 2 == 0 && g.width % 2 == 0
    }

    /// Whether `DirectConvReLUPool` handles this block's forward pass: 3x3 "same" convolution with a
    /// multiple of 32 output channels, even height, width a multiple of 4 (LeukNet-S's conv2 and conv3).
    public static func directConvApplies(_ g: ConvGeometry) -> Bool {
        isAvailable && g.isSamePadded3x3 && leuk_conv3x3_relu_pool_supported(g.inChannels, g.outChannels, g.height, g.width) != 0
    }
}

/// The forward pass of a 3x3 convolution + bias + ReLU + 2x2 max-pool block as one direct AVX-512 kernel,
/// without im2col: register-blocked over 2 x 4 output pixels and 32 output channels, reading a 1-pixel
/// zero-padded NHWC input. The backward pass stays im2col + GEMM. Only call when
/// `VectorKernels.directConvApplies` is true.
public enum DirectConvReLUPool {
    public static func forward(
        padded: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        leuk_conv3x3_relu_pool_forward_avx512(padded, images, g.height, g.width, g.inChannels, g.outChannels,
                                              weight, bias, output, argmax)
    }
}

/// LeukNet-S's first block (3x3 convolution 3 -> 16, bias, ReLU, 2x2 max-pool) as one direct AVX-512
/// kernel: with K = 27 the im2col GEMM is thin and its 27-float columns per pixel cost more to build
/// than to multiply. Works on a 1-pixel zero-padded NHWC input (see `VectorKernels.pad`). Only call when
/// `VectorKernels.directConv1Applies` is true.
public enum DirectConv1 {
    /// Pooled output and argmax codes, as `Pooling.maxPool2x2Forward` with the bias and ReLU defines them.
    public static func forward(
        padded: UnsafePointer<Float>, images: Int, height: Int, width: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        leuk_conv1_relu_pool_forward_avx512(padded, images, height, width, weight, bias, output, argmax)
    }

    /// Adds the weight (27 x 16, (ky, kx, ci) x co) and bias gradients from the pooled gradient.
    public static func accumulateWeightGradient(
        padded: UnsafePointer<Float>, images: Int, height: Int, width: Int,
        pooledGradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>
    ) {
        leuk_conv1_relu_pool_weight_gradient_avx512(padded, images, height, width, pooledGradient, argmax, weightGradient, biasGradient)
    }
}

/// The backward pass of a 3x3 convolution + bias + ReLU + 2x2 max-pool block without im2col, for
/// LeukNet-S's conv2 and conv3 on CPUs with AVX-512:
/// - the pooled gradient is routed into a full-resolution gradient with a 1-pixel zero border
///   (`routePooledGradient`);
/// - the weight gradient of each kernel tap (ky, kx) pairs the padded input shifted by that tap with the
///   padded gradient: a shift is a pointer offset, so no im2col columns are built
///   (`accumulateWeightGradient`: a direct kernel, or one GEMM per tap on the zero-bordered grid);
/// - the input gradient is a direct 3x3 convolution of the padded gradient with the flipped, transposed
///   weights (`inputGradient`): no column-gradient GEMM, no col2im, no zeroing.
public enum DirectConvBackward {
    /// Whether this path handles the block (it needs the direct forward pass's padded input as well).
    public static func applies(_ g: ConvGeometry) -> Bool {
        VectorKernels.directConvApplies(g) && g.inChannels % 16 == 0
            && leuk_conv3x3_supported(g.outChannels, g.inChannels, g.height, g.width) != 0
    }

    /// Floats of one image's padded full-resolution gradient.
    public static func paddedGradientCount(_ g: ConvGeometry) -> Int { (g.height + 2) * (g.width + 2) * g.outChannels }

    /// Writes the interior of `padded` (the border is never written: keep it zero) from the pooled
    /// gradient and argmax codes, and adds the unclipped pooled gradients to `biasGradient`.
    public static func routePooledGradient(
        _ pooledGradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>, images: Int, geometry g: ConvGeometry,
        into padded: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>
    ) {
        leuk_max_pool_backward_avx512(pooledGradient, argmax, images, g.height, g.width, g.outChannels, 1, padded, biasGradient)
    }

    /// `weightGradient` ((ky, kx, ci) x co) += the gradient from `paddedInput` (the forward pass's padded
    /// input) and `paddedGradient`. A direct AVX-512 kernel where the channels allow it (about 10% faster
    /// than OpenBLAS's small-matrix kernel on these shapes), else one GEMM per tap and image.
    public static func accumulateWeightGradient(
        paddedInput: UnsafePointer<Float>, paddedGradient: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        weightGradient: UnsafeMutablePointer<Float>
    ) {
        if leuk_conv3x3_weight_gradient_supported(g.inChannels, g.outChannels) != 0 {
            leuk_conv3x3_weight_gradient_avx512(paddedInput, paddedGradient, images, g.height, g.width, g.inChannels,
                                                g.outChannels, weightGradient)
            return
        }
        let c = g.inChannels, co = g.outChannels, rowPixels = g.width + 2
        let imagePixels = (g.height + 2) * rowPixels
        // Grid rows r = y * (W + 2) + x for output pixels (y, x); the two columns past the image's right
        // edge carry zero gradient. The last row's two such columns are left out, so that no tap reads
        // past the padded image.
        let first = rowPixels + 1, rows = g.height * rowPixels - 2
        for n in 0..<images {
            let gradient = paddedGradient + (n * imagePixels + first) * co
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let shifted = paddedInput + (n * imagePixels + first + (ky - 1) * rowPixels + (kx - 1)) * c
                    BLAS.gemm(transposeA: true, transposeB: false, m: c, n: co, k: rows,
                              a: shifted, lda: c, b: gradient, ldb: co,
                              beta: 1, c: weightGradient + (ky * 3 + kx) * c * co, ldc: co)
                }
            }
        }
    }

    /// The weights of the input-gradient convolution: `flipped[(a, b, co)][ci] = weight[(2-a, 2-b, ci)][co]`.
    public static func flipWeights(_ weight: UnsafePointer<Float>, geometry g: ConvGeometry, into flipped: UnsafeMutablePointer<Float>) {
        let c = g.inChannels, co = g.outChannels
        for tap in 0..<9 {
            let source = weight + (8 - tap) * c * co, destination = flipped + tap * co * c
            for i in 0..<c {
                for o in 0..<co { destination[o * c + i] = source[i * co + o] }
            }
        }
    }

    /// The input gradient (NHWC, unpadded, overwritten) from the padded gradient and the flipped weights.
    public static func inputGradient(
        paddedGradient: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        flippedWeight: UnsafePointer<Float>, into inputGradient: UnsafeMutablePointer<Float>
    ) {
        leuk_conv3x3_forward_avx512(paddedGradient, images, g.height, g.width, g.outChannels, g.inChannels, flippedWeight, inputGradient)
    }
}

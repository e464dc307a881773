internal import CLeukKernels
import Foundation
public import LeukCore

/// The hand-vectorised kernel sets of `CLeukKernels`, best first. Every set computes the same functions
/// with the same definitions; `portable` is the Swift/BLAS path that runs on any CPU.
public enum KernelSet: String, CaseIterable, Sendable {
    /// AVX-512 F/BW/VL/DQ and FMA: 16-float vectors, 32 registers.
    case avx512
    /// AVX2 and FMA: 8-float vectors, 16 registers (older Xeons, AMD EPYC before Zen 4).
    case avx2
    /// No hand-written vector kernels: im2col + OpenBLAS and Swift loops.
    case portable

    /// Whether this CPU (and its OS, which must save the vector registers) can run the set.
    public var isSupported: Bool {
        switch self {
        case .avx512: Self.cpuHasAVX512
        case .avx2: Self.cpuHasAVX2
        case .portable: true
        }
    }

    /// The sets this machine can run, best first; `portable` is always last.
    public static var supported: [KernelSet] { allCases.filter(\.isSupported) }

    /// CPUID and XGETBV, asked once: the answer cannot change while the process runs.
    private static let cpuHasAVX512 = leuk_kernels_have_avx512() != 0
    private static let cpuHasAVX2 = leuk_kernels_have_avx2() != 0

    /// The C functions of a vector set, nil for `portable`.
    var table: VectorKernelTable? {
        switch self {
        case .avx512: .avx512
        case .avx2: .avx2
        case .portable: nil
        }
    }
}

/// Why `LEUKNODE_KERNELS` cannot be honoured. The process refuses to start rather than fall back to
/// another set silently: a benchmark or a test that asked for a set must measure that set.
public struct KernelSelectionError: LeukUserFacingError, Equatable {
    public let message: String
    public let hint: String?
    public var description: String { message }
}

/// Which kernel set runs, and the shape rules of the direct convolution kernels.
///
/// The Swift code of the engine is compiled for generic x86-64 (SSE2) so the binary runs on any x86-64
/// CPU; a `-target-cpu` flag would make it crash on older ones. The C kernels instead carry target
/// attributes per function and are only called when the CPU (and the OS, through XCR0) supports their
/// set. The order is AVX-512, then AVX2, then the portable Swift paths; `LEUKNODE_KERNELS=avx512|avx2|portable`
/// forces one, so every set can be measured and tested on one machine. Results of the sets agree to
/// float32 rounding, not bit for bit (the direct kernels sum in (ky, kx, ci) order, the GEMM path in
/// OpenBLAS's); each set is deterministic on its own.
public enum VectorKernels {
    /// The environment variable that forces a kernel set.
    public static let environmentVariable = "LEUKNODE_KERNELS"

    /// The set `environment` asks for on a machine that supports `supported` (best first): the best one
    /// when the variable is unset or empty, else exactly the named set, or an error naming the problem
    /// (an unknown name, or a set this CPU lacks). The variable of the first AVX-512 release,
    /// `LEUKNODE_PORTABLE_KERNELS`, is refused with a pointer to its replacement rather than ignored.
    public static func selection(
        environment: [String: String], supported: [KernelSet] = KernelSet.supported
    ) -> Result<KernelSet, KernelSelectionError> {
        let choices = KernelSet.allCases.map(\.rawValue).joined(separator: ", ")
        if environment["LEUKNODE_PORTABLE_KERNELS"] != nil {
            return .failure(KernelSelectionError(
                message: "LEUKNODE_PORTABLE_KERNELS is no longer read",
                hint: "unset it; set \(environmentVariable)=portable to force the portable kernels"))
        }
        guard let value = environment[environmentVariable], !value.isEmpty else {
            return .success(supported.first ?? .portable)
        }
        guard let set = KernelSet(rawValue: value) else {
            return .failure(KernelSelectionError(
                message: "\(environmentVariable)=\(value) is not a kernel set",
                hint: "use one of: \(choices), or unset it to run the best set this CPU supports"))
        }
        guard supported.contains(set) else {
            let here = supported.map(\.rawValue).joined(separator: ", ")
            return .failure(KernelSelectionError(
                message: "\(environmentVariable)=\(value): this CPU cannot run the \(value) kernels",
                hint: "this CPU supports: \(here); unset it to run the best of them"))
        }
        return .success(set)
    }

    /// The process's choice, made once from its environment at first use. The CLI evaluates it first
    /// thing in `main()` (`checkProcessSelection`), so a bad value stops the program before any work.
    public static let processSelection: Result<KernelSet, KernelSelectionError> =
        selection(environment: ProcessInfo.processInfo.environment)

    /// The process's selection, or the error message when `LEUKNODE_KERNELS` cannot be honoured.
    public static func checkProcessSelection() throws(KernelSelectionError) -> KernelSet {
        try processSelection.get()
    }

    /// A set forced for the current task and its children (`withKernels`): how the tests run every
    /// supported set side by side in one process without touching the environment.
    @TaskLocal static var forced: KernelSet?

    /// The kernel set in use: the task's forced set, else the process's selection. A process whose
    /// `LEUKNODE_KERNELS` cannot be honoured stops here with the reason rather than run another set.
    public static var active: KernelSet {
        if let forced { return forced }
        switch processSelection {
        case .success(let set): return set
        case .failure(let error): fatalError(error.userMessage)
        }
    }

    /// Runs `body` with `set` in use on this task (layers built inside it choose their paths for that
    /// set); `set` must be supported by this CPU. For tests that compare the sets in one process, and for
    /// threads outside the caller's task (the data-parallel training workers), which would otherwise
    /// see the process's selection instead of the caller's.
    package static func withKernels<R>(_ set: KernelSet, _ body: () throws -> R) rethrows -> R {
        precondition(set.isSupported, "the \(set.rawValue) kernels do not run on this CPU")
        return try $forced.withValue(set, operation: body)
    }

    /// Whether a vector set (AVX-512 or AVX2) is in use.
    public static var isAvailable: Bool { active != .portable }

    /// The name of the kernel set in use: "avx512", "avx2" or "portable".
    public static var name: String { active.rawValue }

    /// The C functions of the set in use. Only call where a `...Applies` rule (or `isAvailable`) said
    /// yes: the portable set has no direct kernels.
    static var table: VectorKernelTable {
        guard let table = active.table else {
            preconditionFailure("a direct kernel was called with the portable kernel set in use")
        }
        return table
    }

    /// Copies NHWC images into a zero border of `padding` pixels on every side.
    public static func pad(
        _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int, padding: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        leuk_pad_nhwc(input, images, height, width, channels, padding, output)
    }

    /// `pad` straight from NCHW images: the channels-last transposition and the border in one pass.
    public static func pad(
        nchw input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int, padding: Int,
        into output: UnsafeMutablePointer<Float>
    ) {
        leuk_pad_nchw_to_nhwc(input, images, height, width, channels, padding, output)
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

/// One vector set's C kernels, so that each call site dispatches through one table instead of a switch
/// per function. Both sets have the same signatures and the same definitions (CLeukKernels.h).
struct VectorKernelTable: Sendable {
    typealias Conv1Forward = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?) -> Void
    typealias Conv1WeightGradient = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<UInt8>?,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
    typealias ConvReLUPoolForward = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?) -> Void
    typealias ConvForward = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
    typealias ConvWeightGradient = @convention(c) (
        UnsafePointer<Float>?, UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafeMutablePointer<Float>?) -> Void
    typealias Gather = @convention(c) (UnsafePointer<Float>?, Int, Int, Int, Int, UnsafeMutablePointer<Float>?) -> Void
    typealias MaxPoolForward = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, Int, UnsafePointer<Float>?, Int32,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?) -> Void
    typealias WinogradForward = @convention(c) (
        UnsafePointer<Float>?, Int, Int, Int, Int, Int, UnsafePointer<Float>?, UnsafePointer<Float>?,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<UInt8>?) -> Void
    typealias MaxPoolBackward = @convention(c) (
        UnsafePointer<Float>?, UnsafePointer<UInt8>?, Int, Int, Int, Int, Int,
        UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void

    let conv1Forward: Conv1Forward
    let conv1WeightGradient: Conv1WeightGradient
    let convReLUPoolForward: ConvReLUPoolForward
    let convForward: ConvForward
    let convWeightGradient: ConvWeightGradient
    let gather: Gather
    let scatterAdd: Gather
    let maxPoolForward: MaxPoolForward
    let maxPoolBackward: MaxPoolBackward
    let winogradForward: WinogradForward

    static let avx512 = VectorKernelTable(
        conv1Forward: leuk_conv1_relu_pool_forward_avx512, conv1WeightGradient: leuk_conv1_relu_pool_weight_gradient_avx512,
        convReLUPoolForward: leuk_conv3x3_relu_pool_forward_avx512, convForward: leuk_conv3x3_forward_avx512,
        convWeightGradient: leuk_conv3x3_weight_gradient_avx512, gather: leuk_gather3x3_avx512,
        scatterAdd: leuk_scatter_add3x3_avx512, maxPoolForward: leuk_max_pool_forward_avx512,
        maxPoolBackward: leuk_max_pool_backward_avx512, winogradForward: leuk_winograd_relu_pool_forward_avx512)

    static let avx2 = VectorKernelTable(
        conv1Forward: leuk_conv1_relu_pool_forward_avx2, conv1WeightGradient: leuk_conv1_relu_pool_weight_gradient_avx2,
        convReLUPoolForward: leuk_conv3x3_relu_pool_forward_avx2, convForward: leuk_conv3x3_forward_avx2,
        convWeightGradient: leuk_conv3x3_weight_gradient_avx2, gather: leuk_gather3x3_avx2,
        scatterAdd: leuk_scatter_add3x3_avx2, maxPoolForward: leuk_max_pool_forward_avx2,
        maxPoolBackward: leuk_max_pool_backward_avx2, winogradForward: leuk_winograd_relu_pool_forward_avx2)
}

/// The forward pass of a 3x3 convolution + bias + ReLU + 2x2 max-pool block as one direct vector kernel,
/// without im2col: register-blocked over 2 x 4 output pixels and 32 output channels (AVX-512; AVX2:
/// 2 x 2 pixels and 16 channels, one pooled output per tile), reading a 1-pixel
/// zero-padded NHWC input. The backward pass stays im2col + GEMM. Only call when
/// `VectorKernels.directConvApplies` is true.
public enum DirectConvReLUPool {
    public static func forward(
        padded: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        VectorKernels.table.convReLUPoolForward(padded, images, g.height, g.width, g.inChannels, g.outChannels,
                                                 weight, bias, output, argmax)
    }
}

/// The inference forward pass of a 3x3 convolution + bias + ReLU + 2x2 max-pool block by Winograd
/// F(2x2, 3x3): each 2x2 output tile is one pooling window and costs 16 instead of 36 multiplications per
/// input and output channel, for LeukNet-S's conv2 and conv3 on CPUs with AVX-512 or AVX2. The outputs
/// and argmax codes are those of `DirectConvReLUPool` up to float rounding (within 1e-5); both vector sets
/// give the same bits. Training keeps the direct kernel, whose outputs its backward pass is the exact
/// gradient of.
public enum WinogradConvReLUPool {
    /// Whether the kernels handle this block: a direct-kernel block with 16k input channels, 32k output
    /// channels, even height and a width divisible by 16.
    public static func applies(_ g: ConvGeometry) -> Bool {
        VectorKernels.directConvApplies(g) && leuk_winograd_supported(g.inChannels, g.outChannels, g.height, g.width) != 0
    }

    /// Floats of the transformed weights (16 x in x out channels).
    public static func transformedWeightCount(_ g: ConvGeometry) -> Int { 16 * g.inChannels * g.outChannels }

    /// Floats of scratch space the forward pass needs.
    public static func scratchCount(_ g: ConvGeometry) -> Int {
        leuk_winograd_scratch_floats(g.inChannels, g.outChannels, g.width)
    }

    /// U = G g G^T of the (ky, kx, ci) x co weights (the same plain C for every set).
    public static func transformWeights(_ weight: UnsafePointer<Float>, geometry g: ConvGeometry,
                                        into transformed: UnsafeMutablePointer<Float>) {
        leuk_winograd_transform_weights(weight, g.inChannels, g.outChannels, transformed)
    }

    public static func forward(
        padded: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        transformedWeight: UnsafePointer<Float>, bias: UnsafePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        VectorKernels.table.winogradForward(padded, images, g.height, g.width, g.inChannels, g.outChannels,
                                            transformedWeight, bias, scratch, output, argmax)
    }
}

/// LeukNet-S's first block (3x3 convolution 3 -> 16, bias, ReLU, 2x2 max-pool) as one direct vector
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
        VectorKernels.table.conv1Forward(padded, images, height, width, weight, bias, output, argmax)
    }

    /// Adds the weight (27 x 16, (ky, kx, ci) x co) and bias gradients from the pooled gradient.
    public static func accumulateWeightGradient(
        padded: UnsafePointer<Float>, images: Int, height: Int, width: Int,
        pooledGradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>
    ) {
        VectorKernels.table.conv1WeightGradient(padded, images, height, width, pooledGradient, argmax, weightGradient, biasGradient)
    }
}

/// The backward pass of a 3x3 convolution + bias + ReLU + 2x2 max-pool block without im2col, for
/// LeukNet-S's conv2 and conv3 on CPUs with AVX-512 or AVX2:
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
        VectorKernels.table.maxPoolBackward(pooledGradient, argmax, images, g.height, g.width, g.outChannels, 1, padded, biasGradient)
    }

    /// `weightGradient` ((ky, kx, ci) x co) += the gradient from `paddedInput` (the forward pass's padded
    /// input) and `paddedGradient`. A direct vector kernel where the channels allow it (AVX-512: about 10% faster
    /// than OpenBLAS's small-matrix kernel on these shapes), else one GEMM per tap and image.
    public static func accumulateWeightGradient(
        paddedInput: UnsafePointer<Float>, paddedGradient: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
        weightGradient: UnsafeMutablePointer<Float>
    ) {
        if leuk_conv3x3_weight_gradient_supported(g.inChannels, g.outChannels) != 0 {
            VectorKernels.table.convWeightGradient(paddedInput, paddedGradient, images, g.height, g.width, g.inChannels,
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
        VectorKernels.table.convForward(paddedGradient, images, g.height, g.width, g.outChannels, g.inChannels, flippedWeight, inputGradient)
    }
}

import Testing
@testable import LeukTensor

@Suite struct KernelTests {
    @Test func gemmKnownAnswer() {
        // [1 2 3; 4 5 6] * [7 8; 9 10; 11 12] = [58 64; 139 154]
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: 0, count: 4)
        c.withUnsafeMutableBufferPointer { cp in
            BLAS.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, beta: 0, c: cp.baseAddress!, ldc: 2)
        }
        #expect(c == [58, 64, 139, 154])
        // Transposed A: A^T is 3x2 stored as 2x3.
        var d = [Float](repeating: 0, count: 9)
        d.withUnsafeMutableBufferPointer { dp in
            BLAS.gemm(transposeA: true, transposeB: false, m: 3, n: 3, k: 2, a: a, lda: 3, b: a, ldb: 3, beta: 0, c: dp.baseAddress!, ldc: 3)
        }
        #expect(d == [17, 22, 27, 22, 29, 36, 27, 36, 45])
        #expect(BLAS.withThreadCount(2) { BLAS.threadCount } == 2)
    }

    @Test func im2colKnownAnswerWithPadding() {
        // One 3x3 single-channel image 1..9, kernel 3, pad 1: the centre pixel's row is the whole image,
        // the top-left pixel's row has zeros where the kernel hangs over the border.
        let image: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let g = ConvGeometry(height: 3, width: 3, inChannels: 1, outChannels: 1, kernel: 3, stride: 1, padding: 1)
        var col = [Float](repeating: -1, count: 9 * 9)
        col.withUnsafeMutableBufferPointer { Im2Col.gather(image, images: 1, geometry: g, into: $0.baseAddress!) }
        #expect(Array(col[(4 * 9)..<(5 * 9)]) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(Array(col[0..<9]) == [0, 0, 0, 0, 1, 2, 0, 4, 5])
        #expect(Array(col[(8 * 9)..<(9 * 9)]) == [5, 6, 0, 8, 9, 0, 0, 0, 0])
    }

    @Test func im2colStrideTwoMultiChannel() {
        // 4x4 image, 2 channels (channel 1 = -channel 0), kernel 2, stride 2, no padding.
        var image = [Float](repeating: 0, count: 32)
        for p in 0..<16 { image[2 * p] = Float(p); image[2 * p + 1] = -Float(p) }
        let g = ConvGeometry(height: 4, width: 4, inChannels: 2, outChannels: 1, kernel: 2, stride: 2, padding: 0)
        #expect(g.outHeight == 2 && g.outWidth == 2 && g.patchSize == 8)
        var col = [Float](repeating: 0, count: 4 * 8)
        col.withUnsafeMutableBufferPointer { Im2Col.gather(image, images: 1, geometry: g, into: $0.baseAddress!) }
        // Output pixel (1, 0) covers input pixels 8, 9, 12, 13.
        #expect(Array(col[16..<24]) == [8, -8, 9, -9, 12, -12, 13, -13])
    }

    @Test func scatterAddIsTheAdjointOfGather() {
        var generator = TestRandom(seed: 3)
        let g = ConvGeometry(height: 5, width: 6, inChannels: 3, outChannels: 1, kernel: 3, stride: 2, padding: 1)
        let images = 2
        let x = (0..<(images * 5 * 6 * 3)).map { _ in generator.next() }
        let y = (0..<(images * g.outputPixels * g.patchSize)).map { _ in generator.next() }
        var col = [Float](repeating: 0, count: y.count)
        col.withUnsafeMutableBufferPointer { Im2Col.gather(x, images: images, geometry: g, into: $0.baseAddress!) }
        var back = [Float](repeating: 0, count: x.count)
        back.withUnsafeMutableBufferPointer { Im2Col.scatterAdd(y, images: images, geometry: g, into: $0.baseAddress!) }
        let lhs = zip(col, y).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    }

    @Test func maxPoolKnownAnswer() {
        // 4x4 single channel:
        //  1  2 | 5  3
        //  4 -1 | 0  2
        //  ----------
        // -5 -6 | 7  7
        // -7 -8 | 1  0
        let input: [Float] = [1, 2, 5, 3, 4, -1, 0, 2, -5, -6, 7, 7, -7, -8, 1, 0]
        var out = [Float](repeating: 0, count: 4)
        var arg = [UInt8](repeating: 9, count: 4)
        out.withUnsafeMutableBufferPointer { o in
            arg.withUnsafeMutableBufferPointer { a in
                Pooling.maxPool2x2Forward(input, images: 1, height: 4, width: 4, channels: 1, bias: nil, relu: false,
                                          output: o.baseAddress!, argmax: a.baseAddress!)
            }
        }
        #expect(out == [4, 5, -5, 7])
        #expect(arg == [2, 0, 0, 0])  // the tie 7/7 goes to the first position
        // Fused bias -4.5 and ReLU: 4-4.5 < 0 clipped, 5-4.5 = 0.5, -9.5 clipped, 2.5.
        let bias: [Float] = [-4.5]
        out.withUnsafeMutableBufferPointer { o in
            arg.withUnsafeMutableBufferPointer { a in
                Pooling.maxPool2x2Forward(input, images: 1, height: 4, width: 4, channels: 1, bias: bias, relu: true,
                                          output: o.baseAddress!, argmax: a.baseAddress!)
            }
        }
        #expect(out == [0, 0.5, 0, 2.5])
        #expect(arg == [Pooling.noGradient, 0, Pooling.noGradient, 0])
        // Backward routes each gradient to its winner only.
        var dIn = [Float](repeating: 9, count: 16)
        dIn.withUnsafeMutableBufferPointer { d in
            Pooling.maxPool2x2Backward([10, 20, 30, 40], argmax: arg, images: 1, height: 4, width: 4, channels: 1, into: d.baseAddress!)
        }
        #expect(dIn == [0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0])
    }

    @Test func layoutRoundTrip() {
        let nchw = (0..<(2 * 3 * 2 * 2)).map(Float.init)
        var nhwc = [Float](repeating: 0, count: nchw.count)
        nhwc.withUnsafeMutableBufferPointer { Layout.nchwToNHWC(nchw, images: 2, channels: 3, height: 2, width: 2, into: $0.baseAddress!) }
        #expect(Array(nhwc[0..<6]) == [0, 4, 8, 1, 5, 9])
        var back = [Float](repeating: 0, count: nchw.count)
        back.withUnsafeMutableBufferPointer { Layout.nhwcToNCHW(nhwc, images: 2, channels: 3, height: 2, width: 2, into: $0.baseAddress!) }
        #expect(back == nchw)
    }

    @Test func paddingAddsAZeroBorder() {
        let image: [Float] = [1, 2, 3, 4, 5, 6]   // 1 x 2 x 3 x 1 (height 2, width 3)
        var padded = [Float](repeating: .nan, count: 4 * 5)
        padded.withUnsafeMutableBufferPointer {
            VectorKernels.pad(image, images: 1, height: 2, width: 3, channels: 1, padding: 1, into: $0.baseAddress!)
        }
        #expect(padded == [0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0])
    }

    @Test func floatBufferGrowsAndZeroes() {
        let buffer = FloatBuffer(capacity: 4)
        buffer.pointer[3] = 7
        #expect(buffer.reserve(4) == buffer.pointer)
        #expect(buffer.pointer[3] == 7)
        buffer.reserve(100)
        #expect(buffer.capacity == 100)
        buffer.zero(100)
        #expect(buffer.array(100).allSatisfy { $0 == 0 })
        #expect(Int(bitPattern: buffer.pointer) % 64 == 0)
    }
}

/// A tiny deterministic generator for test data (values in [-1, 1)).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24) * 2 - 1
    }
}

@Suite struct BLASKernelTests {
    @Test func relaunchOnlyFromAFallbackKernelOnACapableCPU() {
        let avx512: Set<String> = ["sse4_2", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
        #expect(BLASKernel.betterCoreType(cpuFlags: avx512, current: "Prescott", environment: [:]) == "SkylakeX")
        #expect(BLASKernel.betterCoreType(cpuFlags: ["avx2", "fma"], current: "Prescott", environment: [:]) == "Haswell")
        #expect(BLASKernel.betterCoreType(cpuFlags: ["sse4_2"], current: "Prescott", environment: [:]) == nil)
        #expect(BLASKernel.betterCoreType(cpuFlags: avx512, current: "SkylakeX", environment: [:]) == nil)
        #expect(BLASKernel.betterCoreType(cpuFlags: avx512, current: "Prescott", environment: ["OPENBLAS_CORETYPE": "Prescott"]) == nil)
        #expect(BLASKernel.betterCoreType(cpuFlags: avx512, current: "Prescott", environment: ["LEUKNODE_KEEP_BLAS_KERNEL": "1"]) == nil)
        #expect(BLASKernel.betterCoreType(cpuFlags: nil, current: "Prescott", environment: [:]) == nil)
        #expect(!BLASKernel.name.isEmpty)
    }
}

/// Choosing the kernel set: `LEUKNODE_KERNELS` parsed against a given list of supported sets, so every
/// case runs on any CPU (no process environment is touched).
@Suite struct KernelSelectionTests {
    let everything: [KernelSet] = [.avx512, .avx2, .portable]
    let avx2Only: [KernelSet] = [.avx2, .portable]

    @Test func unsetOrEmptyPicksTheBestSupportedSet() {
        #expect(VectorKernels.selection(environment: [:], supported: everything) == .success(.avx512))
        #expect(VectorKernels.selection(environment: [:], supported: avx2Only) == .success(.avx2))
        #expect(VectorKernels.selection(environment: [:], supported: [.portable]) == .success(.portable))
        #expect(VectorKernels.selection(environment: ["LEUKNODE_KERNELS": ""], supported: avx2Only) == .success(.avx2))
    }

    @Test func aSupportedSetIsForced() {
        for set in everything {
            #expect(VectorKernels.selection(environment: ["LEUKNODE_KERNELS": set.rawValue], supported: everything) == .success(set))
        }
        #expect(VectorKernels.selection(environment: ["LEUKNODE_KERNELS": "portable"], supported: [.portable]) == .success(.portable))
    }

    @Test func aSetTheCPULacksIsAnErrorNotAFallback() throws {
        let result = VectorKernels.selection(environment: ["LEUKNODE_KERNELS": "avx512"], supported: avx2Only)
        guard case .failure(let error) = result else { Issue.record("expected an error, got \(result)"); return }
        #expect(error.description.contains("cannot run the avx512 kernels"))
        #expect(error.hint?.contains("avx2, portable") == true)
    }

    @Test(arguments: ["AVX2", "sse", "avx-512", "auto"])
    func anUnknownNameIsAnError(value: String) {
        let result = VectorKernels.selection(environment: ["LEUKNODE_KERNELS": value], supported: everything)
        guard case .failure(let error) = result else { Issue.record("expected an error, got \(result)"); return }
        #expect(error.description == "LEUKNODE_KERNELS=\(value) is not a kernel set")
        #expect(error.hint?.contains("avx512, avx2, portable") == true)
    }

    @Test func theRetiredVariableIsRefusedNotIgnored() {
        let result = VectorKernels.selection(environment: ["LEUKNODE_PORTABLE_KERNELS": "1"], supported: everything)
        guard case .failure(let error) = result else { Issue.record("expected an error, got \(result)"); return }
        #expect(error.hint?.contains("LEUKNODE_KERNELS=portable") == true)
    }

    @Test func thisMachineSupportsPortableLastAndTheProcessSelectionIsOneOfItsSets() throws {
        #expect(KernelSet.supported.last == .portable)
        #expect(KernelSet.supported.contains(try VectorKernels.checkProcessSelection()))
        // A CPU with AVX-512 F/BW/VL/DQ and FMA has AVX2 too.
        #expect(!KernelSet.avx512.isSupported || KernelSet.avx2.isSupported)
    }

    @Test func aForcedSetHoldsForItsTaskOnly() {
        for set in KernelSet.supported {
            VectorKernels.withKernels(set) {
                #expect(VectorKernels.active == set)
                #expect(VectorKernels.name == set.rawValue)
                #expect(VectorKernels.isAvailable == (set != .portable))
            }
        }
        #expect(VectorKernels.active == (try? VectorKernels.checkProcessSelection()))
    }
}

/// The vector sets this CPU runs (AVX-512, AVX2), each forced in turn.
let vectorKernelSets = KernelSet.supported.filter { $0 != .portable }

/// Each vector set's im2col, col2im and pooling kernels against the portable Swift paths they replace.
/// They move the same values and sum the bias gradient in the same order, so the results must be
/// identical, bit for bit. Skipped on CPUs without AVX2 (only the portable paths run there).
@Suite(.enabled(if: !vectorKernelSets.isEmpty, "needs a CPU with AVX2 or AVX-512"))
struct VectorKernelTests {
    static func random(_ count: Int, seed: UInt64) -> [Float] {
        var generator = TestRandom(seed: seed)
        return (0..<count).map { _ in generator.next() }
    }

    @Test(arguments: vectorKernelSets, [16, 32])
    func gatherAndScatterMatchThePortablePaths(set: KernelSet, channels: Int) {
        VectorKernels.withKernels(set) { gatherAndScatter(channels: channels) }
    }

    func gatherAndScatter(channels: Int) {
        let g = ConvGeometry(height: 6, width: 5, inChannels: channels, outChannels: 1, kernel: 3, stride: 1, padding: 1)
        let images = 2
        let x = Self.random(images * g.inputPixels * channels, seed: 1)
        let columnCount = images * g.outputPixels * g.patchSize
        var vector = [Float](repeating: .nan, count: columnCount), portable = vector
        vector.withUnsafeMutableBufferPointer { Im2Col.gather(x, images: images, geometry: g, into: $0.baseAddress!) }
        portable.withUnsafeMutableBufferPointer { Im2Col.portableGather(x, images: images, geometry: g, into: $0.baseAddress!) }
        #expect(vector == portable)

        let columns = Self.random(columnCount, seed: 2)
        var vectorSum = Self.random(x.count, seed: 3), portableSum = vectorSum
        vectorSum.withUnsafeMutableBufferPointer { Im2Col.scatterAdd(columns, images: images, geometry: g, into: $0.baseAddress!) }
        portableSum.withUnsafeMutableBufferPointer {
            Im2Col.portableScatterAdd(columns, images: images, geometry: g, into: $0.baseAddress!)
        }
        #expect(vectorSum == portableSum)
    }

    @Test(arguments: vectorKernelSets, [false, true])
    func maxPoolMatchesThePortablePath(set: KernelSet, fused: Bool) {
        VectorKernels.withKernels(set) { maxPool(fused: fused) }
    }

    func maxPool(fused: Bool) {
        let images = 3, height = 4, width = 6, channels = 32
        var input = Self.random(images * height * width * channels, seed: 4)
        for i in stride(from: 0, to: input.count - 1, by: 7) { input[i] = input[i + 1] }   // ties
        let bias = fused ? Self.random(channels, seed: 5) : nil
        let pooled = images * (height / 2) * (width / 2) * channels
        var out = [Float](repeating: .nan, count: pooled), outPortable = out
        var arg = [UInt8](repeating: 7, count: pooled), argPortable = arg
        out.withUnsafeMutableBufferPointer { o in
            arg.withUnsafeMutableBufferPointer { a in
                Pooling.maxPool2x2Forward(input, images: images, height: height, width: width, channels: channels,
                                          bias: bias, relu: fused, output: o.baseAddress!, argmax: a.baseAddress!)
            }
        }
        outPortable.withUnsafeMutableBufferPointer { o in
            argPortable.withUnsafeMutableBufferPointer { a in
                Pooling.portableMaxPool2x2Forward(input, images: images, height: height, width: width, channels: channels,
                                                  bias: bias, relu: fused, output: o.baseAddress!, argmax: a.baseAddress!)
            }
        }
        #expect(out == outPortable)
        #expect(arg == argPortable)
        #expect(!fused || arg.contains(Pooling.noGradient))

        let gradient = Self.random(pooled, seed: 6)
        var dIn = [Float](repeating: .nan, count: input.count), dInPortable = dIn
        var biasGradient = Self.random(channels, seed: 7), biasGradientPortable = biasGradient
        dIn.withUnsafeMutableBufferPointer { d in
            biasGradient.withUnsafeMutableBufferPointer { b in
                Pooling.maxPool2x2Backward(gradient, argmax: arg, images: images, height: height, width: width,
                                           channels: channels, into: d.baseAddress!, accumulatingBiasGradient: b.baseAddress!)
            }
        }
        dInPortable.withUnsafeMutableBufferPointer { d in
            biasGradientPortable.withUnsafeMutableBufferPointer { b in
                Pooling.portableMaxPool2x2Backward(gradient, argmax: arg, images: images, height: height, width: width,
                                                   channels: channels, into: d.baseAddress!, accumulatingBiasGradient: b.baseAddress!)
            }
        }
        #expect(dIn == dInPortable)
        #expect(biasGradient == biasGradientPortable)
    }
}

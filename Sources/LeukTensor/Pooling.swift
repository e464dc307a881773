/// 2x2, stride-2 max-pooling over channels-last images, optionally fused with a per-channel bias and
/// ReLU so that a convolution's GEMM output is read once: `out = max(0, max(window) + bias)`.
///
/// The backward pass needs only one byte per output: which of the four window positions won
/// (0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right), or `Pooling.noGradient` when the
/// fused ReLU clipped the value to zero (ReLU's gradient at and below zero is zero, as in PyTorch).
/// Ties go to the first position in that scan order, again as in PyTorch.
public enum Pooling {
    public static let noGradient: UInt8 = 255

    public static func maxPool2x2Forward(
        _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int,
        bias: UnsafePointer<Float>?, relu: Bool,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        if channels % 16 == 0 && height % 2 == 0 && width % 2 == 0, let kernels = VectorKernels.active.table {
            kernels.maxPoolForward(input, images, height, width, channels, bias, relu ? 1 : 0, output, argmax)
            return
        }
        portableMaxPool2x2Forward(input, images: images, height: height, width: width, channels: channels,
                                  bias: bias, relu: relu, output: output, argmax: argmax)
    }

    /// `maxPool2x2Forward` without the vector kernels.
    static func portableMaxPool2x2Forward(
        _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int,
        bias: UnsafePointer<Float>?, relu: Bool,
        output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        let ph = height / 2, pw = width / 2, c = channels
        let vectorChannels = c - c % 16
        var out = output, arg = argmax
        for n in 0..<images {
            let image = input + n * height * width * c
            for y in 0..<ph {
                for x in 0..<pw {
                    let p0 = image + ((2 * y) * width + 2 * x) * c
                    let p1 = p0 + c, p2 = p0 + width * c, p3 = p2 + c
                    var ch = 0
                    while ch < vectorChannels {
                        poolVector(p0 + ch, p1 + ch, p2 + ch, p3 + ch, bias: bias.map { $0 + ch }, relu: relu,
                                   output: out + ch, argmax: arg + ch)
                        ch += 16
                    }
                    while ch < c {
                        var best = p0[ch]
                        var index: UInt8 = 0
                        if p1[ch] > best { best = p1[ch]; index = 1 }
                        if p2[ch] > best { best = p2[ch]; index = 2 }
                        if p3[ch] > best { best = p3[ch]; index = 3 }
                        if let bias { best += bias[ch] }
                        if relu && !(best > 0) { best = 0; index = noGradient }
                        out[ch] = best
                        arg[ch] = index
                        ch += 1
                    }
                    out += c
                    arg += c
                }
            }
        }
    }

    /// Sixteen channels of one window at once, branch-free (the scalar version mispredicts on every
    /// comparison with real data).
    @inline(__always)
    private static func poolVector(
        _ p0: UnsafePointer<Float>, _ p1: UnsafePointer<Float>, _ p2: UnsafePointer<Float>, _ p3: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, relu: Bool, output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<UInt8>
    ) {
        typealias V = SIMD16<Float>
        var best = UnsafeRawPointer(p0).loadUnaligned(as: V.self)
        var index = SIMD16<Int32>(repeating: 0)
        let v1 = UnsafeRawPointer(p1).loadUnaligned(as: V.self)
        let v2 = UnsafeRawPointer(p2).loadUnaligned(as: V.self)
        let v3 = UnsafeRawPointer(p3).loadUnaligned(as: V.self)
        var mask = v1 .> best
        best.replace(with: v1, where: mask); index.replace(with: 1, where: mask)
        mask = v2 .> best
        best.replace(with: v2, where: mask); index.replace(with: 2, where: mask)
        mask = v3 .> best
        best.replace(with: v3, where: mask); index.replace(with: 3, where: mask)
        if let bias { best += UnsafeRawPointer(bias).loadUnaligned(as: V.self) }
        if relu {
            let clipped = .!(best .> 0)
            best.replace(with: 0, where: clipped)
            index.replace(with: Int32(noGradient), where: clipped)
        }
        UnsafeMutableRawPointer(output).storeBytes(of: best, as: V.self)
        UnsafeMutableRawPointer(argmax).storeBytes(of: SIMD16<UInt8>(truncatingIfNeeded: index), as: SIMD16<UInt8>.self)
    }

    /// Routes each pooled gradient to the window position that won; every other input gradient is 0.
    /// Overwrites `inputGradient` entirely. When `biasGradient` is given (the fused bias + ReLU of
    /// `maxPool2x2Forward`), each gradient that passed the ReLU is also added to its channel's bias
    /// gradient, pooled value after pooled value (the same summation order as a separate pass).
    public static func maxPool2x2Backward(
        _ outputGradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>,
        images: Int, height: Int, width: Int, channels: Int,
        into inputGradient: UnsafeMutablePointer<Float>,
        accumulatingBiasGradient biasGradient: UnsafeMutablePointer<Float>? = nil
    ) {
        if channels % 16 == 0 && height % 2 == 0 && width % 2 == 0, let kernels = VectorKernels.active.table {
            kernels.maxPoolBackward(outputGradient, argmax, images, height, width, channels, 0, inputGradient, biasGradient)
            return
        }
        portableMaxPool2x2Backward(outputGradient, argmax: argmax, images: images, height: height, width: width,
                                   channels: channels, into: inputGradient, accumulatingBiasGradient: biasGradient)
    }

    /// `maxPool2x2Backward` without the vector kernels.
    static func portableMaxPool2x2Backward(
        _ outputGradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>,
        images: Int, height: Int, width: Int, channels: Int,
        into inputGradient: UnsafeMutablePointer<Float>,
        accumulatingBiasGradient biasGradient: UnsafeMutablePointer<Float>?
    ) {
        let ph = height / 2, pw = width / 2, c = channels
        let vectorChannels = c - c % 16
        if height % 2 != 0 || width % 2 != 0 {
            inputGradient.update(repeating: 0, count: images * height * width * c)
        }
        var grad = outputGradient, arg = argmax
        for n in 0..<images {
            let image = inputGradient + n * height * width * c
            for y in 0..<ph {
                for x in 0..<pw {
                    let p0 = image + ((2 * y) * width + 2 * x) * c
                    let p1 = p0 + c, p2 = p0 + width * c, p3 = p2 + c
                    var ch = 0
                    while ch < vectorChannels {
                        routeVector(grad + ch, argmax: arg + ch, p0 + ch, p1 + ch, p2 + ch, p3 + ch,
                                    biasGradient: biasGradient.map { $0 + ch })
                        ch += 16
                    }
                    while ch < c {
                        let g = grad[ch], a = arg[ch]
                        p0[ch] = a == 0 ? g : 0
                        p1[ch] = a == 1 ? g : 0
                        p2[ch] = a == 2 ? g : 0
                        p3[ch] = a == 3 ? g : 0
                        if let biasGradient, a != noGradient { biasGradient[ch] += g }
                        ch += 1
                    }
                    grad += c
                    arg += c
                }
            }
        }
    }

    /// Sixteen channels of one window's backward pass, branch-free.
    @inline(__always)
    private static func routeVector(
        _ gradient: UnsafePointer<Float>, argmax: UnsafePointer<UInt8>,
        _ p0: UnsafeMutablePointer<Float>, _ p1: UnsafeMutablePointer<Float>,
        _ p2: UnsafeMutablePointer<Float>, _ p3: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?
    ) {
        // Plain 16-lane loops: the optimiser vectorises these; SIMD16's masked `replacing` does not
        // (it became a lane-by-lane loop through the stack).
        for i in 0..<16 {
            let g = gradient[i], a = argmax[i]
            p0[i] = a == 0 ? g : 0
            p1[i] = a == 1 ? g : 0
            p2[i] = a == 2 ? g : 0
            p3[i] = a == 3 ? g : 0
        }
        if let biasGradient {
            // Lanes clipped by the ReLU add nothing (as the scalar path skips them).
            for i in 0..<16 { biasGradient[i] += argmax[i] == noGradient ? 0 : gradient[i] }
        }
    }
}

/// Small row/column kernels the layers share.
public enum Elementwise {
    /// `matrix[r][c] += bias[c]` for a row-major rows x columns matrix.
    public static func addBias(_ bias: UnsafePointer<Float>, rows: Int, columns: Int, to matrix: UnsafeMutablePointer<Float>) {
        var row = matrix
        for _ in 0..<rows {
            for c in 0..<columns { row[c] += bias[c] }
            row += columns
        }
    }

    /// `sums[c] += sum over rows of matrix[r][c]`.
    public static func accumulateColumnSums(_ matrix: UnsafePointer<Float>, rows: Int, columns: Int, into sums: UnsafeMutablePointer<Float>) {
        var row = matrix
        for _ in 0..<rows {
            for c in 0..<columns { sums[c] += row[c] }
            row += columns
        }
    }

    /// `output = max(0, input)`.
    public static func relu(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>) {
        for i in 0..<count { output[i] = input[i] > 0 ? input[i] : 0 }
    }

    /// `inputGradient = outputGradient where output > 0, else 0`.
    public static func reluBackward(
        _ outputGradient: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int,
        into inputGradient: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<count { inputGradient[i] = output[i] > 0 ? outputGradient[i] : 0 }
    }
}

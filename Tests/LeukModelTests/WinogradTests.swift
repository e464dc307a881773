import Testing
import LeukCore
@testable import LeukModel
@testable import LeukTensor

/// Inference runs LeukNet-S's conv2 and conv3 by Winograd F(2x2, 3x3) (`WinogradConvReLUPool`) on AVX-512
/// and AVX2: it must agree with the direct kernel (which the gradient checks and the PyTorch comparison
/// pin down) within 1e-5, in both vector sets with the same bits, and follow weight changes.
@Suite(.enabled(if: !vectorKernelSets.isEmpty, "needs a CPU with AVX2 or AVX-512"))
struct WinogradTests {
    /// conv2 and conv3 of LeukNet-S at 64x64, and smaller shapes the kernel also accepts.
    static let geometries = [sameConv3x3(32, 32, 16, 32), sameConv3x3(16, 16, 32, 64), sameConv3x3(6, 16, 16, 64)]

    struct Pass {
        var out: [Float]
        var argmax: [UInt8]
    }

    /// One block's inference output for `x` (2 images) under `set`, Winograd or direct, with the given
    /// parameters; `change` runs between a first pass and the measured one (for the weight cache).
    static func run(_ set: KernelSet, _ g: ConvGeometry, winograd: Bool, parameters: [Float], x: [Float],
                    change: ((UnsafeMutablePointer<Float>) -> Void)? = nil) -> Pass {
        VectorKernels.withKernels(set) {
            let layer = ConvReLUPool(name: "c", geometry: g)
            #expect(layer.usesWinograd)
            layer.usesWinograd = winograd
            let p = UnsafeMutablePointer<Float>.allocate(capacity: parameters.count)
            let gradients = UnsafeMutablePointer<Float>.allocate(capacity: parameters.count)
            defer { p.deallocate(); gradients.deallocate() }
            p.initialize(from: parameters, count: parameters.count)
            layer.bind(parameters: p, gradients: gradients)
            return x.withUnsafeBufferPointer { xp in
                if let change {
                    _ = layer.forward(xp.baseAddress!, batch: 2, mode: .inference)
                    change(p)
                }
                let count = 2 * layer.outputShape.count
                let out = Array(UnsafeBufferPointer(start: layer.forward(xp.baseAddress!, batch: 2, mode: .inference), count: count))
                return Pass(out: out, argmax: Array(UnsafeBufferPointer(start: layer.argmaxCodes, count: count)))
            }
        }
    }

    static func inputs(_ g: ConvGeometry, seed: UInt64) -> (parameters: [Float], x: [Float]) {
        var generator = SeededGenerator(seed: seed)
        let weights = 9 * g.inChannels * g.outChannels
        let bound = (6 / Float(9 * g.inChannels)).squareRoot()
        let parameters = (0..<weights).map { _ in (generator.nextUnitFloat() * 2 - 1) * bound }
            + (0..<g.outChannels).map { _ in (generator.nextUnitFloat() * 2 - 1) * 0.1 }
        let x = (0..<(2 * g.height * g.width * g.inChannels)).map { _ in generator.nextUnitFloat() * 2 - 1 }
        return (parameters, x)
    }

    static func check(_ winograd: Pass, against direct: Pass) {
        #expect(maxRelativeDifference(winograd.out, direct.out) <= 1e-5)
        #expect(direct.out.contains { $0 > 0 } && direct.out.contains { $0 == 0 })
        // Codes differ only where two window values (or a value and 0) are within rounding of each other.
        let agreeing = zip(winograd.argmax, direct.argmax).filter { $0 == $1 }.count
        #expect(Double(agreeing) >= 0.999 * Double(direct.argmax.count))
    }

    @Test(arguments: vectorKernelSets, geometries)
    func matchesTheDirectKernel(set: KernelSet, geometry: ConvGeometry) {
        let (parameters, x) = Self.inputs(geometry, seed: 3)
        Self.check(Self.run(set, geometry, winograd: true, parameters: parameters, x: x),
                   against: Self.run(set, geometry, winograd: false, parameters: parameters, x: x))
    }

    /// The transformed weights are kept between passes; a changed weight must be seen.
    @Test(arguments: vectorKernelSets)
    func followsChangedWeights(set: KernelSet) {
        let geometry = Self.geometries[2]
        let (parameters, x) = Self.inputs(geometry, seed: 4)
        let change: (UnsafeMutablePointer<Float>) -> Void = { p in for i in stride(from: 0, to: 9 * 16 * 64, by: 7) { p[i] = -p[i] } }
        var changed = parameters
        for i in stride(from: 0, to: 9 * 16 * 64, by: 7) { changed[i] = -changed[i] }
        let winograd = Self.run(set, geometry, winograd: true, parameters: parameters, x: x, change: change)
        Self.check(winograd, against: Self.run(set, geometry, winograd: false, parameters: changed, x: x))
        #expect(maxRelativeDifference(winograd.out, Self.run(set, geometry, winograd: true, parameters: parameters, x: x).out) > 1e-3)
    }

    @Test(.enabled(if: KernelSet.avx512.isSupported && KernelSet.avx2.isSupported, "needs AVX-512 and AVX2"),
          arguments: geometries)
    func avx2AndAVX512AgreeBitForBit(geometry: ConvGeometry) {
        let (parameters, x) = Self.inputs(geometry, seed: 5)
        let avx512 = Self.run(.avx512, geometry, winograd: true, parameters: parameters, x: x)
        let avx2 = Self.run(.avx2, geometry, winograd: true, parameters: parameters, x: x)
        #expect(avx512.out == avx2.out)
        #expect(avx512.argmax == avx2.argmax)
    }

    /// LeukNet-S at 64x64 (conv2 and conv3 by Winograd in inference) against the portable path, whose
    /// logits the naive reference and PyTorch pin down; and the vector sets agree bit for bit.
    @Test func wholeNetworkLogitsMatchThePortablePath() throws {
        func logits(_ set: KernelSet) throws -> [Float] {
            try VectorKernels.withKernels(set) {
                let model = try Model(architecture: .leuknetS, classes: ["hem", "all", "other"], inputSize: 64, seed: 5,
                                      learningRate: 0.001)
                let batch = randomBatch(count: 3, size: 64, classes: 3, seed: 9)
                model.trainStep(batch)
                return model.logits(batch.inputs)
            }
        }
        let portable = try logits(.portable)
        var results: [KernelSet: [Float]] = [:]
        for set in vectorKernelSets {
            results[set] = try logits(set)
            #expect(maxRelativeDifference(results[set]!, portable) <= 1e-5, "\(set)")
        }
        if let avx512 = results[.avx512], let avx2 = results[.avx2] { #expect(avx512 == avx2) }
    }
}

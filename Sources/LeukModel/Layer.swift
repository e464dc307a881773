internal import LeukTensor
import LeukCore
import Foundation

/// The per-image shape of a feature map, channels-last. A flat vector is 1 x 1 x features.
struct FeatureShape: Equatable, Sendable, CustomStringConvertible {
    var height: Int
    var width: Int
    var channels: Int

    var count: Int { height * width * channels }
    var description: String { "\(channels)x\(height)x\(width)" }
}

/// One named parameter tensor as PyTorch's `state_dict` shows it (name, shape), and where its values sit
/// in the owning layer's parameter block.
struct ParameterTensorInfo: Equatable, Sendable {
    var name: String
    var shape: [Int]
    var count: Int { shape.reduce(1, *) }
}

/// Whether a forward pass is for training (dropout active) or for inference.
enum PassMode: Sendable { case training, inference }

/// A layer of the engine.
///
/// Layers own their output and gradient buffers (sized on the first batch, reused afterwards) and keep a
/// pointer to their last input for the backward pass. Parameters and gradients live in the network's two
/// flat blocks; `bind` hands each layer its slice. Internally a layer may store a parameter in whatever
/// layout suits its GEMMs; `exportCanonical`/`importCanonical` translate to and from PyTorch's layout,
/// tensor after tensor in `parameterTensors` order.
protocol Layer: AnyObject {
    var inputShape: FeatureShape { get }
    var outputShape: FeatureShape { get }
    var parameterTensors: [ParameterTensorInfo] { get }

    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>)
    func initializeParameters(using generator: inout SeededGenerator)
    func forward(_ input: UnsafePointer<Float>, batch: Int, mode: PassMode) -> UnsafePointer<Float>
    /// Accumulates parameter gradients and returns the input gradient when asked for it.
    func backward(_ outputGradient: UnsafePointer<Float>, batch: Int, needsInputGradient: Bool) -> UnsafePointer<Float>?
    func exportCanonical(into destination: UnsafeMutablePointer<Float>)
    func importCanonical(from source: UnsafePointer<Float>)
}

extension Layer {
    var parameterCount: Int { parameterTensors.reduce(0) { $0 + $1.count } }
    var parameterTensors: [ParameterTensorInfo] { [] }
    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {}
    func initializeParameters(using generator: inout SeededGenerator) {}
    func exportCanonical(into destination: UnsafeMutablePointer<Float>) {}
    func importCanonical(from source: UnsafePointer<Float>) {}
}

/// Draws a uniform value in [-bound, bound).
@inline(__always)
func uniform(_ bound: Float, _ generator: inout SeededGenerator) -> Float {
    (generator.nextUnitFloat() * 2 - 1) * bound
}

/// Number of images per GEMM chunk for a layer whose im2col rows are `patch` floats and that has
/// `pixels` output pixels per image: at most about 512 KiB of columns (at least one image), so the
/// columns, OpenBLAS's packed copy of them and the GEMM output stay in the L2 cache together. For
/// LeukNet-S at 64x64 that is one image per chunk for conv2 and conv3; measured on one thread, 2 MiB
/// chunks (3 and 7 images) trained about 15% slower.
func imagesPerChunk(pixels: Int, patch: Int) -> Int {
    let target = chunkTargetFloats
    return max(1, target / max(1, pixels * patch))
}

/// im2col floats per GEMM chunk (LEUKNODE_CHUNK_FLOATS overrides it, for tuning with `leuknode bench`).
let chunkTargetFloats: Int = {
    if let text = ProcessInfo.processInfo.environment["LEUKNODE_CHUNK_FLOATS"], let value = Int(text), value > 0 { return value }
    return 128 * 1024
}()

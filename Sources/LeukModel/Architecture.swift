internal import LeukTensor
import LeukCore

/// The network architectures the engine can build, by the name stored in model files.
public enum Architecture: String, CaseIterable, Sendable, Codable {
    /// The reference network of docs/cnn.md and performance.md: three conv(3x3)-ReLU-maxpool blocks
    /// (16, 32, 64 channels), dense 4096 -> 64, ReLU, dense 64 -> classes. 285,922 parameters at 64x64.
    case leuknetS = "leuknet-s"
    /// A stronger network: four conv(3x3)-GroupNorm(8)-ReLU-maxpool blocks (32, 64, 128, 128 channels),
    /// dense 2048 -> 128, ReLU, dropout 0.3, dense 128 -> classes.
    case leuknetM = "leuknet-m"

    /// Parses a name, with an error listing the known ones.
    public init(named name: String) throws(ModelError) {
        guard let architecture = Architecture(rawValue: name.lowercased()) else {
            throw .unknownArchitecture(name)
        }
        self = architecture
    }

    public static var knownNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The input edge must be divisible by this (one halving per pooling block).
    public var inputSizeDivisor: Int {
        switch self {
        case .leuknetS: 8
        case .leuknetM: 16
        }
    }

    func makeLayers(inputSize: Int, classes: Int, seed: UInt64) -> [any Layer] {
        switch self {
        case .leuknetS:
            var layers: [any Layer] = []
            var shape = FeatureShape(height: inputSize, width: inputSize, channels: 3)
            for (index, channels) in [16, 32, 64].enumerated() {
                let block = ConvReLUPool(name: "conv\(index + 1)", geometry: ConvGeometry(
                    height: shape.height, width: shape.width, inChannels: shape.channels, outChannels: channels,
                    kernel: 3, stride: 1, padding: 1))
                layers.append(block)
                shape = block.outputShape
            }
            let fc1 = Dense(name: "fc1", input: shape, outFeatures: 64)
            layers.append(fc1)
            layers.append(ReLU(shape: fc1.outputShape))
            layers.append(Dense(name: "fc2", input: fc1.outputShape, outFeatures: classes, isOutputLayer: true))
            return layers
        case .leuknetM:
            var layers: [any Layer] = []
            var shape = FeatureShape(height: inputSize, width: inputSize, channels: 3)
            for (index, channels) in [32, 64, 128, 128].enumerated() {
                let conv = Conv2D(name: "conv\(index + 1)", geometry: ConvGeometry(
                    height: shape.height, width: shape.width, inChannels: shape.channels, outChannels: channels,
                    kernel: 3, stride: 1, padding: 1))
                let norm = GroupNorm(name: "gn\(index + 1)", shape: conv.outputShape, groups: 8)
                let pool = MaxPool2x2(input: conv.outputShape, fusedReLU: true)
                layers += [conv, norm, pool]
                shape = pool.outputShape
            }
            let fc1 = Dense(name: "fc1", input: shape, outFeatures: 128)
            layers.append(fc1)
            layers.append(ReLU(shape: fc1.outputShape))
            layers.append(Dropout(shape: fc1.outputShape, rate: 0.3, seed: seed &+ 0x5EED))
            layers.append(Dense(name: "fc2", input: fc1.outputShape, outFeatures: classes, isOutputLayer: true))
            return layers
        }
    }
}

public import LeukCore

/// Everything that can go wrong building, loading or saving a model, in words an operator can act on.
public enum ModelError: LeukUserFacingError, Equatable {
    case unknownArchitecture(String)
    case invalidConfiguration(String)
    /// The file is not a well-formed safetensors file (path, what is wrong).
    case malformedFile(path: String, reason: String)
    case missingTensor(path: String, name: String)
    case unexpectedTensor(path: String, name: String)
    case misshapenTensor(path: String, name: String, expected: [Int], found: [Int])
    case unsupportedDType(path: String, name: String, dtype: String)
    case nonFiniteWeights(path: String, name: String)
    case missingMetadata(path: String, key: String)
    case invalidMetadata(path: String, key: String, value: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownArchitecture(name):
            "unknown architecture '\(name)' (known: \(Architecture.knownNames))"
        case let .invalidConfiguration(reason):
            "invalid model configuration: \(reason)"
        case let .malformedFile(path, reason):
            "\(path): not a valid safetensors model: \(reason)"
        case let .missingTensor(path, name):
            "\(path): tensor '\(name)' is missing"
        case let .unexpectedTensor(path, name):
            "\(path): unexpected tensor '\(name)' for this architecture"
        case let .misshapenTensor(path, name, expected, found):
            "\(path): tensor '\(name)' has shape \(found), expected \(expected)"
        case let .unsupportedDType(path, name, dtype):
            "\(path): tensor '\(name)' has dtype \(dtype); only F32 is supported"
        case let .nonFiniteWeights(path, name):
            "\(path): tensor '\(name)' contains NaN or infinite values"
        case let .missingMetadata(path, key):
            "\(path): metadata '\(key)' is missing"
        case let .invalidMetadata(path, key, value, reason):
            "\(path): metadata '\(key)' = '\(value)' is invalid: \(reason)"
        case let .io(path, reason):
            "\(path): \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .unknownArchitecture:
            "pass --arch with one of the known names"
        case .malformedFile, .missingTensor, .unexpectedTensor, .misshapenTensor, .unsupportedDType, .missingMetadata,
             .invalidMetadata:
            "the file may be truncated or made for another network; re-export it or train again"
        case .nonFiniteWeights:
            "training diverged; train again with a lower learning rate"
        case .invalidConfiguration, .io:
            nil
        }
    }
}

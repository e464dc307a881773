import LeukMetrics
public import Foundation
public import LeukCore

/// Why a result file could not be read, naming the file and, for a missing or mistyped value, the
/// full key path (`federated.per_node[2].auc`).
public enum ResultFileError: LeukUserFacingError, Equatable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case invalidJSON(path: String, reason: String)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String)
    case invalidValue(path: String, key: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path): "result file '\(path)' does not exist"
        case .unreadable(let path, let reason): "cannot read result file '\(path)': \(reason)"
        case .invalidJSON(let path, let reason): "result file '\(path)' is not valid JSON: \(reason)"
        case .missingKey(let path, let key): "result file '\(path)' lacks the key '\(key)'"
        case .wrongType(let path, let key, let expected): "result file '\(path)': '\(key)' should be \(expected)"
        case .invalidValue(let path, let key, let reason): "result file '\(path)': '\(key)' \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .fileNotFound: "write one with `leuknode simulate ... --json > RESULT.json`"
        case .invalidJSON, .missingKey, .wrongType, .invalidValue:
            "the file must be the output of `leuknode simulate --json`"
        case .unreadable: nil
        }
    }
}

extension SimulationResult {
    /// The result as `simulate --json` prints it: pretty, keys sorted, so runs diff cleanly.
    /// Throws `EncodingError` for a non-finite number, which JSON cannot hold.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Decodes and checks a result, turning decoding failures into errors that name the key.
    /// `source` names the file in messages.
    public static func decode(_ data: Data, source: String) throws(ResultFileError) -> SimulationResult {
        let result: SimulationResult
        do {
            result = try JSONDecoder().decode(SimulationResult.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, source: source, data: data)
        } catch {
            throw .invalidJSON(path: source, reason: String(describing: error))
        }
        try result.validate(source: source)
        return result
    }

    /// Reads a result file from disk.
    public static func load(path: String) throws(ResultFileError) -> SimulationResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path: path)
        }
        if isDirectory.boolValue { throw .unreadable(path: path, reason: "it is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data, source: path)
    }

    /// Checks what the types cannot: well-shaped confusion matrices and labels the plots can use.
    func validate(source: String) throws(ResultFileError) {
        var named: [(String, EvaluationMetrics)] = [
            ("centralized", centralized), ("local_only.mean", localOnly.mean), ("federated.mean", federated.mean),
        ]
        named += localOnly.perNode.enumerated().map { ("local_only.per_node[\($0.offset)]", $0.element) }
        named += federated.perNode.enumerated().map { ("federated.per_node[\($0.offset)]", $0.element) }
        for (key, metrics) in named {
            if let problem = metrics.confusion.shapeProblem {
                throw .invalidValue(path: source, key: key + ".confusion", reason: problem)
            }
        }
        if let scores = federatedScores,
           let bad = scores.firstIndex(where: { ($0.label != 0 && $0.label != 1) || !$0.score.isFinite }) {
            throw .invalidValue(path: source, key: "federated_scores[\(bad)]",
                                reason: "needs label 0 or 1 and a finite score")
        }
    }

    private static func describe(_ error: DecodingError, source: String, data: Data) -> ResultFileError {
        switch error {
        case .keyNotFound(let key, let context):
            return .missingKey(path: source, key: keyPath(context.codingPath + [key]))
        case .typeMismatch(let type, let context):
            return .wrongType(path: source, key: keyPath(context.codingPath), expected: typeName(type))
        case .valueNotFound(let type, let context):
            return .wrongType(path: source, key: keyPath(context.codingPath), expected: "\(typeName(type)), not null")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return .invalidJSON(path: source, reason: syntaxProblem(in: data) ?? context.debugDescription)
            }
            return .invalidValue(path: source, key: keyPath(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .invalidJSON(path: source, reason: String(describing: error))
        }
    }

    /// Where the JSON syntax breaks. JSONDecoder on Linux only says "not valid JSON"; the older
    /// parser behind JSONSerialization names the offset, which is turned into a line and column here.
    static func syntaxProblem(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            guard var message = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String else { return nil }
            if let range = message.range(of: "character "),
               let offset = Int(message[range.upperBound...].prefix { $0.isNumber }), offset <= data.count {
                let before = data.prefix(offset)
                let line = before.count { $0 == UInt8(ascii: "\n") } + 1
                let column = offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
                message += " (line \(line), column \(column))"
            }
            return message
        }
    }

    /// `federated.per_node[2].auc` from a coding path.
    static func keyPath(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue, key.stringValue.hasPrefix("Index") || key.stringValue == String(index) {
                out += "[\(index)]"
            } else {
                out += out.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return out.isEmpty ? "(top level)" : out
    }

    private static func typeName(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if type == Double.self || type == Float.self { return "a number" }
        if type == Int.self || type == UInt64.self { return "an integer" }
        if type == String.self { return "a string" }
        if name.hasPrefix("Array") || name.hasPrefix("[") && !name.contains(":") { return "an array" }
        if name.hasPrefix("Dictionary") || name.contains(":") { return "an object" }
        return "of type \(name)"
    }
}

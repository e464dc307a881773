import Foundation

/// Why a byte string is not a safetensors file we can read.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible, Sendable {
    case truncated(String)
    case headerBeyondFile(headerLength: UInt64, fileLength: Int)
    case invalidHeader(String)
    case unsupportedDType(tensor: String, dtype: String)
    case badTensorEntry(tensor: String, reason: String)

    public var description: String {
        switch self {
        case let .truncated(what): "file is truncated: \(what)"
        case let .headerBeyondFile(length, file):
            "header length \(length) runs beyond the end of the \(file)-byte file"
        case let .invalidHeader(reason): "invalid JSON header: \(reason)"
        case let .unsupportedDType(tensor, dtype): "tensor '\(tensor)' has dtype \(dtype); only F32 is supported"
        case let .badTensorEntry(tensor, reason): "tensor '\(tensor)': \(reason)"
        }
    }
}

/// The safetensors container (https://github.com/huggingface/safetensors): an 8-byte little-endian header
/// length, a JSON header mapping names to dtype/shape/data_offsets (plus string `__metadata__`), then the
/// raw little-endian tensor bytes. Only F32 tensors are read or written.
public struct SafetensorsFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var tensor: Tensor
        public init(name: String, tensor: Tensor) { self.name = name; self.tensor = tensor }
    }

    /// Tensors in file order.
    public var entries: [Entry]
    public var metadata: [String: String]

    public init(entries: [Entry], metadata: [String: String]) {
        self.entries = entries
        self.metadata = metadata
    }

    public func tensor(named name: String) -> Tensor? { entries.first { $0.name == name }?.tensor }

    /// Serialises: header keys in a fixed order (metadata sorted, then tensors in `entries` order), header
    /// padded with spaces to a multiple of 8 bytes, data contiguous in entry order.
    public func encoded() -> [UInt8] {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let fields = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            parts.append("\"__metadata__\":{\(fields.joined(separator: ","))}")
        }
        var offset = 0
        for entry in entries {
            let bytes = entry.tensor.count * 4
            let shape = entry.tensor.shape.map(String.init).joined(separator: ",")
            parts.append("\(jsonString(entry.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerBytes.count + offset)
        let length = UInt64(headerBytes.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        out += headerBytes
        for entry in entries {
            for value in entry.tensor.scalars {
                let bits = value.bitPattern
                out.append(UInt8(truncatingIfNeeded: bits)); out.append(UInt8(truncatingIfNeeded: bits >> 8))
                out.append(UInt8(truncatingIfNeeded: bits >> 16)); out.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        return out
    }

    /// Parses and validates every entry: dtype, shape, offsets inside the data section and consistent
    /// with the shape.
    public static func decode(_ bytes: [UInt8]) throws(SafetensorsError) -> SafetensorsFile {
        guard bytes.count >= 8 else { throw .truncated("\(bytes.count) bytes, fewer than the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(bytes.count - 8) else { throw .headerBeyondFile(headerLength: length, fileLength: bytes.count) }
        let headerEnd = 8 + Int(length)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw .invalidHeader("not valid JSON (\(error.localizedDescription))")
        }
        guard let object = json as? [String: Any] else { throw .invalidHeader("top level is not an object") }
        let dataLength = bytes.count - headerEnd
        var metadata: [String: String] = [:]
        var located: [(begin: Int, entry: Entry)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let dict = value as? [String: Any] else { throw .invalidHeader("__metadata__ is not an object") }
                for (key, item) in dict {
                    guard let text = item as? String else { throw .invalidHeader("metadata '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = value as? [String: Any] else { throw .badTensorEntry(tensor: name, reason: "entry is not an object") }
            guard let dtype = info["dtype"] as? String else { throw .badTensorEntry(tensor: name, reason: "no dtype") }
            guard dtype == "F32" else { throw .unsupportedDType(tensor: name, dtype: dtype) }
            guard let shapeValues = info["shape"] as? [Any], let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 }) else {
                throw .badTensorEntry(tensor: name, reason: "shape is not a list of non-negative integers")
            }
            guard let offsetValues = info["data_offsets"] as? [Any], let offsets = integers(offsetValues), offsets.count == 2 else {
                throw .badTensorEntry(tensor: name, reason: "data_offsets is not two integers")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else { throw .badTensorEntry(tensor: name, reason: "data_offsets [\(begin), \(end)] are reversed") }
            guard end <= dataLength else {
                throw .truncated("tensor '\(name)' ends at byte \(end) of the data section, which has only \(dataLength) bytes")
            }
            let (count, overflow) = shape.reduce((1, false)) { acc, dim in
                let (r, o) = acc.0.multipliedReportingOverflow(by: dim); return (r, acc.1 || o)
            }
            guard !overflow, count * 4 == end - begin else {
                throw .badTensorEntry(tensor: name, reason: "shape \(shape) needs \(count * 4) bytes but data_offsets span \(end - begin)")
            }
            var scalars = [Float](repeating: 0, count: count)
            let start = headerEnd + begin
            for i in 0..<count {
                let p = start + 4 * i
                let bits = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
                scalars[i] = Float(bitPattern: bits)
            }
            located.append((begin, Entry(name: name, tensor: Tensor(shape: shape, scalars: scalars))))
        }
        located.sort { ($0.begin, $0.entry.name) < ($1.begin, $1.entry.name) }
        return SafetensorsFile(entries: located.map(\.entry), metadata: metadata)
    }

    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 1e15 else { return nil }
            out.append(number.intValue)
        }
        return out
    }

    private func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

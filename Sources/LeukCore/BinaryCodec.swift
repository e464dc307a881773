/// Little-endian, length-checked binary encoding shared by storage records and wire messages.
///
/// Readers never trust a length they read: every variable-size field is bounded by the caller before
/// any memory is reserved for it, and a failure names the field, so a corrupt record or a hostile frame
/// is reported precisely instead of crashing or allocating gigabytes.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }
    public mutating func write(_ value: UInt16) { writeInteger(value) }
    public mutating func write(_ value: UInt32) { writeInteger(value) }
    public mutating func write(_ value: UInt64) { writeInteger(value) }
    public mutating func write(_ value: Int64) { writeInteger(value) }
    public mutating func write(_ value: Double) { writeInteger(value.bitPattern) }
    public mutating func write(_ value: Float) { writeInteger(value.bitPattern) }
    public mutating func write(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Raw bytes with no length prefix, for fixed-size fields (keys, signatures, digests).
    public mutating func writeFixed(_ value: [UInt8]) { bytes.append(contentsOf: value) }
    /// Raw bytes with no length prefix.
    public mutating func writeFixed<C: Collection>(_ value: C) where C.Element == UInt8 { bytes.append(contentsOf: value) }

    /// Bytes preceded by a 32-bit length.
    public mutating func writeBytes(_ value: [UInt8]) {
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// UTF-8 text preceded by a 32-bit length.
    public mutating func writeString(_ value: String) { writeBytes(Array(value.utf8)) }

    public mutating func writeFloats(_ values: [Float]) {
        write(UInt32(values.count))
        values.withUnsafeBufferPointer { buffer in
            for v in buffer { writeInteger(v.bitPattern) }
        }
    }

    private mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Why a binary record could not be read.
public struct BinaryDecodingError: LeukUserFacingError, Equatable {
    public enum Reason: Sendable, Equatable {
        case truncated(needed: Int, available: Int)
        case tooLarge(length: Int, limit: Int)
        case invalid(String)
        case trailingBytes(Int)
    }
    public var field: String
    public var reason: Reason

    public init(field: String, reason: Reason) {
        self.field = field
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case let .truncated(needed, available):
            return "field '\(field)' is truncated: needs \(needed) bytes, \(available) left"
        case let .tooLarge(length, limit):
            return "field '\(field)' claims \(length) bytes, more than the limit of \(limit)"
        case let .invalid(why):
            return "field '\(field)' is invalid: \(why)"
        case let .trailingBytes(count):
            return "\(count) unexpected bytes after field '\(field)'"
        }
    }
}

public struct BinaryReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func readUInt8(_ field: String) throws(BinaryDecodingError) -> UInt8 {
        try need(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt16(_ field: String) throws(BinaryDecodingError) -> UInt16 { try readInteger(field) }
    public mutating func readUInt32(_ field: String) throws(BinaryDecodingError) -> UInt32 { try readInteger(field) }
    public mutating func readUInt64(_ field: String) throws(BinaryDecodingError) -> UInt64 { try readInteger(field) }
    public mutating func readInt64(_ field: String) throws(BinaryDecodingError) -> Int64 { try readInteger(field) }
    public mutating func readDouble(_ field: String) throws(BinaryDecodingError) -> Double {
        Double(bitPattern: try readInteger(field))
    }
    public mutating func readFloat(_ field: String) throws(BinaryDecodingError) -> Float {
        Float(bitPattern: try readInteger(field))
    }

    public mutating func readBool(_ field: String) throws(BinaryDecodingError) -> Bool {
        switch try readUInt8(field) {
        case 0: return false
        case 1: return true
        case let other: throw BinaryDecodingError(field: field, reason: .invalid("boolean byte \(other)"))
        }
    }

    public mutating func readFixed(_ count: Int, _ field: String) throws(BinaryDecodingError) -> [UInt8] {
        try need(count, field)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Length-prefixed bytes; the length is checked against `limit` and against what is left
    /// before anything is copied.
    public mutating func readBytes(_ field: String, limit: Int) throws(BinaryDecodingError) -> [UInt8] {
        let length = Int(try readUInt32(field + ".length"))
        guard length <= limit else { throw BinaryDecodingError(field: field, reason: .tooLarge(length: length, limit: limit)) }
        return try readFixed(length, field)
    }

    public mutating func readString(_ field: String, limit: Int) throws(BinaryDecodingError) -> String {
        let raw = try readBytes(field, limit: limit)
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw BinaryDecodingError(field: field, reason: .invalid("not UTF-8"))
        }
        return text
    }

    public mutating func readFloats(_ field: String, limit: Int) throws(BinaryDecodingError) -> [Float] {
        let count = Int(try readUInt32(field + ".count"))
        guard count <= limit else { throw BinaryDecodingError(field: field, reason: .tooLarge(length: count, limit: limit)) }
        try need(count * 4, field)
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + count * 4]))
            }
        }
        #if _endian(big)
        for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        offset += count * 4
        return values
    }

    /// Fails when bytes are left over: a record must be consumed exactly.
    public func expectEnd(after field: String) throws(BinaryDecodingError) {
        if remaining != 0 { throw BinaryDecodingError(field: field, reason: .trailingBytes(remaining)) }
    }

    private mutating func readInteger<T: FixedWidthInteger>(_ field: String) throws(BinaryDecodingError) -> T {
        let size = MemoryLayout<T>.size
        try need(size, field)
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    private func need(_ count: Int, _ field: String) throws(BinaryDecodingError) {
        guard count >= 0, remaining >= count else {
            throw BinaryDecodingError(field: field, reason: .truncated(needed: count, available: remaining))
        }
    }
}

/// Lowercase hexadecimal, for digests and keys in logs and JSON.
public enum Hex {
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `nil` for odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// A node is its Ed25519 public key (as in WireGuard and Secure Scuttlebutt): this is that key's
/// 32 bytes, with no other meaning attached.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    /// `nil` unless exactly 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == NodeID.byteCount else { return nil }
        self.bytes = bytes
    }

    public init?(hex: String) {
        guard let raw = Hex.decode(hex) else { return nil }
        self.init(bytes: raw)
    }

    public var hex: String { Hex.encode(bytes) }
    /// The first 8 hex digits, for log lines.
    public var short: String { String(hex.prefix(8)) }
    public var description: String { short }

    public static func < (a: NodeID, b: NodeID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

extension NodeID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = NodeID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a 64-digit hex node id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}

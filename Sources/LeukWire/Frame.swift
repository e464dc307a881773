public import LeukCore

/// Why a peer says goodbye. The raw values are on the wire; new reasons get new numbers, and an
/// unknown number decodes as `.other` so an older node still closes politely.
public enum GoodbyeReason: UInt8, Sendable, Equatable, CaseIterable {
    case shuttingDown = 1
    case removedByOperator = 2
    case coolDown = 3
    case duplicateConnection = 4
    case idleTimeout = 5
    case other = 255
}

/// Error codes of an error frame: the sender's reason for closing after it.
public enum WireErrorCode: UInt16, Sendable, Equatable, CaseIterable {
    case malformedFrame = 1
    case frameTooLarge = 2
    case unknownFrameType = 3
    case internalError = 4
    case other = 0xFFFF
}

/// Everything a session carries after the handshake. Each frame is one secret-stream message whose
/// plaintext is `type(1) || payload`; see network/PROTOCOL.md, "Frames".
public enum Frame: Sendable, Equatable {
    /// A signed model update envelope (`SignedModelUpdate`), kept as bytes: it is verified before it
    /// is parsed, and off the event loop.
    case modelUpdate([UInt8])
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    /// Sent as the stream's final message; the sender closes after it.
    case goodbye(GoodbyeReason, message: String)
    case error(WireErrorCode, message: String)

    public enum Kind: UInt8, Sendable, CaseIterable {
        case modelUpdate = 1
        case ping = 2
        case pong = 3
        case goodbye = 4
        case error = 5
    }

    public static let maximumMessageBytes = 1024

    public var kind: Kind {
        switch self {
        case .modelUpdate: return .modelUpdate
        case .ping: return .ping
        case .pong: return .pong
        case .goodbye: return .goodbye
        case .error: return .error
        }
    }

    /// The plaintext of the frame's secret-stream message.
    public func encoded() -> [UInt8] {
        var writer: BinaryWriter
        switch self {
        case let .modelUpdate(envelope):
            writer = BinaryWriter(capacity: envelope.count + 1)
            writer.write(Kind.modelUpdate.rawValue)
            writer.writeFixed(envelope)
        case let .ping(nonce):
            writer = BinaryWriter(capacity: 9)
            writer.write(Kind.ping.rawValue)
            writer.write(nonce)
        case let .pong(nonce):
            writer = BinaryWriter(capacity: 9)
            writer.write(Kind.pong.rawValue)
            writer.write(nonce)
        case let .goodbye(reason, message):
            writer = BinaryWriter()
            writer.write(Kind.goodbye.rawValue)
            writer.write(reason.rawValue)
            writer.writeString(Self.truncated(message))
        case let .error(code, message):
            writer = BinaryWriter()
            writer.write(Kind.error.rawValue)
            writer.write(code.rawValue)
            writer.writeString(Self.truncated(message))
        }
        return writer.bytes
    }

    /// The longest prefix of whole characters that fits the message limit.
    static func truncated(_ message: String) -> String {
        var out = ""
        var used = 0
        for character in message {
            let size = character.utf8.count
            if used + size > maximumMessageBytes { break }
            out.append(character)
            used += size
        }
        return out
    }

    /// Like `decode`, but takes the buffer over: a model update's envelope is shifted in place
    /// instead of copied, which matters for frames of many megabytes.
    public static func decode(consuming bytes: inout [UInt8]) throws(BinaryDecodingError) -> Frame {
        guard bytes.first == Kind.modelUpdate.rawValue else { return try decode(bytes) }
        bytes.removeFirst()
        let envelope = bytes
        bytes = []
        return .modelUpdate(envelope)
    }

    /// Decodes a frame's plaintext; every failure names the field.
    public static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> Frame {
        var reader = BinaryReader(bytes)
        let rawKind = try reader.readUInt8("frame.type")
        guard let kind = Kind(rawValue: rawKind) else {
            throw BinaryDecodingError(field: "frame.type", reason: .invalid("unknown frame type \(rawKind)"))
        }
        let frame: Frame
        switch kind {
        case .modelUpdate:
            frame = .modelUpdate(Array(bytes[1...]))
            return frame
        case .ping:
            frame = .ping(nonce: try reader.readUInt64("ping.nonce"))
        case .pong:
            frame = .pong(nonce: try reader.readUInt64("pong.nonce"))
        case .goodbye:
            let reason = GoodbyeReason(rawValue: try reader.readUInt8("goodbye.reason")) ?? .other
            frame = .goodbye(reason, message: try reader.readString("goodbye.message", limit: maximumMessageBytes))
        case .error:
            let code = WireErrorCode(rawValue: try reader.readUInt16("error.code")) ?? .other
            frame = .error(code, message: try reader.readString("error.message", limit: maximumMessageBytes))
        }
        try reader.expectEnd(after: "frame")
        return frame
    }
}

public import LeukWire
import LeukCrypto
public import NIOCore

/// One unit of what a peer sends, cut from the TCP byte stream.
public enum WireUnit: Sendable, Equatable {
    /// A whole handshake message (or a responder's short version notice).
    case handshake([UInt8])
    /// The peer's secret-stream header, sent once after the handshake.
    case streamHeader([UInt8])
    /// One encrypted record (its length prefix already removed).
    case record(ByteBuffer)
}

/// Cuts the inbound byte stream into handshake messages, the stream header and length-prefixed
/// records. The sequence is fixed by the role, so no feedback from the handshake is needed. Each
/// record's length is checked against the hard maximum from its 4-byte prefix alone, before a byte
/// of its body is buffered for it: a hostile 4 GiB prefix is refused at once.
public struct SessionRecordDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = WireUnit

    public enum Role: Sendable { case initiator, responder }
    enum Phase { case hello, finish, response, header, records, finished }

    var phase: Phase
    let version: UInt16
    /// Largest ciphertext accepted: the frame maximum plus the secret-stream overhead.
    public let maximumRecordBytes: Int

    public init(role: Role, maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes, version: UInt16 = WireProtocol.version) {
        phase = role == .initiator ? .response : .hello
        self.version = version
        maximumRecordBytes = maximumFrameBytes + SecretStream.overhead
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> WireUnit? {
        switch phase {
        case .hello:
            guard let bytes = buffer.readBytes(length: HandshakeLayout.helloByteCount) else { return nil }
            phase = .finish
            return .handshake(bytes)
        case .finish:
            guard let bytes = buffer.readBytes(length: HandshakeLayout.finishByteCount) else { return nil }
            phase = .header
            return .handshake(bytes)
        case .response:
            guard let prefix = buffer.getBytes(at: buffer.readerIndex, length: HandshakeLayout.responsePrefixByteCount) else { return nil }
            let theirs = UInt16(prefix[4]) | UInt16(prefix[5]) << 8
            if prefix[0..<4].elementsEqual(WireProtocol.magic) && theirs != version {
                // A version notice: the peer closes after it, and so do we.
                buffer.moveReaderIndex(forwardBy: HandshakeLayout.responsePrefixByteCount)
                phase = .finished
                return .handshake(prefix)
            }
            guard let bytes = buffer.readBytes(length: HandshakeLayout.responseByteCount) else { return nil }
            phase = .header
            return .handshake(bytes)
        case .header:
            guard let bytes = buffer.readBytes(length: SecretStream.headerByteCount) else { return nil }
            phase = .records
            return .streamHeader(bytes)
        case .records:
            guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else { return nil }
            let claimed = Int(length)
            guard claimed <= maximumRecordBytes else {
                throw ChannelFailure.frameTooLarge(claimed: claimed - SecretStream.overhead, limit: maximumRecordBytes - SecretStream.overhead)
            }
            guard claimed >= SecretStream.overhead else { throw ChannelFailure.frameTooSmall(claimed) }
            guard buffer.readableBytes >= 4 + claimed else {
                // The size is within bounds, so room for the whole record may be made now: one
                // allocation instead of repeated doubling and copying while a large frame streams in.
                if buffer.capacity - buffer.readerIndex < 4 + claimed {
                    buffer.reserveCapacity(minimumWritableBytes: 4 + claimed - buffer.readableBytes)
                }
                return nil
            }
            buffer.moveReaderIndex(forwardBy: 4)
            return .record(buffer.readSlice(length: claimed)!)
        case .finished:
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> WireUnit? {
        try decode(buffer: &buffer)
    }
}

public import LeukCore
public import LeukWire

/// Why a peer channel closed or never opened. Handed to the shell's event stream, so every case
/// says what happened in words an operator can act on.
public enum ChannelFailure: LeukUserFacingError, Equatable {
    case handshake(HandshakeFailure)
    /// The peer hung up before the handshake finished: usually its allowlist does not admit us.
    case closedDuringHandshake
    case handshakeTimeout(seconds: Double)
    /// A length prefix above the hard maximum, refused before any buffer was allocated for it.
    case frameTooLarge(claimed: Int, limit: Int)
    case frameTooSmall(Int)
    /// A record did not decrypt: tampered, reordered, replayed or truncated in transit.
    case decryptionFailed
    case malformedFrame(BinaryDecodingError)
    /// Nothing arrived for longer than the idle timeout, keep-alives included.
    case idleTimeout(seconds: Double)
    /// The peer sent an error frame before closing.
    case peerReportedError(WireErrorCode, String)
    /// The peer sent data after ending its stream.
    case dataAfterFinal
    /// An admitted peer knocked while it is disconnected for a cool-down (`disconnect(peer:coolDown:)`).
    case coolingDown(NodeID)

    public var description: String {
        switch self {
        case let .handshake(failure): return "handshake failed: \(failure.description)"
        case .closedDuringHandshake: return "the peer closed the connection during the handshake"
        case let .handshakeTimeout(seconds): return "the handshake did not finish within \(seconds) s"
        case let .frameTooLarge(claimed, limit): return "the peer announced a frame of \(claimed) bytes, above the limit of \(limit)"
        case let .frameTooSmall(size): return "the peer sent a \(size)-byte record, too short to be encrypted"
        case .decryptionFailed: return "a frame did not decrypt: the stream was tampered with, reordered or replayed"
        case let .malformedFrame(error): return "malformed frame: \(error.description)"
        case let .idleTimeout(seconds): return "nothing heard from the peer for \(seconds) s"
        case let .peerReportedError(code, message): return "the peer reported error \(code): \(message)"
        case .dataAfterFinal: return "the peer sent data after its final frame"
        case let .coolingDown(peer): return "peer \(peer.short) is admitted but in a cool-down period"
        }
    }

    public var hint: String? {
        switch self {
        case let .handshake(failure): return failure.hint
        case .closedDuringHandshake: return "ask the other institution whether it has added our contact (`leuknode peer add`)"
        default: return nil
        }
    }
}

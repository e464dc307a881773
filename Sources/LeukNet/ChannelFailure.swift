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
    /// Closed on arrival: `limit` connections were mid-handshake already (from this connection's IP
    /// address alone when `fromOneAddress`), the sign of a flood or a slowloris.
    case tooManyPendingHandshakes(limit: Int, fromOneAddress: Bool)

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
        case let .tooManyPendingHandshakes(limit, fromOneAddress):
            return "closed on arrival: \(limit) connections\(fromOneAddress ? " from this address" : "") were already mid-handshake"
        }
    }

    /// A stable snake_case key per case: the keys of a peer's `faults` in `peer list` and status.
    public var code: String {
        switch self {
        case .handshake(.notAdmitted): return "not_admitted"
        case .handshake(.versionMismatch): return "version_mismatch"
        case .handshake(.networkKeyMismatch): return "network_key_mismatch"
        case .handshake(.unexpectedPeer): return "unexpected_peer"
        case .handshake: return "handshake_failed"
        case .closedDuringHandshake: return "closed_during_handshake"
        case .handshakeTimeout: return "handshake_timeout"
        case .frameTooLarge: return "frame_too_large"
        case .frameTooSmall: return "frame_too_small"
        case .decryptionFailed: return "decryption_failed"
        case .malformedFrame: return "malformed_frame"
        case .idleTimeout: return "idle_timeout"
        case .peerReportedError: return "peer_reported_error"
        case .dataAfterFinal: return "data_after_final"
        case .coolingDown: return "cooling_down"
        case .tooManyPendingHandshakes: return "too_many_pending_handshakes"
        }
    }

    /// Bytes on an open session that break the protocol: the peer (or someone on the path) sent
    /// garbage. `PeerConnections` answers with a cool-down, so a broken peer is not redialled at
    /// once into the same failure; timeouts and the peer's own error reports are not garbage.
    public var isProtocolViolation: Bool {
        switch self {
        case .frameTooLarge, .frameTooSmall, .decryptionFailed, .malformedFrame, .dataAfterFinal, .handshake:
            return true
        case .closedDuringHandshake, .handshakeTimeout, .idleTimeout, .peerReportedError, .coolingDown, .tooManyPendingHandshakes:
            return false
        }
    }

    /// Garbage that can only have come from the authenticated peer itself: it decrypted under the
    /// session's keys, so no one on the path made it. Reported to the gossip core as a malformed
    /// message (which scores the peer down); a record that did not decrypt, or a length prefix in
    /// the clear, could be a stranger's tampering and costs the peer no score.
    public var isAuthenticatedGarbage: Bool {
        switch self {
        case .malformedFrame, .dataAfterFinal: return true
        case .handshake, .closedDuringHandshake, .handshakeTimeout, .frameTooLarge, .frameTooSmall, .decryptionFailed,
             .idleTimeout, .peerReportedError, .coolingDown, .tooManyPendingHandshakes:
            return false
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

/// Constants every leuknode peer agrees on. Changing the meaning or layout of any byte after the
/// first message's fixed prefix means a new `version`; see network/PROTOCOL.md, "Versioning policy".
public enum WireProtocol {
    /// The protocol version this build speaks. Peers must speak the same one; a mismatch is reported
    /// to both operators with both numbers, never silently downgraded.
    public static let version: UInt16 = 1
    /// "LEUK": the first four bytes of the first two handshake messages, so a stray client (an HTTP
    /// probe, a port scanner) is told apart from a peer at once.
    public static let magic: [UInt8] = Array("LEUK".utf8)
    /// The default hard maximum of one frame's plaintext: 64 MiB, room for a 16-million-parameter
    /// update. Checked before any buffer is allocated.
    public static let defaultMaximumFrameBytes = 64 * 1024 * 1024
}

/// The context strings of transcript hashes and derived keys. Each is distinct and versioned, like
/// the signing contexts in `SigningContext`, so no value made for one purpose is accepted for another.
enum WireLabel {
    static let transcript = "leuknode/v1/handshake-transcript"
    static let hello = "leuknode/v1/handshake-hello"
    static let responderSealKey = "leuknode/v1/handshake-resp-key"
    static let initiatorSealKey = "leuknode/v1/handshake-init-key"
    static let streamKey = "leuknode/v1/stream-key"
}

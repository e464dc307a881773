public import LeukCore

/// The string one institution sends another to join: `leuk1:<keys>@host:port`.
///
/// `<keys>` is URL-safe base64 of the Ed25519 identity key, the X25519 key, the binding signature and
/// a 4-byte checksum over all of it and the address. The binding signature makes a swapped X25519 key
/// fail; the checksum catches a mistyped or edited address or key. The address is only a hint where to
/// dial: who answers is proven by the handshake, not by the contact.
public struct Contact: Hashable, Sendable, CustomStringConvertible {
    public static let prefix = "leuk1:"
    static let payloadLength = 32 + 32 + 64
    static let checksumLength = 4

    public let identity: PublicIdentity
    public let host: String
    public let port: Int

    public init(identity: PublicIdentity, host: String, port: Int) {
        self.identity = identity
        self.host = host
        self.port = port
    }

    public var fingerprint: Fingerprint { identity.fingerprint }

    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String {
        let payload = identity.signingKey.bytes + identity.agreementKey.bytes + identity.binding
        return Self.prefix + Base64URL.encode(payload + Self.checksum(payload, address: address)) + "@" + address
    }

    static func checksum(_ payload: [UInt8], address: String) -> [UInt8] {
        Blake2b.hash(Array("leuknode/v1/contact-checksum".utf8) + payload + Array(address.utf8), outputLength: checksumLength)
    }

    /// Parses and checks a contact; every failure says what is wrong with it.
    public init(parsing text: String) throws(ContactError) {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.hasPrefix(Self.prefix) else { throw .missingPrefix }
        let body = trimmed.dropFirst(Self.prefix.count)
        guard let at = body.lastIndex(of: "@") else { throw .missingAddress }
        let encoded = String(body[..<at])
        let address = String(body[body.index(after: at)...])
        guard let raw = Base64URL.decode(encoded) else { throw .badEncoding }
        guard raw.count == Self.payloadLength + Self.checksumLength else {
            throw .wrongLength(raw.count, expected: Self.payloadLength + Self.checksumLength)
        }
        let (host, port) = try Self.parseAddress(address)
        let payload = Array(raw[0..<Self.payloadLength])
        let canonicalAddress = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        guard constantTimeEquals(Array(raw[Self.payloadLength...]), Self.checksum(payload, address: canonicalAddress)) else {
            throw .checksumMismatch
        }
        let identity: PublicIdentity
        do {
            identity = PublicIdentity(signingKey: try SigningPublicKey(bytes: Array(payload[0..<32])),
                                      agreementKey: try AgreementPublicKey(bytes: Array(payload[32..<64])),
                                      binding: Array(payload[64..<128]))
            _ = try identity.verifiedBinding()
        } catch {
            throw .bindingInvalid
        }
        self.init(identity: identity, host: host, port: port)
    }

    /// `host:port` or `[v6]:port`.
    public static func parseAddress(_ address: String) throws(ContactError) -> (host: String, port: Int) {
        let host: String
        let portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"),
                  address[address.index(after: close)...].hasPrefix(":") else { throw .badAddress(address) }
            host = String(address[address.index(after: address.startIndex)..<close])
            portText = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":") else { throw .badAddress(address) }
            host = String(address[..<colon])
            portText = address[address.index(after: colon)...]
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || ".-:_".contains($0) }) else {
            throw .badAddress(address)
        }
        guard let port = Int(portText), (1...65535).contains(port) else { throw .badPort(String(portText)) }
        return (host, port)
    }
}

public enum ContactError: LeukUserFacingError, Equatable {
    case missingPrefix
    case missingAddress
    case badEncoding
    case wrongLength(Int, expected: Int)
    case badAddress(String)
    case badPort(String)
    case checksumMismatch
    case bindingInvalid

    public var description: String {
        switch self {
        case .missingPrefix: return "not a leuknode contact: it must start with 'leuk1:'"
        case .missingAddress: return "the contact has no '@host:port' part"
        case .badEncoding: return "the key part of the contact is not valid URL-safe base64"
        case let .wrongLength(n, expected): return "the key part decodes to \(n) bytes; a contact carries \(expected)"
        case let .badAddress(a): return "'\(a)' is not a host:port address (use [v6-address]:port for IPv6)"
        case let .badPort(p): return "'\(p)' is not a port number between 1 and 65535"
        case .checksumMismatch: return "the contact's checksum does not match: it was mistyped, cut, or altered"
        case .bindingInvalid: return "the contact's X25519 key is not signed by its identity key: it was tampered with"
        }
    }

    public var hint: String? {
        "ask the other institution to run `leuknode id` and send the first line again, whole"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

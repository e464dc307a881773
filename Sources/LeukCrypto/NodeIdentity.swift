public import LeukCore

/// A node's long-term identity: an Ed25519 signing key (what the node *is*) and a separate X25519
/// key (what peers encrypt to), tied together by the identity key's signature over the X25519 key.
public struct NodeIdentity: Sendable {
    public let signing: SigningKeyPair
    public let agreement: AgreementKeyPair
    /// Ed25519 signature, under `.x25519Binding`, over the X25519 public key.
    public let binding: [UInt8]

    public init(signing: SigningKeyPair, agreement: AgreementKeyPair) {
        self.signing = signing
        self.agreement = agreement
        self.binding = signing.sign(agreement.publicKey.bytes, context: .x25519Binding)
    }

    /// A fresh identity with new random keys.
    public static func generate() -> NodeIdentity {
        NodeIdentity(signing: SigningKeyPair(), agreement: AgreementKeyPair())
    }

    public var id: NodeID { signing.publicKey.nodeID }
    public var publicIdentity: PublicIdentity {
        PublicIdentity(signingKey: signing.publicKey, agreementKey: agreement.publicKey, binding: binding)
    }
}

/// What a peer knows of a node: its two public keys and the binding signature that proves the
/// X25519 key belongs to the identity key. Constructing one checks the binding.
public struct PublicIdentity: Hashable, Sendable {
    public let signingKey: SigningPublicKey
    public let agreementKey: AgreementPublicKey
    public let binding: [UInt8]

    public init(signingKey: SigningPublicKey, agreementKey: AgreementPublicKey, binding: [UInt8]) {
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.binding = binding
    }

    /// Checks that the identity key signed the X25519 key.
    public func verifiedBinding() throws(CryptoError) -> PublicIdentity {
        try signingKey.verify(binding, for: agreementKey.bytes, context: .x25519Binding)
        return self
    }

    public var id: NodeID { signingKey.nodeID }
    public var fingerprint: Fingerprint { Fingerprint(signingKey) }
}

/// A short, human-checkable digest of an identity key, read aloud over the phone to confirm a
/// contact: 80 bits of BLAKE2b in four groups of four base32 letters ("b7nl-r5hj-erl5-5cd3").
public struct Fingerprint: Hashable, Sendable, CustomStringConvertible {
    public let text: String

    public init(_ key: SigningPublicKey) {
        let digest = Blake2b.hash(Array("leuknode/v1/fingerprint".utf8) + key.bytes, outputLength: 10)
        let letters = Base32.encode(digest)  // 16 characters for 10 bytes
        var groups: [Substring] = []
        var rest = Substring(letters)
        while !rest.isEmpty {
            groups.append(rest.prefix(4))
            rest = rest.dropFirst(4)
        }
        text = groups.joined(separator: "-")
    }

    public var description: String { text }
}

/// RFC 4648 base32, lowercase, no padding: unambiguous to read aloud and safe in file names.
public enum Base32 {
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        for b in bytes {
            buffer = (buffer << 8) | UInt32(b)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// URL-safe base64 without padding (RFC 4648 section 5), for contact strings.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `nil` on a character outside the alphabet, an impossible length, or non-canonical trailing bits.
    public static func decode(_ text: String) -> [UInt8]? {
        var values = [UInt8]()
        for c in text.utf8 {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(v))
        }
        if values.count % 4 == 1 { return nil }
        var out = [UInt8]()
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            var n: UInt32 = 0
            for (k, v) in chunk.enumerated() { n |= UInt32(v) << UInt32(18 - 6 * k) }
            let produced = chunk.count - 1
            if produced >= 1 { out.append(UInt8(n >> 16 & 0xFF)) }
            if produced >= 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if produced >= 3 { out.append(UInt8(n & 0xFF)) }
            // Reject leftover bits so each byte string has exactly one encoding.
            if produced == 1 && n & 0xFFFF != 0 { return nil }
            if produced == 2 && n & 0xFF != 0 { return nil }
            i += 4
        }
        return out
    }
}

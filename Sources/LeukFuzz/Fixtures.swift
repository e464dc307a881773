import LeukCore
import LeukCrypto

/// Fixed keys, so seeds replay exactly and a handshake seed still completes against the target's fixed
/// responder. Derived from constant seeds: never use them outside fuzzing.
enum Fixtures {
    static func identity(_ tag: UInt8) -> NodeIdentity {
        let signing = try! SigningKeyPair(seed: [UInt8](repeating: tag, count: 32))
        let agreement = try! AgreementKeyPair(secret: [UInt8](repeating: tag &+ 0x40, count: 32))
        return NodeIdentity(signing: signing, agreement: agreement)
    }

    static func ephemeral(_ tag: UInt8) -> KeyExchangeKeyPair {
        try! KeyExchangeKeyPair(deterministicSeedForTesting: [UInt8](repeating: tag, count: 32))
    }

    static let networkKey = try! NetworkKey(bytes: [UInt8](repeating: 0x5A, count: 32))
    static let initiator = identity(1)
    static let responder = identity(2)
    static let author = identity(3)
    /// 2026-12-01T00:00:00Z: the "now" of model updates.
    static let now = Timestamp(secondsSinceEpoch: 1_796_083_200)
}

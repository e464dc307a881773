import Foundation
import LeukCore
import LeukCrypto
import LeukWire

/// Fixed keys, so handshake messages and envelopes are byte-for-byte reproducible.
enum Fixtures {
    static func seed(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    static func identity(_ byte: UInt8) -> NodeIdentity {
        NodeIdentity(signing: try! SigningKeyPair(seed: seed(byte)),
                     agreement: try! AgreementKeyPair(secret: seed(byte &+ 0x40)))
    }

    static let alice = identity(0x01)
    static let bob = identity(0x02)
    static let mallory = identity(0x03)

    static func ephemeral(_ byte: UInt8) -> KeyExchangeKeyPair {
        try! KeyExchangeKeyPair(deterministicSeedForTesting: seed(byte))
    }

    static func configuration(_ me: NodeIdentity, admitting others: [NodeIdentity], networkKey: NetworkKey = .publicDefault) -> HandshakeConfiguration {
        let allowed = Set(others.map(\.id))
        return HandshakeConfiguration(identity: me, networkKey: networkKey, admits: { allowed.contains($0.id) })
    }

    static let metadata = ModelUpdateMetadata(
        version: 7, timestamp: Timestamp(nanosecondsSinceEpoch: 1_790_000_000_000_000_000), sampleCount: 1234,
        round: 3, degree: 2, metrics: ValidationMetrics(accuracy: 0.875, loss: 0.3125, sensitivity: 0.9, specificity: nil),
        architecture: "leukcnn-v1", parents: [[UInt8](repeating: 0xAB, count: 32), [UInt8](repeating: 0xCD, count: 32)],
        classes: ["hem", "all"], neighborhoodSamples: 3702, classCounts: [234, 1000])

    static let parameters: [Float] = (0..<16).map { Float($0) * 0.25 - 1.5 }

    static let now = Timestamp(nanosecondsSinceEpoch: 1_790_000_000_000_000_000)
}

import Foundation
public import LeukClinic
public import LeukCore
public import LeukCrypto

/// Shared by LeukClinicTests and LeukAPITests, so both suites drive the clinic with the same doubles.

/// A clock the test moves by hand, for idle expiry and lockout.
public final class ManualClock: WallClock, @unchecked Sendable {
    // @unchecked Sendable: `current` is only touched under `lock`.
    private let lock = NSLock()
    private var current: Timestamp

    public init(start: Timestamp = Timestamp(secondsSinceEpoch: 1_800_000_000)) { current = start }

    public func now() -> Timestamp {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    public func advance(_ duration: Duration) {
        lock.lock()
        current = current.adding(duration)
        lock.unlock()
    }
}

/// Test double of the node's model (an injected dependency): a real, deterministic function of the
/// image bytes. The bytes are read as raw RGB triples and P(all) is the mean red intensity / 255, so
/// a test picks the outcome by choosing the red level of the "image" it sends.
public struct MeanRedClassifier: CellClassifier {
    public static let modelSHA256 = String(repeating: "ab", count: 32)
    public static let modelVersion: UInt64 = 7

    public init() {}

    public func classify(imageBytes: [UInt8], fileName: String) async throws -> Classification {
        guard imageBytes.count >= 3, imageBytes.count % 3 == 0 else {
            throw ClassificationError.unreadableImage("\(fileName) is not raw RGB (\(imageBytes.count) bytes)")
        }
        var sum = 0.0
        var index = 0
        while index < imageBytes.count {
            sum += Double(imageBytes[index])
            index += 3
        }
        let pAll = sum / Double(imageBytes.count / 3) / 255
        return Classification(probabilities: ["all": pAll, "hem": 1 - pAll], predicted: pAll >= 0.5 ? "all" : "hem",
                              modelSHA256: Self.modelSHA256, modelVersion: Self.modelVersion, responseTimeMs: 0.5)
    }
}

/// A raw RGB "image" of `pixels` pixels whose red channel is `red` (so P(all) = red / 255).
public func rgbImage(red: UInt8, pixels: Int = 64) -> [UInt8] {
    var bytes: [UInt8] = []
    for i in 0..<pixels { bytes += [red, UInt8(i % 200), 90] }
    return bytes
}

/// Argon2id at libsodium's minimum cost, so tests hash in microseconds; a separate test checks
/// that the production default is at least the interactive preset.
public let cheapHasher = PasswordHasher(opsLimit: 1, memLimit: 8192)

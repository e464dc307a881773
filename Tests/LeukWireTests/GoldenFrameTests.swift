import Foundation
import LeukCore
import LeukCrypto
import LeukWire
import Testing

/// The wire format pinned byte for byte. The fixtures under Golden/ were produced from fixed seeds
/// (Ed25519 and X25519 are deterministic given their seeds, and the handshake seals with per-message
/// keys and a zero nonce), so any change to the encoding shows up here as a diff to review.
/// To regenerate after a deliberate format change (which also needs a new protocol version):
/// `LEUKNODE_WRITE_GOLDEN=1 swift test --filter GoldenFrameTests`.
@Suite struct GoldenFrameTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Every golden frame, by file name, as this build encodes it.
    static func currentFrames() -> [(String, [UInt8])] {
        var initiator = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]),
                                           expectedPeer: Fixtures.bob.id, ephemeral: Fixtures.ephemeral(0x11))
        var responder = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]),
                                           ephemeral: Fixtures.ephemeral(0x22))
        let hello = initiator.start()
        guard case let .send(response) = responder.receiveHello(hello),
              case let .established(session, finish) = initiator.receiveResponse(response) else {
            fatalError("golden handshake failed")
        }
        var old = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]),
                                     ephemeral: Fixtures.ephemeral(0x22))
        var future = HandshakeInitiator(configuration: Fixtures.configuration(Fixtures.alice, admitting: [Fixtures.bob]),
                                        expectedPeer: nil, ephemeral: Fixtures.ephemeral(0x11), version: 2)
        guard case let .failed(_, notice) = old.receiveHello(future.start()) else { fatalError("version 2 accepted") }
        return [
            ("handshake-1-hello", hello),
            ("handshake-2-response", response),
            ("handshake-3-finish", finish),
            ("handshake-transcript-hash", session.transcriptHash),
            ("handshake-version-notice", notice),
            ("frame-ping", Frame.ping(nonce: 0x0102_0304_0506_0708).encoded()),
            ("frame-pong", Frame.pong(nonce: 0x0102_0304_0506_0708).encoded()),
            ("frame-goodbye", Frame.goodbye(.shuttingDown, message: "node stopping").encoded()),
            ("frame-error", Frame.error(.frameTooLarge, message: "frame of 70000000 bytes exceeds 67108864").encoded()),
            ("frame-model-update", Frame.modelUpdate(SignedModelUpdate.seal(Fixtures.metadata, parameters: Fixtures.parameters,
                                                                             author: Fixtures.alice.signing)).encoded()),
        ]
    }

    static func format(_ bytes: [UInt8]) -> String {
        stride(from: 0, to: bytes.count, by: 32).map { Hex.encode(bytes[$0..<min($0 + 32, bytes.count)]) }.joined(separator: "\n") + "\n"
    }

    @Test func encodingMatchesTheCommittedGoldenFramesByteForByte() throws {
        let frames = Self.currentFrames()
        if ProcessInfo.processInfo.environment["LEUKNODE_WRITE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.directory, withIntermediateDirectories: true)
            for (name, bytes) in frames {
                try Self.format(bytes).write(to: Self.directory.appendingPathComponent(name + ".hex"), atomically: true, encoding: .utf8)
            }
        }
        for (name, bytes) in frames {
            let text = try String(contentsOf: Self.directory.appendingPathComponent(name + ".hex"), encoding: .utf8)
            let golden = try #require(Hex.decode(text.filter { !$0.isWhitespace }), "\(name).hex is not hex")
            #expect(golden == bytes, "\(name) differs from Golden/\(name).hex")
        }
    }

    @Test func goldenFramesDecode() throws {
        func golden(_ name: String) throws -> [UInt8] {
            let text = try String(contentsOf: Self.directory.appendingPathComponent(name + ".hex"), encoding: .utf8)
            return try #require(Hex.decode(text.filter { !$0.isWhitespace }))
        }
        #expect(try Frame.decode(golden("frame-ping")) == .ping(nonce: 0x0102_0304_0506_0708))
        guard case let .modelUpdate(envelope) = try Frame.decode(golden("frame-model-update")) else { Issue.record("not an update"); return }
        let update = try SignedModelUpdate.verify(envelope, now: Fixtures.now) { _ in .known }.get()
        #expect(update.parameters == Fixtures.parameters)
        #expect(update.metadata == Fixtures.metadata)
        // An envelope of format 2 (before the class counts) still verifies, with none reported.
        guard case let .modelUpdate(v2Envelope) = try Frame.decode(golden("frame-model-update-v2")) else { Issue.record("not an update"); return }
        let v2 = try SignedModelUpdate.verify(v2Envelope, now: Fixtures.now) { _ in .known }.get()
        var withoutCounts = Fixtures.metadata
        withoutCounts.classCounts = []
        #expect(v2.metadata == withoutCounts)
        #expect(v2.envelopeBytes() == v2Envelope)
        // An envelope of format 1 (before the class list) still verifies, as the list it implied.
        guard case let .modelUpdate(old) = try Frame.decode(golden("frame-model-update-v1")) else { Issue.record("not an update"); return }
        let v1 = try SignedModelUpdate.verify(old, now: Fixtures.now) { _ in .known }.get()
        #expect(v1.metadata.classes == ["hem", "all"])
        #expect(v1.metadata.architecture == Fixtures.metadata.architecture)
        #expect(v1.parameters == Fixtures.parameters)
        #expect(try golden("handshake-1-hello").count == HandshakeLayout.helloByteCount)
        #expect(try golden("handshake-2-response").count == HandshakeLayout.responseByteCount)
        #expect(try golden("handshake-3-finish").count == HandshakeLayout.finishByteCount)
        // A responder with the same fixed ephemeral accepts the golden hello and the golden finish.
        var responder = HandshakeResponder(configuration: Fixtures.configuration(Fixtures.bob, admitting: [Fixtures.alice]),
                                           ephemeral: Fixtures.ephemeral(0x22))
        guard case let .send(response) = responder.receiveHello(try golden("handshake-1-hello")) else { Issue.record("hello refused"); return }
        #expect(response == (try golden("handshake-2-response")))
        guard case let .established(session, _) = responder.receiveFinish(try golden("handshake-3-finish")) else { Issue.record("finish refused"); return }
        #expect(session.transcriptHash == (try golden("handshake-transcript-hash")))
    }
}

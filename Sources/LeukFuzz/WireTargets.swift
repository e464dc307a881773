import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import NIOCore

/// The peer-facing parsers: a frame's plaintext, the TCP byte stream cut into units, both handshake roles, and
/// the signed model update. Everything here can arrive from any host that reaches the node's port.
enum WireTargets {
    /// `Frame.decode` and `Frame.decode(consuming:)` on the same bytes: they must agree, and an accepted frame
    /// must encode to a frame that decodes to itself.
    static let frame = FuzzTarget(
        name: "frame", summary: "a session frame's plaintext (Frame.decode, both variants)",
        run: { bytes in
            let plain: Frame
            do { plain = try Frame.decode(bytes) } catch {
                var copy = bytes
                let consumed = Result { () throws(BinaryDecodingError) in try Frame.decode(consuming: &copy) }
                precondition((try? consumed.get()) == nil, "decode(consuming:) accepted what decode refused")
                return .of(error)
            }
            var copy = bytes
            precondition((try? Frame.decode(consuming: &copy)) == plain, "the two decoders disagree")
            precondition((try? Frame.decode(plain.encoded())) == plain, "an accepted frame does not survive encode/decode")
            return .accepted
        },
        seeds: {
            [FuzzSeed("ping", Frame.ping(nonce: 0x0102_0304_0506_0708).encoded()),
             FuzzSeed("pong", Frame.pong(nonce: 42).encoded()),
             FuzzSeed("goodbye", Frame.goodbye(.coolDown, message: "cooling down for 60 s").encoded()),
             FuzzSeed("error", Frame.error(.frameTooLarge, message: "frame of 70000000 bytes").encoded()),
             FuzzSeed("update", Frame.modelUpdate(Array(modelUpdateEnvelope().prefix(64))).encoded())]
        })

    /// `SessionRecordDecoder` over a byte stream that arrives in chunks. The first byte picks the role (bit 0)
    /// and the chunk size (1, 17, 33, ... 2033 bytes from the other seven bits), so the fuzzer also explores
    /// messages split across reads without feeding long inputs byte by byte.
    static let sessionRecords = FuzzTarget(
        name: "session-records", summary: "the inbound TCP stream cut into handshake messages, header and records (SessionRecordDecoder)",
        run: { bytes in
            guard let control = bytes.first else { return .refused("empty input") }
            let role: SessionRecordDecoder.Role = control & 1 == 0 ? .responder : .initiator
            let chunk = Int(control >> 1) * 16 + 1
            // A 64 KiB frame limit instead of 64 MiB: the same checks, and a hostile length cannot make the
            // fuzzer reserve 64 MiB on every input.
            var decoder = SessionRecordDecoder(role: role, maximumFrameBytes: 64 * 1024)
            var buffer = ByteBufferAllocator().buffer(capacity: 0)
            var units = 0
            var start = 1
            do {
                while start < bytes.count {
                    let end = min(bytes.count, start + chunk)
                    // Through a raw buffer: NIO's generic writeBytes(Collection) goes byte by byte in a debug build.
                    bytes.withUnsafeBytes { raw in _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[start..<end])) }
                    start = end
                    while let unit = try decoder.decode(buffer: &buffer) {
                        units += 1
                        if case let .record(record) = unit { precondition(record.readableBytes <= decoder.maximumRecordBytes) }
                    }
                }
                while let _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true) { units += 1 }
            } catch {
                return .of(error)
            }
            return units > 0 ? .accepted : .refused("no complete unit")
        },
        seeds: {
            let (hello, response, finish) = handshakeMessages()
            let header = [UInt8](repeating: 7, count: SecretStream.headerByteCount)
            func record(_ size: Int) -> [UInt8] {
                let length = UInt32(size)
                return [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
                    + [UInt8](repeating: 0xA5, count: size)
            }
            let records = record(SecretStream.overhead + 9) + record(SecretStream.overhead + 40)
            let notice = WireProtocol.magic + [2, 0]
            return [FuzzSeed("responder", [0x1E] + hello + finish + header + records),
                    FuzzSeed("initiator", [0x1F] + response + header + records),
                    FuzzSeed("initiator-bytewise", [0x01] + response + header + record(SecretStream.overhead)),
                    FuzzSeed("version-notice", [0x03] + notice + [1, 2, 3])]
        })

    /// A responder with fixed keys fed the input as the peer's hello (the first `helloByteCount` bytes) and,
    /// when the hello is answered, the rest as its finish.
    static let handshakeResponder = FuzzTarget(
        name: "handshake-responder", summary: "a listening node's handshake fed the peer's hello and finish (HandshakeResponder)",
        run: { bytes in
            var responder = HandshakeResponder(configuration: configuration(Fixtures.responder), ephemeral: Fixtures.ephemeral(0x22))
            let helloEnd = min(bytes.count, HandshakeLayout.helloByteCount)
            switch responder.receiveHello(Array(bytes[..<helloEnd])) {
            case let .failed(failure, _): return .refused(failure.description)
            case .established: preconditionFailure("a session after the hello alone")
            case .send:
                switch responder.receiveFinish(Array(bytes[helloEnd...])) {
                case let .failed(failure, _): return .refused(failure.description)
                case .send: preconditionFailure("a third message asked of the responder")
                case let .established(session, _):
                    precondition(session.peer.id == Fixtures.initiator.id, "a session with a peer no seed made")
                    return .accepted
                }
            }
        },
        seeds: {
            let (hello, _, finish) = handshakeMessages()
            return [FuzzSeed("hello-finish", hello + finish)]
        })

    /// An initiator with fixed keys, after its hello, fed the input as the responder's answer.
    static let handshakeInitiator = FuzzTarget(
        name: "handshake-initiator", summary: "a dialling node's handshake fed the peer's response (HandshakeInitiator)",
        run: { bytes in
            var initiator = HandshakeInitiator(configuration: configuration(Fixtures.initiator), expectedPeer: Fixtures.responder.id,
                                               ephemeral: Fixtures.ephemeral(0x11))
            _ = initiator.start()
            switch initiator.receiveResponse(bytes) {
            case let .failed(failure, _): return .refused(failure.description)
            case .send: preconditionFailure("the initiator asked for a fourth message")
            case let .established(session, finish):
                precondition(session.peer.id == Fixtures.responder.id && finish.count == HandshakeLayout.finishByteCount)
                return .accepted
            }
        },
        seeds: {
            let (_, response, _) = handshakeMessages()
            return [FuzzSeed("response", response)]
        })

    /// `SignedModelUpdate.verify`. The first byte picks a mode: bit 0 clear verifies the rest as received
    /// (the signature stops nearly every mutation at the header); bit 0 set first signs the header again as
    /// the fixed author, with the parameters' true digest, so the checks after the signature (clock skew,
    /// architecture, class list, size, digest, finiteness) see mutated input too. Bit 1 makes the author unknown.
    static let modelUpdate = FuzzTarget(
        name: "model-update", summary: "a signed model update envelope (SignedModelUpdate.verify), optionally re-signed",
        run: { bytes in
            guard let control = bytes.first else { return .refused("empty input") }
            var envelope = Array(bytes.dropFirst())
            if control & 1 == 1 { resign(&envelope) }
            let limits = UpdateLimits(maximumParameters: 1 << 16, expectedArchitecture: "leuknet-s", expectedClasses: ["hem", "all"])
            let standing: AuthorStanding = control & 2 == 0 ? .known : .unknown
            switch SignedModelUpdate.verify(envelope, limits: limits, now: Fixtures.now, standing: { _ in standing }) {
            case let .failure(rejection): return .refused(rejection.description)
            case let .success(update):
                precondition(update.envelopeBytes() == envelope, "an accepted update is not re-encoded byte for byte")
                precondition(update.parameters.allSatisfy(\.isFinite))
                return .accepted
            }
        },
        seeds: {
            [FuzzSeed("update", [0] + modelUpdateEnvelope()),
             FuzzSeed("update-resigned", [1] + modelUpdateEnvelope()),
             FuzzSeed("update-bare", [0] + modelUpdateEnvelope(parents: 0, parameters: 0, sensitivity: nil))]
        })

    // MARK: - Helpers

    static func configuration(_ identity: NodeIdentity) -> HandshakeConfiguration {
        HandshakeConfiguration(identity: identity, networkKey: Fixtures.networkKey, admits: { _ in true })
    }

    /// A whole handshake between the fixed initiator and responder, run by the real state machines.
    static func handshakeMessages() -> (hello: [UInt8], response: [UInt8], finish: [UInt8]) {
        var initiator = HandshakeInitiator(configuration: configuration(Fixtures.initiator), expectedPeer: Fixtures.responder.id,
                                           ephemeral: Fixtures.ephemeral(0x11))
        var responder = HandshakeResponder(configuration: configuration(Fixtures.responder), ephemeral: Fixtures.ephemeral(0x22))
        let hello = initiator.start()
        guard case let .send(response) = responder.receiveHello(hello),
              case let .established(_, finish) = initiator.receiveResponse(response) else {
            preconditionFailure("the fixed handshake does not complete")
        }
        return (hello, response, finish)
    }

    static func modelUpdateEnvelope(parents: Int = 2, parameters: Int = 6, sensitivity: Double? = 0.9) -> [UInt8] {
        let metadata = ModelUpdateMetadata(
            version: 3, timestamp: Fixtures.now, sampleCount: 120, round: 7, degree: 3,
            metrics: ValidationMetrics(accuracy: 0.8, loss: 0.4, sensitivity: sensitivity, specificity: 0.7),
            architecture: "leuknet-s", parents: (0..<parents).map { [UInt8](repeating: UInt8($0), count: 32) },
            neighborhoodSamples: 300, classCounts: [20, 100])
        return SignedModelUpdate.seal(metadata, parameters: (0..<parameters).map { Float($0) * 0.25 - 0.5 }, author: Fixtures.author.signing)
    }

    /// Makes the envelope's header name the fixed author, carry the digest of the bytes after the signature,
    /// and bear that author's valid signature, wherever the envelope is long enough to hold those fields.
    static func resign(_ envelope: inout [UInt8]) {
        guard envelope.count >= 4 else { return }
        let headerLength = Int(envelope[0]) | Int(envelope[1]) << 8 | Int(envelope[2]) << 16 | Int(envelope[3]) << 24
        let signatureEnd = 4 + headerLength + Signature.byteCount
        guard headerLength >= 2 + 32 + 32, headerLength <= 16 * 1024, envelope.count >= signatureEnd else { return }
        envelope.replaceSubrange(6..<38, with: Fixtures.author.signing.publicKey.bytes)
        let parameterBytes = envelope[signatureEnd...]
        if parameterBytes.count % 4 == 0 {
            let digest = parameterBytes.withUnsafeBytes { SHA256Hasher.hash($0) }
            envelope.replaceSubrange(4 + headerLength - 32..<4 + headerLength, with: digest)
        }
        let signature = Fixtures.author.signing.sign(Array(envelope[4..<4 + headerLength]), context: .modelUpdate)
        envelope.replaceSubrange(4 + headerLength..<signatureEnd, with: signature)
    }
}

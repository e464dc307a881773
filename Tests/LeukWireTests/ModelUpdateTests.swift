import LeukCore
import LeukCrypto
@testable import LeukWire
import LeukGossip
import Testing

@Suite struct ModelUpdateTests {
    let author = Fixtures.alice.signing
    var envelope: [UInt8] { SignedModelUpdate.seal(Fixtures.metadata, parameters: Fixtures.parameters, author: author) }

    func verify(_ bytes: [UInt8], known: Bool = true, limits: UpdateLimits = UpdateLimits()) -> Result<ModelUpdate, UpdateRejection> {
        SignedModelUpdate.verify(bytes, limits: limits, now: Fixtures.now) { _ in known ? .known : .unknown }
    }

    func rejection(_ result: Result<ModelUpdate, UpdateRejection>) -> UpdateRejection? {
        if case let .failure(r) = result { return r }
        return nil
    }

    @Test func roundTripKeepsEveryField() throws {
        let update = try verify(envelope).get()
        #expect(update.author == Fixtures.alice.id)
        #expect(update.metadata == Fixtures.metadata)
        #expect(update.parameters == Fixtures.parameters)
        #expect(update.parameterDigest == SHA256Hasher.hash(Fixtures.parameters.withUnsafeBytes { Array($0) }))
        #expect(update.envelopeBytes() == envelope)
    }

    @Test func freshnessIsNotTheWiresToJudge() {
        // The same envelope verifies every time: the gossip core alone refuses replays, so there is
        // one replay check and one count of it.
        #expect(rejection(verify(envelope)) == nil)
        #expect(rejection(verify(envelope)) == nil)
    }

    @Test func unknownAuthorIsRejected() {
        #expect(rejection(verify(envelope, known: false)) == .unknownAuthor(Fixtures.alice.id))
    }

    @Test func wrongContextSignatureIsRejected() {
        // Re-sign the same header under every other context: none may pass as a model update.
        var bytes = envelope
        let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
        let header = Array(bytes[4..<4 + headerLength])
        for context in SigningContext.allCases where context != .modelUpdate {
            bytes.replaceSubrange(4 + headerLength..<4 + headerLength + 64, with: author.sign(header, context: context))
            #expect(rejection(verify(bytes)) == .badSignature)
        }
    }

    @Test func tamperedHeaderOrForeignSignerIsRejected() {
        var bytes = envelope
        bytes[4 + 2 + 32] ^= 1  // version's low byte
        #expect(rejection(verify(bytes)) == .badSignature)
        let forged = SignedModelUpdate.seal(Fixtures.metadata, parameters: Fixtures.parameters, author: Fixtures.mallory.signing)
        var impersonation = forged
        impersonation.replaceSubrange(6..<38, with: Fixtures.alice.id.bytes)  // claim Alice wrote it
        #expect(rejection(verify(impersonation)) == .badSignature)
    }

    @Test func tamperedParametersFailTheDigest() {
        var bytes = envelope
        bytes[bytes.count - 3] ^= 0x10
        #expect(rejection(verify(bytes)) == .digestMismatch)
    }

    @Test func nonFiniteParametersAreRejectedEvenWhenSigned() {
        var params = Fixtures.parameters
        params[5] = .nan
        let nanEnvelope = SignedModelUpdate.seal(Fixtures.metadata, parameters: params, author: author)
        #expect(rejection(verify(nanEnvelope)) == .nonFinite(index: 5))
        params[5] = -.infinity
        #expect(rejection(verify(SignedModelUpdate.seal(Fixtures.metadata, parameters: params, author: author))) == .nonFinite(index: 5))
    }

    @Test func sizesAreBoundedBeforeAllocation() {
        var limits = UpdateLimits()
        limits.maximumParameters = 8
        #expect(rejection(verify(envelope, limits: limits)) == .tooLarge(field: "header.parameter_count", size: 16, limit: 8))
        // A header length of 4 GiB is refused from the first four bytes.
        #expect(rejection(verify([0xFF, 0xFF, 0xFF, 0xFF] + [UInt8](repeating: 0, count: 100)))
                == .tooLarge(field: "envelope.header", size: Int(UInt32.max), limit: UpdateLimits().maximumHeaderBytes))
        // A truncated parameter block is malformed, not a crash.
        let cut = Array(envelope.dropLast(4))
        guard case .malformed(field: "envelope.parameters", _) = rejection(verify(cut)) else { Issue.record("truncation accepted"); return }
    }

    @Test func futureTimestampIsRejected() {
        var metadata = Fixtures.metadata
        metadata.timestamp = Fixtures.now.adding(.seconds(3600))
        let bytes = SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)
        guard case .timestampInFuture = rejection(verify(bytes)) else { Issue.record("future update accepted"); return }
    }

    @Test func randomBytesNeverCrashTheVerifier() {
        var rng = SeededGenerator(seed: 42)
        for length in [0, 3, 4, 50, 200, 600] {
            for _ in 0..<50 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                #expect(rejection(verify(bytes)) != nil)
            }
        }
        // Every truncation of a valid envelope is refused with a reason.
        let valid = envelope
        for cut in stride(from: 0, to: valid.count, by: 7) {
            #expect(rejection(verify(Array(valid.prefix(cut)))) != nil)
        }
    }

    @Test func fixedOverheadMatchesTheEncoding() {
        // The fixture has a sensitivity (8 bytes), a 10-byte architecture name, two parents and the
        // class list hem,all (each name a 4-byte length and its bytes) with a count for each (8 bytes).
        let variable = 8 + "leukcnn-v1".utf8.count + 2 * 32 + (4 + 3) + (4 + 3) + 2 * 8
        #expect(envelope.count - Fixtures.parameters.count * 4 - variable == SignedModelUpdate.fixedOverheadBytes)
    }

    @Test func classCountsTravelSignedAndMustFitTheClassesAndTheSampleCount() throws {
        var metadata = Fixtures.metadata
        metadata.classCounts = []
        // None reported (a node that does not share them) is allowed.
        #expect(try verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)).get().metadata.classCounts == [])
        // A count per class adding up to at most the sample count is kept as signed.
        metadata.classCounts = [0, 1234]
        #expect(try verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)).get().metadata.classCounts == [0, 1234])
        // More images of each class than the update says it trained on: refused with the field named.
        metadata.classCounts = [1000, 1000]
        #expect(rejection(verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)))
                == .malformed(field: "header.class_counts", why: "the class counts add up to more than the 1234 samples the update reports"))
        // A forged count near 2^64 must not wrap the sum into something small.
        metadata.classCounts = [UInt64.max, 2]
        #expect(rejection(verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)))
                == .malformed(field: "header.class_counts", why: "the class counts add up to more than the 1234 samples the update reports"))
        // One count for two classes: the encoder never writes it, so forge the header and sign it.
        metadata.classCounts = []
        var header = SignedModelUpdate.encodeHeader(author: Fixtures.alice.id, metadata: metadata, parameterCount: Fixtures.parameters.count,
                                                    digest: SignedModelUpdate.parameterDigest(Fixtures.parameters))
        let countsAt = header.count - 2 - 2 * 32 - 4 - 32 - 1
        #expect(header[countsAt] == 0)
        header[countsAt] = 1
        header.insert(contentsOf: [UInt8](repeating: 0, count: 8), at: countsAt + 1)
        let forged = SignedModelUpdate.assemble(header: header, signature: author.sign(header, context: .modelUpdate), parameters: Fixtures.parameters)
        #expect(rejection(verify(forged)) == .malformed(field: "header.class_counts", why: "1 counts for 2 classes (one per class, or none)"))
    }

    @Test func rejectionCodesAreDistinct() {
        let all: [UpdateRejection] = [.malformed(field: "f", why: "w"), .tooLarge(field: "f", size: 2, limit: 1), .unknownAuthor(Fixtures.alice.id),
                                      .badSignature, .timestampInFuture(seconds: 1), .digestMismatch, .nonFinite(index: 0),
                                      .wrongModel(field: "classes", expected: "hem,all", got: "all,hem")]
        #expect(Set(all.map(\.reason)).count == all.count)
        #expect(all.filter { $0.reason.penalty == .invalid }.count == 6)
    }

    @Test func classListTravelsSigned() throws {
        var metadata = Fixtures.metadata
        metadata.classes = ["hem", "all", "aml"]
        metadata.classCounts = [234, 1000, 0]
        let update = try verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author)).get()
        #expect(update.metadata.classes == ["hem", "all", "aml"])
    }

    @Test func anotherArchitectureOrClassListIsRefusedWithAReason() {
        let limits = UpdateLimits(expectedArchitecture: "leukcnn-v1", expectedClasses: ["hem", "all"])
        #expect(rejection(verify(envelope, limits: limits)) == nil)

        var otherClasses = Fixtures.metadata
        otherClasses.classes = ["all", "hem"]
        let reordered = rejection(verify(SignedModelUpdate.seal(otherClasses, parameters: Fixtures.parameters, author: author), limits: limits))
        #expect(reordered == .wrongModel(field: "classes", expected: "hem,all", got: "all,hem"))
        #expect(reordered?.reason == .wrongModel)
        #expect(reordered?.description.contains("all,hem") == true)

        var otherArchitecture = Fixtures.metadata
        otherArchitecture.architecture = "leuknet-m"
        let refused = rejection(verify(SignedModelUpdate.seal(otherArchitecture, parameters: Fixtures.parameters, author: author), limits: limits))
        #expect(refused == .wrongModel(field: "architecture", expected: "leukcnn-v1", got: "leuknet-m"))

        // Without expectations (an inspecting tool) both verify.
        #expect(rejection(verify(SignedModelUpdate.seal(otherArchitecture, parameters: Fixtures.parameters, author: author))) == nil)
    }

    @Test func aForgedClassListFailsTheSignatureNotTheModelCheck() {
        // The model check runs after the signature, so an unsigned relabelling is reported as forged.
        var bytes = envelope
        let hem = Array("hem".utf8)
        let at = (0..<bytes.count - 3).first { Array(bytes[$0..<$0 + 3]) == hem }!
        bytes[at] = UInt8(ascii: "x")
        let limits = UpdateLimits(expectedArchitecture: "leukcnn-v1", expectedClasses: ["hem", "all"])
        #expect(rejection(verify(bytes, limits: limits)) == .badSignature)
    }

    @Test func tooManyClassesAreRefusedBeforeAllocation() {
        var metadata = Fixtures.metadata
        metadata.classes = (0..<10).map { "c\($0)" }
        metadata.classCounts = []
        let limits = UpdateLimits(maximumClasses: 4)
        #expect(rejection(verify(SignedModelUpdate.seal(metadata, parameters: Fixtures.parameters, author: author), limits: limits))
                == .tooLarge(field: "header.classes", size: 10, limit: 4))
    }
}

@Suite struct FrameTests {
    @Test func framesRoundTrip() throws {
        let frames: [Frame] = [.ping(nonce: 42), .pong(nonce: .max), .goodbye(.removedByOperator, message: "bye"),
                               .error(.frameTooLarge, message: "too big"), .modelUpdate([1, 2, 3])]
        for frame in frames { #expect(try Frame.decode(frame.encoded()) == frame) }
    }

    @Test func consumingDecodeMatchesCopyingDecode() throws {
        for frame in [Frame.modelUpdate([1, 2, 3]), .modelUpdate([]), .ping(nonce: 3), .goodbye(.coolDown, message: "later")] {
            var bytes = frame.encoded()
            #expect(try Frame.decode(consuming: &bytes) == frame)
        }
        var bad: [UInt8] = [42]
        #expect(throws: BinaryDecodingError.self) { try Frame.decode(consuming: &bad) }
    }

    @Test func badFramesNameTheirField() {
        #expect(throws: BinaryDecodingError.self) { try Frame.decode([]) }
        #expect(throws: BinaryDecodingError(field: "frame.type", reason: .invalid("unknown frame type 99"))) { try Frame.decode([99]) }
        #expect(throws: BinaryDecodingError.self) { try Frame.decode([2, 1, 2]) }
        #expect(throws: BinaryDecodingError(field: "frame", reason: .trailingBytes(1))) { try Frame.decode([2, 0, 0, 0, 0, 0, 0, 0, 0, 9]) }
        #expect(throws: BinaryDecodingError.self) { try Frame.decode([4, 1, 0xFF, 0xFF, 0xFF, 0xFF]) }
    }

    @Test func longMessagesAreCutAtACharacterBoundary() throws {
        let frame = Frame.goodbye(.other, message: String(repeating: "é", count: 2000))
        guard case let .goodbye(_, message) = try Frame.decode(frame.encoded()) else { Issue.record("not a goodbye"); return }
        #expect(message.utf8.count == Frame.maximumMessageBytes)
    }
}

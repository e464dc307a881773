public import LeukCore
public import LeukCrypto
public import LeukGossip

/// Local validation metrics an author reports with its update. Informational: receivers use them to
/// show and weigh contributions, never to decide what the bytes mean.
public struct ValidationMetrics: Sendable, Equatable, Hashable {
    public var accuracy: Double
    public var loss: Double
    public var sensitivity: Double?
    public var specificity: Double?

    public init(accuracy: Double, loss: Double, sensitivity: Double? = nil, specificity: Double? = nil) {
        self.accuracy = accuracy
        self.loss = loss
        self.sensitivity = sensitivity
        self.specificity = specificity
    }
}

/// What an author says about its update, besides the parameters themselves.
public struct ModelUpdateMetadata: Sendable, Equatable, Hashable {
    /// Per-author version; receivers refuse anything not greater than what they hold.
    public var version: UInt64
    public var timestamp: Timestamp
    /// Training samples behind this model: the averaging weight.
    public var sampleCount: UInt64
    /// The author's gossip round when it published: for logs and lineage.
    public var round: UInt64
    /// How many neighbours the author has: both ends of an edge need each other's degree to compute
    /// the same Metropolis-Hastings mixing weight (see "Gossip averaging" in network/PROTOCOL.md).
    public var degree: UInt32
    /// The author's samples plus its mixed neighbours' (0 = not reported, format 1): the other half of
    /// the neighbourhood-sum mixing weight (see "Gossip averaging" in network/PROTOCOL.md).
    public var neighborhoodSamples: UInt64
    public var metrics: ValidationMetrics
    /// Names the network layout, so a receiver never mixes parameters of different models.
    public var architecture: String
    /// SHA-256 digests of the models this one was averaged from: the lineage.
    public var parents: [[UInt8]]
    /// The federation's class list in output order: parameter `k` of the last layer means class
    /// `classes[k]`, so two models with the same architecture but another list (or order) must not
    /// be averaged. Signed, so a relay cannot relabel a model.
    public var classes: [String]
    /// The author's training images per class, in `classes` order (empty = not reported, formats 1 and 2).
    /// Receivers add them up over their neighbourhood to weight their own loss by the federation's class
    /// mix, which a site holding one class cannot know alone (network/PROTOCOL.md, "Class counts").
    /// They say how many images of each class a site trains on, nothing about the images themselves.
    public var classCounts: [UInt64]

    public init(version: UInt64, timestamp: Timestamp, sampleCount: UInt64, round: UInt64, degree: UInt32,
                metrics: ValidationMetrics, architecture: String, parents: [[UInt8]], classes: [String] = ["hem", "all"],
                neighborhoodSamples: UInt64 = 0, classCounts: [UInt64] = []) {
        self.classes = classes
        self.classCounts = classCounts
        self.neighborhoodSamples = neighborhoodSamples
        self.version = version
        self.timestamp = timestamp
        self.sampleCount = sampleCount
        self.round = round
        self.degree = degree
        self.metrics = metrics
        self.architecture = architecture
        self.parents = parents
    }
}

/// A model update whose signature, digest, bounds and freshness have all been checked.
public struct ModelUpdate: Sendable, Equatable {
    public let author: NodeID
    public let metadata: ModelUpdateMetadata
    /// SHA-256 of the parameters' little-endian float32 bytes; the model's name in lineage records.
    public let parameterDigest: [UInt8]
    public let parameters: [Float]
    /// The author's Ed25519 signature over the header, kept so the update can be stored and relayed
    /// with its proof.
    public let signature: [UInt8]

    /// The header exactly as the author signed it. Kept rather than encoded again: a format-1 header
    /// (no class list) would come back as format 2, under a signature that no longer matches (caught by
    /// the fuzz target's round-trip check; Tests/FuzzCorpus/model-update/regressions/format-1-header).
    let signedHeader: [UInt8]

    /// The signed envelope again, byte for byte as the author sealed it: what a node stores, and what it
    /// relays without being able to alter it.
    public func envelopeBytes() -> [UInt8] {
        SignedModelUpdate.assemble(header: signedHeader, signature: signature, parameters: parameters)
    }
}

/// Bounds a receiver enforces before it allocates anything a peer asked for.
public struct UpdateLimits: Sendable, Equatable {
    public var maximumParameters: Int
    public var maximumParents: Int
    public var maximumHeaderBytes: Int
    public var maximumArchitectureBytes: Int
    public var maximumClasses: Int
    public var maximumClassNameBytes: Int
    /// The architecture this node runs; an update naming another is refused (`wrong_model`).
    /// `nil` accepts any (tools that only inspect updates).
    public var expectedArchitecture: String?
    /// The federation's class list; an update naming another list or order is refused (`wrong_model`).
    public var expectedClasses: [String]?
    /// How far in the future an update's timestamp may lie (clock skew between institutions).
    public var maximumClockSkew: Duration

    public init(maximumParameters: Int = WireProtocol.defaultMaximumFrameBytes / 4 - 1024, maximumParents: Int = 256,
                maximumHeaderBytes: Int = 16 * 1024, maximumArchitectureBytes: Int = 128,
                maximumClockSkew: Duration = .seconds(600), maximumClasses: Int = 64, maximumClassNameBytes: Int = 64,
                expectedArchitecture: String? = nil, expectedClasses: [String]? = nil) {
        self.maximumClasses = maximumClasses
        self.maximumClassNameBytes = maximumClassNameBytes
        self.expectedArchitecture = expectedArchitecture
        self.expectedClasses = expectedClasses
        self.maximumParameters = maximumParameters
        self.maximumParents = maximumParents
        self.maximumHeaderBytes = maximumHeaderBytes
        self.maximumArchitectureBytes = maximumArchitectureBytes
        self.maximumClockSkew = maximumClockSkew
    }
}

/// What a receiver knows of an update's author when it checks the update. Freshness (replays) is
/// not the wire's business: the gossip core alone decides which versions it holds.
public enum AuthorStanding: Sendable, Equatable {
    /// Not admitted, not ourselves: the update is refused whatever it says.
    case unknown
    /// Admitted (or ourselves).
    case known
}

/// Why a received update was refused. `reason` maps it onto the gossip core's vocabulary, whose
/// penalty separates forged or broken messages from merely late ones, which the gossip
/// core penalises far less (gossipsub v1.1's distinction).
public enum UpdateRejection: LeukUserFacingError, Hashable {
    case malformed(field: String, why: String)
    case tooLarge(field: String, size: Int, limit: Int)
    case unknownAuthor(NodeID)
    case badSignature
    case timestampInFuture(seconds: Double)
    case digestMismatch
    case nonFinite(index: Int)
    /// A valid, signed update of another model: another architecture or another class list. Never
    /// mixed, because its parameters mean something else.
    case wrongModel(field: String, expected: String, got: String)

    /// The node's one rejection vocabulary (the keys of `rejected` in `leuknode status --json`);
    /// this is the only place a wire refusal is translated into it.
    public var reason: RejectionReason {
        switch self {
        case .malformed: return .malformed
        case .tooLarge: return .oversize
        case .unknownAuthor: return .unknownAuthor
        case .badSignature: return .badSignature
        case .timestampInFuture: return .timestampInFuture
        case .digestMismatch: return .badDigest
        case .nonFinite: return .nonFinite
        case .wrongModel: return .wrongModel
        }
    }

    public var description: String {
        switch self {
        case let .malformed(field, why): return "model update field '\(field)' is malformed: \(why)"
        case let .tooLarge(field, size, limit): return "model update field '\(field)' claims \(size), above the limit of \(limit)"
        case let .unknownAuthor(id): return "model update authored by \(id.short), who is not admitted"
        case .badSignature: return "model update signature does not verify under '\(SigningContext.modelUpdate.rawValue)'"
        case let .timestampInFuture(seconds): return "model update timestamp lies \(Int(seconds)) s in the future"
        case .digestMismatch: return "model update parameters do not match their signed SHA-256 digest"
        case let .nonFinite(index): return "model update parameter \(index) is NaN or infinite"
        case let .wrongModel(field, expected, got):
            return "model update is for another model: its \(field) is '\(got)', this federation uses '\(expected)'"
        }
    }

    public var hint: String? {
        switch self {
        case .wrongModel: return "every node of a federation needs the same architecture and class list (config.json \"classes\")"
        default: return nil
        }
    }
}

/// The signed envelope of a model update: `headerLength(u32) || header || signature(64) || parameters`.
/// The signature covers the header, and the header carries the parameters' SHA-256, so one Ed25519
/// check and one hash authenticate everything without parsing the tensor first.
public enum SignedModelUpdate {
    /// 2 added the class list after the architecture, 3 the author's per-class image counts after the
    /// list. Version 1 headers (no list) are still read, as the list every version-1 node used: `hem,all`;
    /// version 1 and 2 headers report no counts.
    static let formatVersion: UInt16 = 3
    /// The envelope's bytes beyond the header's variable fields and the parameters, for overhead figures.
    public static let fixedOverheadBytes = 4 + 2 + 32 + 8 * 6 + 4 + 8 + 1 + 4 + 1 + 1 + 2 + 4 + 32 + Signature.byteCount

    /// SHA-256 of the parameters' little-endian float32 bytes.
    public static func parameterDigest(_ parameters: [Float]) -> [UInt8] {
        #if _endian(little)
        return parameters.withUnsafeBytes { SHA256Hasher.hash($0) }
        #else
        var hasher = SHA256Hasher()
        for p in parameters { withUnsafeBytes(of: p.bitPattern.littleEndian) { hasher.update($0) } }
        return hasher.finalize()
        #endif
    }

    static func encodeHeader(author: NodeID, metadata m: ModelUpdateMetadata, parameterCount: Int, digest: [UInt8]) -> [UInt8] {
        var w = BinaryWriter(capacity: 160 + m.architecture.utf8.count + m.classes.reduce(0) { $0 + 4 + $1.utf8.count } + 32 * m.parents.count)
        w.write(formatVersion)
        w.writeFixed(author.bytes)
        w.write(m.version)
        w.write(m.timestamp.nanosecondsSinceEpoch)
        w.write(m.sampleCount)
        w.write(m.round)
        w.write(m.degree)
        w.write(m.neighborhoodSamples)
        w.write(m.metrics.accuracy)
        w.write(m.metrics.loss)
        w.write(UInt8((m.metrics.sensitivity == nil ? 0 : 1) | (m.metrics.specificity == nil ? 0 : 2)))
        if let s = m.metrics.sensitivity { w.write(s) }
        if let s = m.metrics.specificity { w.write(s) }
        w.writeString(m.architecture)
        w.write(UInt8(m.classes.count))
        for name in m.classes { w.writeString(name) }
        w.write(UInt8(m.classCounts.count))
        for count in m.classCounts { w.write(count) }
        w.write(UInt16(m.parents.count))
        for parent in m.parents { w.writeFixed(parent) }
        w.write(UInt32(parameterCount))
        w.writeFixed(digest)
        return w.bytes
    }

    /// Builds and signs an envelope as `author`. Parents must be 32-byte digests.
    public static func seal(_ metadata: ModelUpdateMetadata, parameters: [Float], author: SigningKeyPair) -> [UInt8] {
        precondition(metadata.parents.allSatisfy { $0.count == 32 }, "parent digests are SHA-256 (32 bytes)")
        precondition(metadata.parents.count <= Int(UInt16.max), "too many parents")
        precondition(metadata.classes.count <= Int(UInt8.max), "too many classes")
        precondition(metadata.classCounts.isEmpty || metadata.classCounts.count == metadata.classes.count,
                     "class counts are one per class or none")
        let digest = parameterDigest(parameters)
        let header = encodeHeader(author: author.publicKey.nodeID, metadata: metadata, parameterCount: parameters.count, digest: digest)
        let signature = author.sign(header, context: .modelUpdate)
        return assemble(header: header, signature: signature, parameters: parameters)
    }

    static func assemble(header: [UInt8], signature: [UInt8], parameters: [Float]) -> [UInt8] {
        var w = BinaryWriter(capacity: 4 + header.count + 64 + parameters.count * 4)
        w.write(UInt32(header.count))
        w.writeFixed(header)
        w.writeFixed(signature)
        #if _endian(little)
        parameters.withUnsafeBytes { w.writeFixed($0) }
        #else
        for p in parameters { w.write(p) }
        #endif
        return w.bytes
    }

    struct Header {
        var author: NodeID
        var metadata: ModelUpdateMetadata
        var parameterCount: Int
        var digest: [UInt8]
    }

    static func decodeHeader(_ bytes: [UInt8], limits: UpdateLimits) throws(UpdateRejection) -> Header {
        var r = BinaryReader(bytes)
        do {
            let format = try r.readUInt16("header.format")
            guard (1...formatVersion).contains(format) else { throw UpdateRejection.malformed(field: "header.format", why: "unknown envelope format \(format)") }
            let author = NodeID(bytes: try r.readFixed(32, "header.author"))!
            let version = try r.readUInt64("header.version")
            let timestamp = Timestamp(nanosecondsSinceEpoch: try r.readUInt64("header.timestamp"))
            let sampleCount = try r.readUInt64("header.sample_count")
            let round = try r.readUInt64("header.round")
            let degree = try r.readUInt32("header.degree")
            guard degree <= 1 << 16 else { throw UpdateRejection.malformed(field: "header.degree", why: "\(degree) neighbours is implausible") }
            let neighborhoodSamples = format >= 2 ? try r.readUInt64("header.neighborhood_samples") : 0
            let accuracy = try r.readDouble("header.metrics.accuracy")
            let loss = try r.readDouble("header.metrics.loss")
            let mask = try r.readUInt8("header.metrics.mask")
            guard mask & ~3 == 0 else { throw UpdateRejection.malformed(field: "header.metrics.mask", why: "unknown bits \(mask)") }
            let sensitivity = mask & 1 != 0 ? try r.readDouble("header.metrics.sensitivity") : nil
            let specificity = mask & 2 != 0 ? try r.readDouble("header.metrics.specificity") : nil
            for (name, value) in [("accuracy", accuracy), ("loss", loss), ("sensitivity", sensitivity ?? 0), ("specificity", specificity ?? 0)]
            where !value.isFinite {
                throw UpdateRejection.malformed(field: "header.metrics.\(name)", why: "not a finite number")
            }
            let architecture = try r.readString("header.architecture", limit: limits.maximumArchitectureBytes)
            var classes = ["hem", "all"]
            if format >= 2 {
                let classCount = Int(try r.readUInt8("header.classes.count"))
                guard classCount <= limits.maximumClasses else {
                    throw UpdateRejection.tooLarge(field: "header.classes", size: classCount, limit: limits.maximumClasses)
                }
                classes = []
                for i in 0..<classCount { classes.append(try r.readString("header.classes[\(i)]", limit: limits.maximumClassNameBytes)) }
            }
            var classCounts: [UInt64] = []
            if format >= 3 {
                let countCount = Int(try r.readUInt8("header.class_counts.count"))
                guard countCount == 0 || countCount == classes.count else {
                    throw UpdateRejection.malformed(field: "header.class_counts",
                                                    why: "\(countCount) counts for \(classes.count) classes (one per class, or none)")
                }
                for i in 0..<countCount { classCounts.append(try r.readUInt64("header.class_counts[\(i)]")) }
                // Checked without overflow: a forged count near 2^64 must not wrap the sum.
                var total: UInt64 = 0
                for count in classCounts {
                    let (sum, overflow) = total.addingReportingOverflow(count)
                    guard !overflow, sum <= sampleCount else {
                        throw UpdateRejection.malformed(field: "header.class_counts",
                                                        why: "the class counts add up to more than the \(sampleCount) samples the update reports")
                    }
                    total = sum
                }
            }
            let parentCount = Int(try r.readUInt16("header.parents.count"))
            guard parentCount <= limits.maximumParents else {
                throw UpdateRejection.tooLarge(field: "header.parents", size: parentCount, limit: limits.maximumParents)
            }
            var parents: [[UInt8]] = []
            parents.reserveCapacity(parentCount)
            for i in 0..<parentCount { parents.append(try r.readFixed(32, "header.parents[\(i)]")) }
            let parameterCount = Int(try r.readUInt32("header.parameter_count"))
            guard parameterCount <= limits.maximumParameters else {
                throw UpdateRejection.tooLarge(field: "header.parameter_count", size: parameterCount, limit: limits.maximumParameters)
            }
            let digest = try r.readFixed(32, "header.parameter_digest")
            try r.expectEnd(after: "header.parameter_digest")
            let metadata = ModelUpdateMetadata(version: version, timestamp: timestamp, sampleCount: sampleCount, round: round, degree: degree,
                                               metrics: ValidationMetrics(accuracy: accuracy, loss: loss, sensitivity: sensitivity, specificity: specificity),
                                               architecture: architecture, parents: parents, classes: classes,
                                               neighborhoodSamples: neighborhoodSamples, classCounts: classCounts)
            return Header(author: author, metadata: metadata, parameterCount: parameterCount, digest: digest)
        } catch let error as BinaryDecodingError {
            if case let .tooLarge(length, limit) = error.reason {
                throw .tooLarge(field: error.field, size: length, limit: limit)
            }
            throw .malformed(field: error.field, why: error.description)
        } catch let error as UpdateRejection {
            throw error
        } catch {
            throw .malformed(field: "header", why: "\(error)")
        }
    }

    /// Checks an envelope in the order the security guide asks: bounded header, admitted author,
    /// signature, clock skew, then the parameters' size and digest, and only then the floats (NaN and
    /// infinity refused). Nothing a peer sent is allocated before its size is checked.
    ///
    /// Costs one Ed25519 verification plus one SHA-256 pass and one copy of the parameters: about
    /// milliseconds per megabyte, so network shells call it off the event loop.
    public static func verify(_ envelope: [UInt8], limits: UpdateLimits = UpdateLimits(), now: Timestamp,
                              standing: (NodeID) -> AuthorStanding) -> Result<ModelUpdate, UpdateRejection> {
        guard envelope.count >= 4 else {
            return .failure(.malformed(field: "envelope.header_length", why: "envelope is \(envelope.count) bytes"))
        }
        let headerLength = Int(UInt32(envelope[0]) | UInt32(envelope[1]) << 8 | UInt32(envelope[2]) << 16 | UInt32(envelope[3]) << 24)
        guard headerLength <= limits.maximumHeaderBytes else {
            return .failure(.tooLarge(field: "envelope.header", size: headerLength, limit: limits.maximumHeaderBytes))
        }
        guard envelope.count >= 4 + headerLength + Signature.byteCount else {
            return .failure(.malformed(field: "envelope.header", why: "truncated: \(envelope.count) bytes for a \(headerLength)-byte header"))
        }
        let headerBytes = Array(envelope[4..<4 + headerLength])
        let signature = Array(envelope[4 + headerLength..<4 + headerLength + Signature.byteCount])
        let header: Header
        do { header = try decodeHeader(headerBytes, limits: limits) } catch { return .failure(error) }

        guard standing(header.author) == .known else { return .failure(.unknownAuthor(header.author)) }
        let authorKey = try! SigningPublicKey(bytes: header.author.bytes)
        guard authorKey.isValidSignature(signature, for: headerBytes, context: .modelUpdate) else { return .failure(.badSignature) }
        if header.metadata.timestamp > now.adding(limits.maximumClockSkew) {
            return .failure(.timestampInFuture(seconds: header.metadata.timestamp.secondsSinceEpoch - now.secondsSinceEpoch))
        }
        // After the signature: the author really claims this model, so the reason is worth reporting.
        if let expected = limits.expectedArchitecture, header.metadata.architecture != expected {
            return .failure(.wrongModel(field: "architecture", expected: expected, got: header.metadata.architecture))
        }
        if let expected = limits.expectedClasses, header.metadata.classes != expected {
            return .failure(.wrongModel(field: "classes", expected: expected.joined(separator: ","),
                                        got: header.metadata.classes.joined(separator: ",")))
        }

        let parametersStart = 4 + headerLength + Signature.byteCount
        let parameterBytes = envelope.count - parametersStart
        guard parameterBytes == header.parameterCount * 4 else {
            return .failure(.malformed(field: "envelope.parameters", why: "\(parameterBytes) bytes for \(header.parameterCount) float32 values"))
        }
        let digest = envelope.withUnsafeBytes { SHA256Hasher.hash(UnsafeRawBufferPointer(rebasing: $0[parametersStart...])) }
        guard constantTimeEquals(digest, header.digest) else { return .failure(.digestMismatch) }

        var parameters = [Float](repeating: 0, count: header.parameterCount)
        parameters.withUnsafeMutableBytes { destination in
            envelope.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[parametersStart...]))
            }
        }
        #if _endian(big)
        for i in parameters.indices { parameters[i] = Float(bitPattern: UInt32(littleEndian: parameters[i].bitPattern)) }
        #endif
        if let bad = parameters.firstIndex(where: { !$0.isFinite }) { return .failure(.nonFinite(index: bad)) }
        return .success(ModelUpdate(author: header.author, metadata: header.metadata, parameterDigest: header.digest,
                                    parameters: parameters, signature: signature, signedHeader: headerBytes))
    }
}

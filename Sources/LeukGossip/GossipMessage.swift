public import LeukCore

/// One node's published model state: what it sends to each neighbour on every gossip tick.
///
/// A message is a *state*, not a share of mass (as it would be in push-sum): receiving it twice, or
/// losing it, changes nothing but freshness. That is what makes the averaging tolerant to loss,
/// duplication and reordering, and what lets a receiver refuse replays with one number per author
/// (`version` must grow). The signature, the parameter digest, the lineage and the metrics travel in
/// the envelope that LeukWire builds around this struct; the core only needs the fields below.
public struct GossipMessage: Sendable, Equatable {
    /// The node whose state this is. In this protocol states are never relayed, so the author must be
    /// the peer the message arrived from.
    public var author: NodeID
    /// Grows with every state the author publishes, across restarts (see `GossipInstance.nextVersion`).
    public var version: UInt64
    /// The author's gossip round counter when it published, for logs and lineage only.
    public var round: UInt64
    /// How many training samples stand behind these parameters; the averaging weight.
    public var sampleCount: Int
    /// How many neighbours the author currently has. Both ends of an edge need each other's degree to
    /// compute the same Metropolis-Hastings weight, which keeps the mixing matrix reversible.
    public var degree: Int
    /// The flattened model parameters.
    public var parameters: [Float]
    /// The author's own samples plus those of the neighbours it mixes (0 = not reported): with it,
    /// both ends of an edge compute the weight `n_j / max(N_i, N_j)`, which averages exactly in one
    /// step on a complete graph even when the sites hold different numbers of images.
    public var neighborhoodSamples: Int
    /// The author reports no training image of some class (its signed class counts; false when it reports
    /// none). Such a site's states stray from the others' by design, every stretch pulling towards its one
    /// class, so the receiver takes no distance as evidence against it (`GossipInstance.countOutliers`); its
    /// difference is still clipped, and its model still judged on the validation split.
    public var missesAClass: Bool

    public init(author: NodeID, version: UInt64, round: UInt64, sampleCount: Int, degree: Int, parameters: [Float],
                neighborhoodSamples: Int = 0, missesAClass: Bool = false) {
        self.neighborhoodSamples = neighborhoodSamples
        self.missesAClass = missesAClass
        self.author = author
        self.version = version
        self.round = round
        self.sampleCount = sampleCount
        self.degree = degree
        self.parameters = parameters
    }

    /// Bytes of the fields above in a fixed little-endian layout (32-byte author, three 8-byte
    /// integers, a 4-byte degree, a 4-byte count and 4 bytes per parameter). The simulator counts
    /// traffic with it; the real frame adds the envelope (signature, digests) that LeukWire defines.
    public var approximateWireSize: Int { NodeID.byteCount + 8 * 4 + 4 + 4 + 4 * parameters.count }
}

public import LeukCore
internal import Foundation

/// The decaying counters behind one peer's score (gossipsub v1.1 style). Stored in the snapshot.
public struct PeerScoreCounters: Sendable, Equatable {
    public var validDeliveries: Double
    public var invalidMessages: Double
    public var replays: Double
    /// Ticks at which this peer's state lay far outside its fellow neighbours' (more than
    /// `outlierFactor` times the median distance from this node): the evidence against a peer that
    /// follows the protocol but sends a poisoned model.
    public var outliers: Double
    /// When the counters were last decayed.
    public var decayedAt: Timestamp
    /// Messages from this peer are ignored until then; `nil` when not banned.
    public var bannedUntil: Timestamp?
    /// Whether the ban also shut the peer's session (protocol faults), or only benches its states (model
    /// evidence; the session stays up so the peer keeps hearing this node). Meaningful while banned.
    public var shutOut: Bool

    public init(validDeliveries: Double = 0, invalidMessages: Double = 0, replays: Double = 0, outliers: Double = 0,
                decayedAt: Timestamp, bannedUntil: Timestamp? = nil, shutOut: Bool? = nil) {
        self.validDeliveries = validDeliveries
        self.invalidMessages = invalidMessages
        self.replays = replays
        self.outliers = outliers
        self.decayedAt = decayedAt
        self.bannedUntil = bannedUntil
        self.shutOut = shutOut ?? (bannedUntil != nil)
    }

    /// Decays every counter to `now`: `c *= decay ^ (elapsed / decayInterval)`, zero below `decayToZero`.
    mutating func decay(to now: Timestamp, _ p: ScoringParameters) {
        guard now > decayedAt else { return }
        let elapsed = Self.seconds(now.since(decayedAt))
        let interval = max(Self.seconds(p.decayInterval), 1e-9)
        let factor = pow(p.decay, elapsed / interval)
        func shrink(_ c: Double) -> Double { let v = c * factor; return v < p.decayToZero ? 0 : v }
        validDeliveries = shrink(validDeliveries)
        invalidMessages = shrink(invalidMessages)
        replays = shrink(replays)
        outliers = shrink(outliers)
        decayedAt = now
    }

    /// The score from the (already decayed) counters.
    func score(_ p: ScoringParameters) -> Double {
        p.validDeliveryWeight * min(validDeliveries, p.validDeliveryCap)
            + p.invalidMessageWeight * invalidMessages * invalidMessages
            + p.replayWeight * replays * replays
            + p.outlierWeight * outliers * outliers
    }

    /// The score from protocol behaviour alone (deliveries, invalid messages, replays), without the model
    /// evidence: below the ban threshold, a ban also shuts the peer's session.
    func protocolScore(_ p: ScoringParameters) -> Double {
        score(p) - p.outlierWeight * outliers * outliers
    }

    func isBanned(at now: Timestamp) -> Bool {
        guard let bannedUntil else { return false }
        return now < bannedUntil
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }
}

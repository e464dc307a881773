import LeukCore
import LeukCrypto
import LeukNet
import LeukWire
import Testing

/// The connection lifecycle without a socket: every event is fed by hand with its time, and the
/// actions `PeerConnections` returns are what a shell would execute.
@Suite struct PeerConnectionsTests {
    static let t0 = Timestamp(nanosecondsSinceEpoch: 1_000_000_000_000_000_000)
    static func at(_ seconds: Double) -> Timestamp { t0.adding(.nanoseconds(Int64(seconds * 1e9))) }
    let alice = Keys.alice.id, bob = Keys.bob.id, mallory = Keys.mallory.id

    func core(_ me: NodeID, backoff: ReconnectBackoff = ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0),
              faultCoolDown: Duration = .seconds(30), pending: Int = 64) -> PeerConnections {
        PeerConnections(localID: me, configuration: .init(backoff: backoff, jitterSeed: 7, faultCoolDown: faultCoolDown,
                                                          maximumPendingHandshakes: pending))
    }

    /// The connection of the one `.dial` among `actions`.
    func dialled(_ actions: [PeerConnectionAction]) -> ConnectionID? {
        let ids = actions.compactMap { action -> ConnectionID? in
            if case let .dial(_, _, _, connection) = action { connection } else { nil }
        }
        return ids.count == 1 ? ids[0] : nil
    }

    func delays(_ actions: [PeerConnectionAction]) -> [Duration] {
        actions.compactMap { if case let .scheduleDial(_, after) = $0 { after } else { nil } }
    }

    func closes(_ actions: [PeerConnectionAction]) -> [ConnectionID: GoodbyeReason?] {
        var out: [ConnectionID: GoodbyeReason?] = [:]
        for case let .close(id, goodbye) in actions { out.updateValue(goodbye, forKey: id) }
        return out
    }

    func reports(_ actions: [PeerConnectionAction]) -> [NetworkEvent] {
        actions.compactMap { if case let .report(event) = $0 { event } else { nil } }
    }

    /// Dials `peer` and completes the handshake; returns the session's connection.
    func connectOutbound(_ core: inout PeerConnections, to peer: NodeID, at time: Timestamp) throws -> ConnectionID {
        let id = try #require(dialled(core.peerAdded(peer, host: "127.0.0.1", port: 7000, now: time)))
        #expect(core.dialSucceeded(id, now: time).isEmpty)
        let actions = core.handshakeCompleted(id, peer: peer, now: time)
        #expect(reports(actions) == [.peerConnected(peer, address: "127.0.0.1:7000", direction: .outbound)])
        return id
    }

    @Test func redialBackoffDoublesUpToItsCapAndResetsAfterASession() throws {
        var a = core(alice)
        var id = try #require(dialled(a.peerAdded(bob, host: "127.0.0.1", port: 7000, now: Self.at(0))))
        #expect(a.snapshots(now: Self.at(0)).first?.state == .connecting)
        var waits: [Duration] = []
        var clock = 0.0
        for _ in 0..<6 {
            let failed = a.dialFailed(id, error: "connection refused", now: Self.at(clock))
            let wait = try #require(delays(failed).first)
            waits.append(wait)
            #expect(dialled(failed) == nil, "no redial before the timer")
            clock += Double(wait.components.seconds)
            id = try #require(dialled(a.dialDue(bob, now: Self.at(clock))))
        }
        #expect(waits == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8)])
        #expect(a.snapshots(now: Self.at(clock)).first?.state == .connecting)

        // A session resets the exponent: losing it waits the first step again.
        #expect(a.dialSucceeded(id, now: Self.at(clock)).isEmpty)
        _ = a.handshakeCompleted(id, peer: bob, now: Self.at(clock))
        let lost = a.channelClosed(id, now: Self.at(clock + 60))
        #expect(reports(lost) == [.peerDisconnected(bob, reason: nil)])
        #expect(delays(lost) == [.seconds(1)])
        #expect(dialled(a.dialDue(bob, now: Self.at(clock + 61))) != nil)
        // A timer that fires again (a stale one) does nothing.
        #expect(a.dialDue(bob, now: Self.at(clock + 61)).isEmpty)
    }

    @Test func jitteredWaitsStayUnderTheirCeilingAndReplayForASeed() throws {
        func schedule() throws -> [Duration] {
            var a = core(alice, backoff: ReconnectBackoff(initial: .seconds(1), maximum: .seconds(8), jitter: 0.5))
            var id = try #require(dialled(a.peerAdded(bob, host: "h", port: 1, now: Self.at(0))))
            var waits: [Duration] = []
            for _ in 0..<8 {
                waits.append(try #require(delays(a.dialFailed(id, error: "x", now: Self.at(0))).first))
                id = try #require(dialled(a.dialDue(bob, now: Self.at(0))))
            }
            return waits
        }
        let first = try schedule()
        #expect(first == (try schedule()))
        let ceilings: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8), .seconds(8), .seconds(8)]
        for (wait, ceiling) in zip(first, ceilings) {
            #expect(wait <= ceiling && wait >= ceiling / 2)
        }
        #expect(Set(first.suffix(4)).count > 1, "jitter spreads redials")
    }

    /// Both nodes dial at once, and the two handshakes finish in opposite orders on the two sides.
    /// Each closes the same physical connection: the one dialled by the larger node id.
    @Test func bothEndsKeepTheSameOfTwoSimultaneousConnections() throws {
        var a = core(alice), b = core(bob)
        let aliceDials = try #require(dialled(a.peerAdded(bob, host: "b", port: 2, now: Self.at(0))))
        let bobDials = try #require(dialled(b.peerAdded(alice, host: "a", port: 1, now: Self.at(0))))
        // The far ends of each connection, as the listeners number them.
        let bobAccepts = ConnectionID(.inbound, 1), aliceAccepts = ConnectionID(.inbound, 1)
        #expect(a.inboundAccepted(aliceAccepts, address: "b:50000", now: Self.at(0)).isEmpty)
        #expect(b.inboundAccepted(bobAccepts, address: "a:50001", now: Self.at(0)).isEmpty)
        _ = a.dialSucceeded(aliceDials, now: Self.at(0))
        _ = b.dialSucceeded(bobDials, now: Self.at(0))

        // Each side sees its own dial finish first, then the other's.
        let a1 = a.handshakeCompleted(aliceDials, peer: bob, now: Self.at(1))
        let a2 = a.handshakeCompleted(aliceAccepts, peer: bob, now: Self.at(1))
        let b1 = b.handshakeCompleted(bobDials, peer: alice, now: Self.at(1))
        let b2 = b.handshakeCompleted(bobAccepts, peer: alice, now: Self.at(1))
        #expect(reports(a1).count == 1 && reports(b1).count == 1)
        #expect(reports(a2).isEmpty && reports(b2).isEmpty, "still one session each: nothing more to report")

        // Physical connection X is Alice's dial (Bob's accept); Y is Bob's dial (Alice's accept).
        let aliceWins = alice < bob
        #expect(a.session(of: bob) == (aliceWins ? aliceDials : aliceAccepts))
        #expect(b.session(of: alice) == (aliceWins ? bobAccepts : bobDials))
        let aliceCloses = closes(a1 + a2), bobCloses = closes(b1 + b2)
        #expect(aliceCloses == [aliceWins ? aliceAccepts : aliceDials: .duplicateConnection])
        #expect(bobCloses == [aliceWins ? bobDials : bobAccepts: .duplicateConnection])

        // The losers close without a disconnect report or a redial.
        let aliceLoser = aliceWins ? aliceAccepts : aliceDials, bobLoser = aliceWins ? bobDials : bobAccepts
        #expect(a.channelClosed(aliceLoser, now: Self.at(2)).isEmpty)
        #expect(b.channelClosed(bobLoser, now: Self.at(2)).isEmpty)
        #expect(a.connectedPeers == [bob] && b.connectedPeers == [alice])
    }

    /// The larger id's own dial finishes after the smaller id's dial became the session: it loses,
    /// and must not leave the peer looking "still dialling", or a later loss would never be redialled.
    @Test func aDialThatLosesTheTieBreakStillRedialsLater() throws {
        let (low, high) = (min(alice, bob), max(alice, bob))
        var h = core(high)
        let ownDial = try #require(dialled(h.peerAdded(low, host: "l", port: 1, now: Self.at(0))))
        _ = h.dialSucceeded(ownDial, now: Self.at(0))
        let theirs = ConnectionID(.inbound, 1)
        _ = h.inboundAccepted(theirs, address: "l:9", now: Self.at(0))
        #expect(reports(h.handshakeCompleted(theirs, peer: low, now: Self.at(1))).count == 1)
        #expect(closes(h.handshakeCompleted(ownDial, peer: low, now: Self.at(1))) == [ownDial: .duplicateConnection])
        #expect(h.channelClosed(ownDial, now: Self.at(1)).isEmpty)
        // The session the smaller id dialled drops: the larger id redials too.
        let lost = h.channelClosed(theirs, now: Self.at(5))
        #expect(reports(lost) == [.peerDisconnected(low, reason: nil)])
        #expect(delays(lost) == [.seconds(1)])
        #expect(dialled(h.dialDue(low, now: Self.at(6))) != nil)
    }

    @Test func aRestartedPeersNewConnectionReplacesItsHalfDeadOldOne() throws {
        var b = core(bob)
        let old = ConnectionID(.inbound, 1), new = ConnectionID(.inbound, 2)
        _ = b.inboundAccepted(old, address: "a:1", now: Self.at(0))
        _ = b.handshakeCompleted(old, peer: alice, now: Self.at(0))
        _ = b.inboundAccepted(new, address: "a:2", now: Self.at(5))
        // Alice dialled both, so she has given up on the old one: the new one wins.
        #expect(closes(b.handshakeCompleted(new, peer: alice, now: Self.at(5))) == [old: .duplicateConnection])
        #expect(b.session(of: alice) == new)
    }

    @Test func aCoolDownRefusesInboundAndSuppressesDiallingUntilItEnds() throws {
        var a = core(alice)
        let session = try connectOutbound(&a, to: bob, at: Self.at(0))

        let start = a.disconnectRequested(bob, reason: .coolDown, coolDown: .seconds(10), now: Self.at(1))
        #expect(start.contains(.setCoolDown(bob, until: Self.at(11))))
        #expect(closes(start) == [session: .coolDown])
        #expect(delays(start) == [.seconds(10)])
        let closed = a.channelClosed(session, now: Self.at(1))
        #expect(reports(closed) == [.peerDisconnected(bob, reason: nil)])
        #expect(dialled(closed) == nil)
        #expect(a.snapshots(now: Self.at(2)).first?.state == .coolingDown)
        #expect(a.snapshots(now: Self.at(2)).first?.coolDownUntil == Self.at(11))

        // Bob dials in while it lasts: the handshake's check may have raced the decision, so the
        // core refuses the session itself.
        let knock = ConnectionID(.inbound, 1)
        _ = a.inboundAccepted(knock, address: "b:5", now: Self.at(3))
        let refused = a.handshakeCompleted(knock, peer: bob, now: Self.at(3))
        #expect(closes(refused) == [knock: .coolDown])
        guard case let .refused(refusal)? = reports(refused).first else { Issue.record("no refusal reported"); return }
        #expect(refusal.reason == .coolingDown(bob))
        #expect(a.connectedPeers.isEmpty)
        // When the handshake refused him itself (not admitted), the report still says why.
        let knock2 = ConnectionID(.inbound, 2)
        _ = a.inboundAccepted(knock2, address: "b:6", now: Self.at(4))
        let notAdmitted = a.handshakeFailed(knock2, failure: .handshake(.notAdmitted(Keys.bob.publicIdentity)), now: Self.at(4))
        guard case let .refused(refusal2)? = reports(notAdmitted).first else { Issue.record("no refusal reported"); return }
        #expect(refusal2.reason == .coolingDown(bob))
        #expect(refusal2.fingerprint == Keys.bob.publicIdentity.fingerprint)

        // A timer that fires early only re-arms for the rest; adding the peer again does not dial.
        let early = a.dialDue(bob, now: Self.at(6))
        #expect(dialled(early) == nil)
        #expect(delays(early) == [.seconds(5)])
        #expect(dialled(a.peerAdded(bob, host: "127.0.0.1", port: 7000, now: Self.at(7))) == nil)
        // At its end the cool-down is lifted and Bob dialled.
        let due = a.dialDue(bob, now: Self.at(11))
        #expect(due.contains(.setCoolDown(bob, until: nil)))
        #expect(dialled(due) != nil)
        #expect(a.refusedConnectionCount == 2)
    }

    @Test func bytesUpdatesAndFaultsAreCountedPerPeer() throws {
        var a = core(alice, faultCoolDown: .seconds(30))
        let id = try #require(dialled(a.peerAdded(bob, host: "127.0.0.1", port: 7000, now: Self.at(0))))
        _ = a.dialSucceeded(id, now: Self.at(0))
        // Handshake bytes are counted before anyone knows who is on the other end...
        a.bytesRead(id, count: 246, now: Self.at(0))
        a.bytesWritten(id, count: 278, now: Self.at(0))
        _ = a.handshakeCompleted(id, peer: bob, now: Self.at(0))
        // ...and added to the peer once the handshake names it.
        a.bytesRead(id, count: 1000, now: Self.at(1))
        a.bytesWritten(id, count: 500, now: Self.at(1))
        a.updateSent(to: bob)
        a.updateVerified(from: bob)
        a.updateVerified(from: bob)
        var status = try #require(a.snapshots(now: Self.at(2)).first)
        #expect(status.bytesReceived == 1246 && status.bytesSent == 778)
        #expect(status.updatesSent == 1 && status.updatesReceived == 2)
        #expect(status.lastSeen == Self.at(2), "a connected peer was seen now")

        // Garbage that decrypted under the session: the peer's own doing. It is reported to the
        // gossip core (which scores it), the session closes, and Bob cools down.
        let garbage = ChannelFailure.malformedFrame(BinaryDecodingError(field: "type", reason: .invalid("unknown frame type 0x7f")))
        let fault = a.faultObserved(id, failure: garbage, now: Self.at(3))
        #expect(closes(fault) == [id: nil])
        #expect(fault.contains(.setCoolDown(bob, until: Self.at(33))))
        guard case let .rejected(rejection, from)? = reports(fault).first else { Issue.record("not reported"); return }
        #expect(from == bob && rejection.reason == .malformed)
        #expect(reports(a.channelClosed(id, now: Self.at(3))) == [.peerDisconnected(bob, reason: garbage)])
        status = try #require(a.snapshots(now: Self.at(4)).first)
        #expect(status.faults == ["malformed_frame": 1])
        #expect(status.state == .coolingDown)
        // Traffic survives the session.
        #expect(status.bytesReceived == 1246)

        // After the cool-down: a dial the peer's side hangs up on is a refusal, and counted too.
        let next = try #require(dialled(a.dialDue(bob, now: Self.at(33))))
        let refused = a.handshakeFailed(next, failure: .closedDuringHandshake, now: Self.at(33))
        #expect(reports(refused).count == 1)
        status = try #require(a.snapshots(now: Self.at(33)).first)
        #expect(status.state == .refused)
        #expect(status.faults == ["malformed_frame": 1, "closed_during_handshake": 1])
        // A refusal is no protocol violation: no cool-down, just the usual backoff.
        #expect(delays(a.channelClosed(next, now: Self.at(33))) == [.seconds(1)])
    }

    @Test func removingAPeerClosesItsConnectionsAndForgetsIt() throws {
        var a = core(alice)
        let session = try connectOutbound(&a, to: bob, at: Self.at(0))
        let removed = a.peerRemoved(bob, now: Self.at(2))
        #expect(removed.contains(.cancelDial(bob)))
        #expect(closes(removed) == [session: .removedByOperator])
        #expect(reports(removed) == [.peerDisconnected(bob, reason: nil)])
        #expect(a.snapshots(now: Self.at(2)).isEmpty)
        #expect(a.session(of: bob) == nil)
        // Whatever the closing channel still reports changes nothing, and no timer redials him.
        #expect(a.channelClosed(session, now: Self.at(3)).isEmpty)
        #expect(a.dialDue(bob, now: Self.at(4)).isEmpty)
        #expect(a.snapshots(now: Self.at(4)).isEmpty)
    }

    @Test func aDialTheOperatorGaveUpOnIsClosedWhenItConnects() throws {
        var a = core(alice)
        let id = try #require(dialled(a.peerAdded(bob, host: "127.0.0.1", port: 7000, now: Self.at(0))))
        _ = a.peerRemoved(bob, now: Self.at(0))
        #expect(closes(a.dialSucceeded(id, now: Self.at(1))) == [id: nil])
        #expect(a.handshakeCompleted(id, peer: bob, now: Self.at(1)).isEmpty)
        #expect(a.connectedPeers.isEmpty)
    }

    @Test func strangersMidHandshakeAreCapped() {
        var b = core(bob, pending: 2)
        #expect(b.inboundAccepted(ConnectionID(.inbound, 1), address: "x:1", now: Self.at(0)).isEmpty)
        #expect(b.inboundAccepted(ConnectionID(.inbound, 2), address: "x:2", now: Self.at(0)).isEmpty)
        #expect(closes(b.inboundAccepted(ConnectionID(.inbound, 3), address: "x:3", now: Self.at(0))) == [ConnectionID(.inbound, 3): nil])
        // A finished handshake frees its place.
        _ = b.handshakeCompleted(ConnectionID(.inbound, 1), peer: alice, now: Self.at(1))
        #expect(b.inboundAccepted(ConnectionID(.inbound, 4), address: "x:4", now: Self.at(1)).isEmpty)
        // A stranger's refusal is counted and named by fingerprint.
        let refused = b.handshakeFailed(ConnectionID(.inbound, 2), failure: .handshake(.notAdmitted(Keys.mallory.publicIdentity)),
                                        now: Self.at(2))
        guard case let .refused(refusal)? = reports(refused).first else { Issue.record("no refusal"); return }
        #expect(refusal.fingerprint == Keys.mallory.publicIdentity.fingerprint)
        #expect(refusal.peer == mallory)
        // The connection closed at the cap counts as refused too (`HostilePeerTests`), so this is the second.
        #expect(b.refusedConnectionCount == 2 && b.recentRefusals.last == refusal)
    }

    @Test func shutdownSaysGoodbyeOnSessionsAndStopsRedialling() throws {
        var a = core(alice)
        let session = try connectOutbound(&a, to: bob, at: Self.at(0))
        let pending = try #require(dialled(a.peerAdded(mallory, host: "m", port: 3, now: Self.at(0))))
        let down = a.shutdownRequested(now: Self.at(1))
        #expect(closes(down) == [session: .shuttingDown, pending: nil])
        #expect(delays(a.channelClosed(session, now: Self.at(1))).isEmpty)
        #expect(a.dialFailed(pending, error: "x", now: Self.at(1)).filter { if case .log = $0 { false } else { true } }.isEmpty)
    }
}

@Suite struct VerificationQueueTests {
    let alice = Keys.alice.id, bob = Keys.bob.id
    let c1 = ConnectionID(.inbound, 1), c2 = ConnectionID(.outbound, 1)

    static func at(_ seconds: Double) -> Timestamp { Timestamp(nanosecondsSinceEpoch: UInt64(1e13 + seconds * 1e9)) }

    @Test func aFullQueueStopsReadingTheChannelUntilItsUpdateGetsASlot() {
        var queue = VerificationQueue(slots: 1, minimumInterval: .zero)
        #expect(queue.arrived([1], from: alice, on: c1, now: Self.at(0)) == [.verify([1], from: alice)])
        // Alice's next update must wait for her first (her order is kept): stop reading her.
        #expect(queue.arrived([2], from: alice, on: c1, now: Self.at(0)) == [.pauseReading(c1)])
        // Frames already read while the pause took effect replace the waiting one.
        #expect(queue.arrived([3], from: alice, on: c1, now: Self.at(0)).isEmpty)
        #expect(queue.superseded == 1)
        // Bob finds the only slot taken.
        #expect(queue.arrived([9], from: bob, on: c2, now: Self.at(0)) == [.pauseReading(c2)])
        #expect(queue.runningCount == 1 && queue.waitingCount == 2)
        // Slots go to the oldest waiter, and its channel is read again.
        #expect(queue.finished(alice, now: Self.at(0)) == [.verify([3], from: alice), .resumeReading(c1)])
        #expect(queue.finished(alice, now: Self.at(0)) == [.verify([9], from: bob), .resumeReading(c2)])
        #expect(queue.finished(bob, now: Self.at(0)).isEmpty)
        #expect(queue.pauses == 2 && queue.paused.isEmpty)
    }

    @Test func slotsRunDifferentPeersAtOnceButNeverOnePeerTwice() {
        var queue = VerificationQueue(slots: 2, minimumInterval: .zero)
        #expect(queue.arrived([1], from: alice, on: c1, now: Self.at(0)) == [.verify([1], from: alice)])
        #expect(queue.arrived([2], from: bob, on: c2, now: Self.at(0)) == [.verify([2], from: bob)])
        #expect(queue.arrived([3], from: alice, on: c1, now: Self.at(0)) == [.pauseReading(c1)])
        // The closed channel is not resumed, but what it delivered is still verified.
        queue.connectionClosed(c1)
        #expect(queue.finished(alice, now: Self.at(0)) == [.verify([3], from: alice)])
    }

    @Test func aFloodingPeerIsVerifiedAtMostOncePerIntervalAndHonestPeersAreNotHeldBack() {
        var queue = VerificationQueue(slots: 2, minimumInterval: .milliseconds(250))
        #expect(queue.arrived([1], from: alice, on: c1, now: Self.at(0)) == [.verify([1], from: alice)])
        #expect(queue.finished(alice, now: Self.at(0.01)).isEmpty)
        // Alice floods: a slot is free, but her next start is due at 0.25 s. Her channel stops being read and
        // the shell is asked to wake the queue then; later frames only replace the waiting one.
        #expect(queue.arrived([2], from: alice, on: c1, now: Self.at(0.02)) == [.wakeUp(at: Self.at(0.25)), .pauseReading(c1)])
        #expect(queue.arrived([3], from: alice, on: c1, now: Self.at(0.03)).isEmpty)
        #expect(queue.rateLimited == 1 && queue.superseded == 1)
        // Bob is not held back by Alice's limit.
        #expect(queue.arrived([9], from: bob, on: c2, now: Self.at(0.04)) == [.verify([9], from: bob)])
        // A timer that fires early starts nothing and asks for the due time again.
        #expect(queue.timerFired(now: Self.at(0.1)) == [.wakeUp(at: Self.at(0.25))])
        #expect(queue.timerFired(now: Self.at(0.25)) == [.verify([3], from: alice), .resumeReading(c1)])
        #expect(queue.finished(alice, now: Self.at(0.26)).isEmpty)
        // The wall clock is set back an hour: Alice is not held until it catches up.
        #expect(queue.arrived([4], from: alice, on: c1, now: Self.at(-3600)) == [.verify([4], from: alice)])
    }
}

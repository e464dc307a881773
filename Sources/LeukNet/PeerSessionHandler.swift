public import LeukCore
public import LeukCrypto
public import LeukWire
public import NIOCore

/// What a session tells the handlers after it: the peer it authenticated, the frames it carried,
/// and why it failed. Pings and pongs are answered inside the session and never surface.
public enum SessionEvent: Sendable, Equatable {
    case established(PublicIdentity)
    case frame(Frame)
    case failed(ChannelFailure)
}

/// Timers of one session.
public struct SessionTimers: Sendable, Equatable {
    /// The whole handshake must finish within this.
    public var handshakeTimeout: TimeAmount
    /// A ping goes out when nothing else was written for this long.
    public var keepAliveInterval: TimeAmount
    /// The session closes when nothing at all arrived for this long (three keep-alives by default).
    public var idleTimeout: TimeAmount

    public init(handshakeTimeout: TimeAmount = .seconds(10), keepAliveInterval: TimeAmount = .seconds(15),
                idleTimeout: TimeAmount = .seconds(45)) {
        self.handshakeTimeout = handshakeTimeout
        self.keepAliveInterval = keepAliveInterval
        self.idleTimeout = idleTimeout
    }
}

/// The thin NIO shell around the pure handshake state machines and the two secret streams.
///
/// Inbound it takes `WireUnit`s from `SessionRecordDecoder` and passes `SessionEvent`s on; outbound
/// it takes `Frame`s and writes length-prefixed encrypted records. All cryptography here is
/// per-connection and linear in the bytes moved (ChaCha20-Poly1305), which is the event loop's job of
/// moving bytes; signature checks and hashing of model updates happen later, off the loop.
public final class PeerSessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = WireUnit
    public typealias InboundOut = SessionEvent
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    public enum Role: Sendable {
        /// We dialled; `expectedPeer` is who we meant to reach (nil: any admitted peer).
        case initiator(expectedPeer: NodeID?)
        case responder
    }

    enum State {
        case initiating(HandshakeInitiator)
        case responding(HandshakeResponder)
        /// Our proof is sent and our stream header written; waiting for the peer's stream header.
        case awaitingPeerHeader(EstablishedSession, SecretStreamSender)
        case open(PublicIdentity, SecretStreamSender, SecretStreamReceiver)
        case closed
    }

    private var state: State
    private let maximumFrameBytes: Int
    private let timers: SessionTimers
    private var handshakeTimer: Scheduled<Void>?
    private var nextPingNonce: UInt64 = 1
    /// Pings left unanswered because the peer was not reading our writes (see `handleRecord`).
    public private(set) var unansweredPings: UInt64 = 0
    private var started = false

    public init(role: Role, configuration: HandshakeConfiguration, maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes,
                timers: SessionTimers = SessionTimers()) {
        switch role {
        case let .initiator(expectedPeer):
            state = .initiating(HandshakeInitiator(configuration: configuration, expectedPeer: expectedPeer))
        case .responder:
            state = .responding(HandshakeResponder(configuration: configuration))
        }
        self.maximumFrameBytes = maximumFrameBytes
        self.timers = timers
    }

    /// With a prepared state machine (a fixed ephemeral or version), for tests.
    public init(initiator: HandshakeInitiator, maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes, timers: SessionTimers = SessionTimers()) {
        state = .initiating(initiator)
        self.maximumFrameBytes = maximumFrameBytes
        self.timers = timers
    }

    public init(responder: HandshakeResponder, maximumFrameBytes: Int = WireProtocol.defaultMaximumFrameBytes, timers: SessionTimers = SessionTimers()) {
        state = .responding(responder)
        self.maximumFrameBytes = maximumFrameBytes
        self.timers = timers
    }

    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        let timeout = timers.handshakeTimeout
        handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            switch state {
            case .initiating, .responding, .awaitingPeerHeader:
                fail(.handshakeTimeout(seconds: Double(timeout.nanoseconds) / 1e9), context: context)
            case .open, .closed:
                break
            }
        }
        if case var .initiating(machine) = state {
            let hello = machine.start()
            state = .initiating(machine)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: hello)), promise: nil)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        switch state {
        case .initiating, .responding, .awaitingPeerHeader:
            state = .closed
            context.fireChannelRead(wrapInboundOut(.failed(.closedDuringHandshake)))
        case .open, .closed:
            state = .closed
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let failure = error as? ChannelFailure {
            fail(failure, context: context)
        } else {
            // Socket errors (reset by peer and the like): the connection is gone either way.
            state = .closed
            context.close(promise: nil)
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard case let .open(_, sender, _) = state else { return }
        switch idle {
        case .write:
            let nonce = nextPingNonce
            nextPingNonce &+= 1
            writeFrame(.ping(nonce: nonce), sender: sender, context: context, promise: nil)
            context.flush()
        case .read, .all:
            fail(.idleTimeout(seconds: Double(timers.idleTimeout.nanoseconds) / 1e9), context: context)
        }
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .handshake(bytes): handleHandshake(bytes, context: context)
        case let .streamHeader(header): handlePeerHeader(header, context: context)
        case let .record(record): handleRecord(record, context: context)
        }
    }

    private func handleHandshake(_ bytes: [UInt8], context: ChannelHandlerContext) {
        let step: HandshakeStep
        switch state {
        case var .initiating(machine):
            step = machine.receiveResponse(bytes)
            state = .initiating(machine)
        case var .responding(machine):
            let isHello = bytes.count == HandshakeLayout.helloByteCount
            step = isHello ? machine.receiveHello(bytes) : machine.receiveFinish(bytes)
            state = .responding(machine)
        case .awaitingPeerHeader, .open, .closed:
            return fail(.handshake(.unexpectedMessage("handshake bytes after the handshake")), context: context)
        }
        switch step {
        case let .send(reply):
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: reply)), promise: nil)
        case let .established(session, reply):
            let sender = SecretStreamSender(key: session.sendKey)
            var out = context.channel.allocator.buffer(capacity: reply.count + SecretStream.headerByteCount)
            out.writeBytes(reply)
            out.writeBytes(sender.header)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
            state = .awaitingPeerHeader(session, sender)
        case let .failed(failure, reply):
            if reply.isEmpty {
                fail(.handshake(failure), context: context)
            } else {
                // Only a version notice is ever sent on failure: flush it, then close.
                state = .closed
                handshakeTimer?.cancel()
                context.fireChannelRead(wrapInboundOut(.failed(.handshake(failure))))
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: reply))).assumeIsolated().whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        }
    }

    private func handlePeerHeader(_ header: [UInt8], context: ChannelHandlerContext) {
        guard case let .awaitingPeerHeader(session, sender) = state else {
            return fail(.handshake(.unexpectedMessage("a stream header before the handshake finished")), context: context)
        }
        do {
            let receiver = try SecretStreamReceiver(key: session.receiveKey, header: header)
            state = .open(session.peer, sender, receiver)
            handshakeTimer?.cancel()
            context.fireChannelRead(wrapInboundOut(.established(session.peer)))
        } catch {
            fail(.decryptionFailed, context: context)
        }
    }

    private func handleRecord(_ record: ByteBuffer, context: ChannelHandlerContext) {
        guard case let .open(_, sender, receiver) = state else {
            if case .closed = state { return }
            return fail(.handshake(.unexpectedMessage("a record before the session was open")), context: context)
        }
        guard !receiver.isFinished else { return fail(.dataAfterFinal, context: context) }
        let count = record.readableBytes - SecretStream.overhead
        var opened = false
        // Decrypted straight into the array's storage: no zero-filling pass over a large frame.
        var plaintext = [UInt8](unsafeUninitializedCapacity: count) { storage, initialized in
            record.withUnsafeReadableBytes { ciphertext in
                opened = (try? receiver.open(ciphertext, into: UnsafeMutableRawBufferPointer(storage))) != nil
            }
            initialized = count
        }
        guard opened else { return fail(.decryptionFailed, context: context) }
        let frame: Frame
        do { frame = try Frame.decode(consuming: &plaintext) } catch {
            return fail(.malformedFrame(error), context: context)
        }
        switch frame {
        case let .ping(nonce):
            // A pong is answered only while the socket takes our writes. A peer that floods pings and
            // never reads would otherwise make us queue pongs without bound (NIO buffers every write
            // the kernel does not take). An honest peer that is merely slow loses nothing: any bytes we
            // send, queued frames included, reset its idle timer just as a pong does.
            guard context.channel.isWritable else {
                unansweredPings &+= 1
                return
            }
            writeFrame(.pong(nonce: nonce), sender: sender, context: context, promise: nil)
            context.flush()
        case .pong:
            break  // its arrival already reset the idle timer
        case .modelUpdate:
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
        case .goodbye:
            context.fireChannelRead(wrapInboundOut(.frame(frame)))
            state = .closed
            context.close(promise: nil)
        case let .error(code, message):
            fail(.peerReportedError(code, message), context: context)
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        guard case let .open(_, sender, _) = state else {
            promise?.fail(ChannelFailure.handshake(.unexpectedMessage("a frame written before the session was open")))
            return
        }
        if case .goodbye = frame {
            writeFrame(frame, sender: sender, context: context, promise: nil, tag: .final)
            context.flush()
            state = .closed
            context.close(promise: promise)
            return
        }
        writeFrame(frame, sender: sender, context: context, promise: promise)
    }

    private func writeFrame(_ frame: Frame, sender: SecretStreamSender, context: ChannelHandlerContext,
                            promise: EventLoopPromise<Void>?, tag: SecretStreamTag = .message) {
        let plaintext = frame.encoded()
        guard plaintext.count <= maximumFrameBytes else {
            promise?.fail(ChannelFailure.frameTooLarge(claimed: plaintext.count, limit: maximumFrameBytes))
            return
        }
        let recordLength = plaintext.count + SecretStream.overhead
        var out = context.channel.allocator.buffer(capacity: 4 + recordLength)
        out.writeInteger(UInt32(recordLength), endianness: .little)
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: recordLength) { destination in
            plaintext.withUnsafeBytes { source in
                sender.seal(source, into: UnsafeMutableRawBufferPointer(rebasing: destination[0..<recordLength]), tag: tag)
            }
            return recordLength
        }
        context.write(wrapOutboundOut(out), promise: promise)
    }

    /// Reports the failure once, then closes. A stranger or a tamperer gets no explanation on the wire.
    private func fail(_ failure: ChannelFailure, context: ChannelHandlerContext) {
        if case .closed = state { return }
        state = .closed
        handshakeTimer?.cancel()
        context.fireChannelRead(wrapInboundOut(.failed(failure)))
        context.close(promise: nil)
    }
}

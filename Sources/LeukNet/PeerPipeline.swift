public import LeukWire
public import NIOCore
import Synchronization

/// Bytes moved on one connection, counted on the event loop. The shell hands what is new to
/// `PeerConnections` (`takeUnreported`) when it shows or closes the peer, rather than one message
/// per socket read.
public final class TrafficCounter: Sendable {
    private struct Counts {
        var received: UInt64 = 0
        var sent: UInt64 = 0
        var reportedReceived: UInt64 = 0
        var reportedSent: UInt64 = 0
    }

    private let counts = Mutex(Counts())

    public init() {}

    public var bytesReceived: UInt64 { counts.withLock { $0.received } }
    public var bytesSent: UInt64 { counts.withLock { $0.sent } }

    /// Bytes moved since the previous call.
    public func takeUnreported() -> (received: UInt64, sent: UInt64) {
        counts.withLock { c in
            defer { (c.reportedReceived, c.reportedSent) = (c.received, c.sent) }
            return (c.received &- c.reportedReceived, c.sent &- c.reportedSent)
        }
    }

    func addReceived(_ n: Int) { counts.withLock { $0.received &+= UInt64(n) } }
    func addSent(_ n: Int) { counts.withLock { $0.sent &+= UInt64(n) } }
}

/// Counts raw bytes at the socket end of the pipeline, handshake and encryption overhead included.
final class TrafficCountingHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let counter: TrafficCounter
    init(counter: TrafficCounter) { self.counter = counter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        counter.addReceived(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        counter.addSent(unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }
}

/// Passes a session's events to a Sendable sink (the shell's event stream), tagging each with the
/// connection it came from, and says when the connection is gone.
final class SessionEventForwarder: ChannelInboundHandler {
    typealias InboundIn = SessionEvent

    enum Signal: Sendable {
        case event(SessionEvent)
        case closed
    }

    let sink: @Sendable (Signal) -> Void
    init(sink: @escaping @Sendable (Signal) -> Void) { self.sink = sink }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sink(.event(unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Builds the handler stack of one peer connection, socket end first:
/// traffic counter, idle timer, record decoder, session (handshake + secret streams).
public enum PeerPipeline {
    /// Socket reads grow up to 1 MiB when large frames stream in (NIO's default stops at 64 KiB),
    /// so a model update arrives in a few reads instead of hundreds.
    public static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 64 * 1024, maximum: 1024 * 1024)

    public static func handlers(role: PeerSessionHandler.Role, configuration: HandshakeConfiguration,
                                maximumFrameBytes: Int, timers: SessionTimers, counter: TrafficCounter) -> [any ChannelHandler] {
        let decoderRole: SessionRecordDecoder.Role
        if case .initiator = role { decoderRole = .initiator } else { decoderRole = .responder }
        return [
            TrafficCountingHandler(counter: counter),
            IdleStateHandler(readTimeout: timers.idleTimeout, writeTimeout: timers.keepAliveInterval),
            ByteToMessageHandler(SessionRecordDecoder(role: decoderRole, maximumFrameBytes: maximumFrameBytes)),
            PeerSessionHandler(role: role, configuration: configuration, maximumFrameBytes: maximumFrameBytes, timers: timers),
        ]
    }
}

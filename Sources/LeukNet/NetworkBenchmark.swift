import LeukCore
import LeukCrypto
import LeukWire
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Figures behind network/PROTOCOL.md's performance section, measured on real loopback sockets with
/// the production handler stack. Run by `leuknode bench-net`; never part of the test suite.
public enum NetworkBenchmark {
    public struct Options: Sendable {
        public var handshakes: Int
        public var frameBytes: Int
        public var frames: Int
        public var parameterCount: Int

        public init(handshakes: Int = 200, frameBytes: Int = 16 * 1024 * 1024, frames: Int = 48, parameterCount: Int = 285_922) {
            self.handshakes = handshakes
            self.frameBytes = frameBytes
            self.frames = frames
            self.parameterCount = parameterCount
        }
    }

    public struct Report: Sendable, Codable, Equatable {
        /// Connect + three-message handshake + both stream headers, until both sides hold a session.
        public var handshakeMillisecondsMedian: Double
        public var handshakeMillisecondsP90: Double
        public var handshakes: Int
        /// Payload bytes per second through one encrypted session (frames of `frameBytes`).
        public var throughputMegabytesPerSecond: Double
        /// Wall time of the throughput run, and the CPU time the process spent in it (both ends,
        /// all threads): on a busy machine the second shows what the channel itself costs.
        public var throughputWallSeconds: Double
        public var throughputCPUSeconds: Double
        public var frameBytes: Int
        public var frames: Int
        public var parameterCount: Int
        /// The model's own bytes: parameterCount × 4.
        public var modelBytes: Int
        /// Everything else one update costs on the wire: length prefix, secret-stream tag, frame type,
        /// envelope header and signature, as counted at the socket.
        public var overheadBytesPerUpdate: Int
        public var overheadPercent: Double
    }

    public static func run(_ options: Options = Options()) async throws -> Report {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        do {
            let report = try await measure(options, group: group)
            try await group.shutdownGracefully()
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    static func measure(_ options: Options, group: MultiThreadedEventLoopGroup) async throws -> Report {
        let server = NodeIdentity.generate()
        let client = NodeIdentity.generate()
        let sink = FrameSink()
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let configuration = HandshakeConfiguration(identity: server) { $0.id == client.id }
                    try channel.pipeline.syncOperations.addHandlers(
                        PeerPipeline.handlers(role: .responder, configuration: configuration, maximumFrameBytes: WireProtocol.defaultMaximumFrameBytes,
                                              timers: SessionTimers(), counter: TrafficCounter()))
                    try channel.pipeline.syncOperations.addHandler(BenchmarkProbe(sink: sink, established: nil))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { listener.close(promise: nil) }
        let port = listener.localAddress!.port!

        func connect(counter: TrafficCounter) async throws -> any Channel {
            let established = group.next().makePromise(of: Void.self)
            let channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.recvAllocator, value: PeerPipeline.receiveAllocator)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let configuration = HandshakeConfiguration(identity: client) { $0.id == server.id }
                        try channel.pipeline.syncOperations.addHandlers(
                            PeerPipeline.handlers(role: .initiator(expectedPeer: server.id), configuration: configuration,
                                                  maximumFrameBytes: WireProtocol.defaultMaximumFrameBytes, timers: SessionTimers(), counter: counter))
                        try channel.pipeline.syncOperations.addHandler(BenchmarkProbe(sink: nil, established: established))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
            try await established.futureResult.get()
            return channel
        }

        // Handshakes: a fresh connection each time, timed from connect to an open session.
        var timings: [Double] = []
        for _ in 0..<options.handshakes {
            let start = monotonicNanoseconds()
            let channel = try await connect(counter: TrafficCounter())
            timings.append(Double(monotonicNanoseconds() - start) / 1e6)
            try await channel.close()
        }
        timings.sort()

        // Throughput: large frames through one session, a few in flight at a time.
        let counter = TrafficCounter()
        let channel = try await connect(counter: counter)
        let payload = [UInt8](repeating: 0x5A, count: options.frameBytes)
        sink.reset(expecting: options.frames, on: group.next())
        let cpuBefore = processCPUSeconds()
        let start = monotonicNanoseconds()
        var inFlight: [EventLoopFuture<Void>] = []
        for _ in 0..<options.frames {
            inFlight.append(channel.writeAndFlush(Frame.modelUpdate(payload)))
            if inFlight.count >= 4 { try await inFlight.removeFirst().get() }
        }
        for future in inFlight { try await future.get() }
        try await sink.done().get()
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        let cpuSeconds = processCPUSeconds() - cpuBefore
        let throughput = Double(options.frameBytes * options.frames) / seconds / 1e6

        // Overhead: one real signed update of the given size, counted at the socket.
        let metadata = ModelUpdateMetadata(version: 1, timestamp: SystemWallClock().now(), sampleCount: 10_000, round: 3, degree: 2,
                                           metrics: ValidationMetrics(accuracy: 0.9, loss: 0.3, sensitivity: 0.9, specificity: 0.9),
                                           architecture: "leukcnn-v1", parents: [[UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32)])
        let parameters = [Float](repeating: 0.01, count: options.parameterCount)
        let envelope = SignedModelUpdate.seal(metadata, parameters: parameters, author: client.signing)
        sink.reset(expecting: 1, on: group.next())
        let before = counter.bytesSent
        try await channel.writeAndFlush(Frame.modelUpdate(envelope)).get()
        try await sink.done().get()
        let wireBytes = Int(counter.bytesSent - before)
        try await channel.close()
        let modelBytes = options.parameterCount * 4

        return Report(handshakeMillisecondsMedian: timings[timings.count / 2], handshakeMillisecondsP90: timings[timings.count * 9 / 10],
                      handshakes: options.handshakes, throughputMegabytesPerSecond: throughput,
                      throughputWallSeconds: seconds, throughputCPUSeconds: cpuSeconds, frameBytes: options.frameBytes,
                      frames: options.frames, parameterCount: options.parameterCount, modelBytes: modelBytes,
                      overheadBytesPerUpdate: wireBytes - modelBytes, overheadPercent: Double(wireBytes - modelBytes) / Double(modelBytes) * 100)
    }
}

/// User plus system CPU time of the whole process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// Counts frames the benchmark's server received and completes a promise at the expected count.
final class FrameSink: Sendable {
    private struct State {
        var expected = 0
        var received = 0
        var promise: EventLoopPromise<Void>?
    }
    private let state = Mutex(State())

    func reset(expecting count: Int, on loop: any EventLoop) {
        state.withLock { $0 = State(expected: count, received: 0, promise: loop.makePromise()) }
    }

    func done() -> EventLoopFuture<Void> { state.withLock { $0.promise!.futureResult } }

    func frameArrived() {
        let finished: EventLoopPromise<Void>? = state.withLock { s in
            s.received += 1
            return s.received == s.expected ? s.promise : nil
        }
        finished?.succeed()
    }
}

/// The last handler of a benchmark connection: signals the open session, counts frames.
final class BenchmarkProbe: ChannelInboundHandler {
    typealias InboundIn = SessionEvent
    let sink: FrameSink?
    let established: EventLoopPromise<Void>?

    init(sink: FrameSink?, established: EventLoopPromise<Void>?) {
        self.sink = sink
        self.established = established
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .established: established?.succeed()
        case .frame: sink?.frameArrived()
        case let .failed(failure): established?.fail(failure)
        }
    }
}

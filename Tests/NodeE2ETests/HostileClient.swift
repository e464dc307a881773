import Foundation
import LeukCore
import LeukCrypto
import LeukWire
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// The attacker's tools for HostilePeerE2ETests: a raw TCP connection that shows every byte the node
// sends, a client that drives the project's own handshake state machine (`HandshakeInitiator`) over it
// and then speaks the record format by hand (so it can flip, cut or inflate any byte), and a relay
// that sits between two real nodes, first recording, then rewriting their handshake.

/// Collects what the other end sends, and notices when it hangs up.
final class ByteCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    struct State {
        var unread: [UInt8] = []
        var total = 0
        var closed = false
        /// When the other end (or an error) closed the connection: how long a node held it is measured from
        /// this, not from when a test got round to looking.
        var closedAt: Date?
    }

    let state = Mutex(State())

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        state.withLock {
            $0.unread += bytes
            $0.total += bytes.count
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLock {
            $0.closed = true
            $0.closedAt = $0.closedAt ?? Date()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)  // reset by peer and the like: the node hung up
    }
}

/// One raw TCP connection on loopback.
struct RawConnection: Sendable {
    let channel: any Channel
    let collector: ByteCollector

    /// Connects to 127.0.0.1:`port`, from `source` (any 127.x.y.z: the attacker's own address, so the
    /// node can tell it from the honest peers on 127.0.0.1).
    static func open(to port: Int, from source: String = "127.0.0.1") async throws -> RawConnection {
        let collector = ByteCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    /// Wraps a channel the relay accepted; its collector is already in the pipeline.
    init(channel: any Channel, collector: ByteCollector) {
        self.channel = channel
        self.collector = collector
    }

    var isClosed: Bool { collector.state.withLock { $0.closed } }
    /// When the connection closed, if it has.
    var closedAt: Date? { collector.state.withLock { $0.closedAt } }
    /// Every byte the other end ever sent on this connection.
    var totalReceived: Int { collector.state.withLock { $0.total } }

    /// Writes and flushes; fails if the other end already closed (which an attacker may well meet).
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Stops reading the socket: the peer's writes pile up in its own buffers.
    func stopReading() async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// Exactly `count` bytes, or nil when the other end closed first or `timeout` passed.
    func read(_ count: Int, timeout: Double = 10) async throws -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let (bytes, closed): ([UInt8]?, Bool) = collector.state.withLock { state in
                guard state.unread.count >= count else { return (nil, state.closed) }
                let out = Array(state.unread.prefix(count))
                state.unread.removeFirst(count)
                return (out, false)
            }
            if let bytes { return bytes }
            if closed || Date() > deadline { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Whatever arrived and was not read yet.
    func takeUnread() -> [UInt8] {
        collector.state.withLock { state in
            defer { state.unread = [] }
            return state.unread
        }
    }

    /// Waits until the other end closes; false if it is still open after `timeout` seconds.
    func closedByPeer(within timeout: Double) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !isClosed {
            if Date() > deadline { return false }
            try await Task.sleep(for: .milliseconds(5))
        }
        return true
    }

    func close() async {
        try? await channel.close()
    }
}

/// The byte format of network/PROTOCOL.md, written out from the spec for the attacker's own use (the
/// relay recomputes what the project keeps internal): labels, offsets and the transcript's first hash.
enum Spec {
    static let transcriptLabel = Array("leuknode/v1/handshake-transcript".utf8)
    static let helloLabel = Array("leuknode/v1/handshake-hello".utf8)
    static let responderSealLabel = "leuknode/v1/handshake-resp-key"
    static let prefixBytes = HandshakeLayout.responsePrefixByteCount  // magic(4) version(2)
    static let ephemeralRange = 6..<38

    /// A hello from `ephemeral`, tagged with the (public) federation key, as any initiator makes it.
    static func hello(ephemeral: [UInt8], networkKey: NetworkKey = .publicDefault) -> [UInt8] {
        let version = [UInt8(WireProtocol.version & 0xFF), UInt8(WireProtocol.version >> 8)]
        let tag = networkKey.authenticate(helloLabel + WireProtocol.magic + version + ephemeral)
        return WireProtocol.magic + version + ephemeral + tag
    }

    static func h0(hello: [UInt8], responsePrefix: [UInt8]) -> [UInt8] {
        Blake2b.hash(transcriptLabel + hello + responsePrefix)
    }

    /// One encrypted record: little-endian length, then the secret-stream ciphertext of `plaintext`.
    static func record(_ plaintext: [UInt8], sender: SecretStreamSender) -> [UInt8] {
        let sealed = sender.seal(plaintext)
        let n = UInt32(sealed.count)
        return [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] + sealed
    }

    static func lengthPrefix(_ n: UInt32) -> [UInt8] {
        [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)]
    }
}

/// What became of one attacker handshake.
enum HandshakeOutcome: CustomStringConvertible {
    /// The node sent its stream header: a session is open (only ever expected for an admitted key).
    case open(HostileSession)
    /// Our side's state machine accepted the node's response and sent its proof; the node then closed
    /// without opening a session. `extraBytes` counts anything it sent after its response (must be 0).
    case refusedAfterProof(extraBytes: Int)
    /// The node never answered our hello (or closed before its response).
    case noResponse
    /// Our own state machine refused the node's response.
    case initiatorFailed(HandshakeFailure)
    /// The node kept the connection open past the deadline without a stream header.
    case hanging

    var description: String {
        switch self {
        case .open: "open"
        case let .refusedAfterProof(extra): "refused after our proof (\(extra) bytes after the response)"
        case .noResponse: "no response"
        case let .initiatorFailed(failure): "our initiator failed: \(failure)"
        case .hanging: "hanging"
        }
    }

    var isOpen: Bool { if case .open = self { true } else { false } }
}

/// An open session driven by hand: the project's secret streams, our own record bytes.
struct HostileSession: @unchecked Sendable {
    // SecretStreamSender/Receiver are classes holding libsodium state; a session is used by one task only.
    let connection: RawConnection
    let sender: SecretStreamSender
    let receiver: SecretStreamReceiver

    /// An encrypted record of `frame`, ready to send (or to tamper with first).
    func record(_ frame: Frame) -> [UInt8] { Spec.record(frame.encoded(), sender: sender) }

    /// An encrypted record of any plaintext, valid under the session's keys (authenticated garbage).
    func record(plaintext: [UInt8]) -> [UInt8] { Spec.record(plaintext, sender: sender) }

    /// The next frame the node sends, decrypted; nil if it closed or sent none in time.
    func nextFrame(timeout: Double = 10) async throws -> Frame? {
        guard let prefix = try await connection.read(4, timeout: timeout) else { return nil }
        let length = Int(UInt32(prefix[0]) | UInt32(prefix[1]) << 8 | UInt32(prefix[2]) << 16 | UInt32(prefix[3]) << 24)
        guard let sealed = try await connection.read(length, timeout: timeout) else { return nil }
        var plaintext = try receiver.open(sealed).plaintext
        return try Frame.decode(consuming: &plaintext)
    }
}

enum HostileClient {
    /// Runs the project's `HandshakeInitiator` as `identity` against the node on `port`, over a fresh
    /// connection from `source`, and reports how far it got.
    static func handshake(as identity: NodeIdentity, expecting peer: NodeID?, port: Int, from source: String = "127.0.0.1",
                          timeout: Double = 15) async throws -> HandshakeOutcome {
        let connection = try await RawConnection.open(to: port, from: source)
        var initiator = HandshakeInitiator(configuration: HandshakeConfiguration(identity: identity, admits: { _ in true }),
                                           expectedPeer: peer)
        try await connection.send(initiator.start())
        guard let response = try await connection.read(HandshakeLayout.responseByteCount, timeout: timeout) else {
            await connection.close()
            return .noResponse
        }
        switch initiator.receiveResponse(response) {
        case let .failed(failure, _):
            await connection.close()
            return .initiatorFailed(failure)
        case .send:
            await connection.close()
            return .initiatorFailed(.unexpectedMessage("the initiator asked for another round"))
        case let .established(session, finish):
            let sender = SecretStreamSender(key: session.sendKey)
            do { try await connection.send(finish + sender.header) } catch {
                return .refusedAfterProof(extraBytes: connection.totalReceived - HandshakeLayout.responseByteCount)
            }
            if let header = try await connection.read(SecretStream.headerByteCount, timeout: timeout) {
                let receiver = try SecretStreamReceiver(key: session.receiveKey, header: header)
                return .open(HostileSession(connection: connection, sender: sender, receiver: receiver))
            }
            if connection.isClosed {
                return .refusedAfterProof(extraBytes: connection.totalReceived - HandshakeLayout.responseByteCount)
            }
            await connection.close()
            return .hanging
        }
    }
}

/// A TCP relay in front of a node, between it and one real peer that dials it. In `.record` mode it
/// forwards both ways untouched and keeps what each dialler sent; in `.rewriteEphemerals` mode it is a
/// man in the middle that knows the (public) federation key: it replaces the ephemeral key in each
/// direction with its own, re-tags the hello, opens the responder's sealed proof with the keys it now
/// shares with the responder, and re-seals it for the initiator, so the initiator reads a well-formed
/// response. What it cannot forge is the responder's signature over the transcript both honest ends
/// would have to share.
final class Relay: Sendable {
    enum Mode: Sendable { case record, rewriteEphemerals }

    struct MITMAttempt: Sendable {
        /// The relay opened the responder's sealed proof (its keys with the responder agreed).
        var openedResponderProof: Bool
        /// The initiator sent anything after our forged response (a finish would mean it was fooled).
        var initiatorBytesAfterResponse: Int
        /// The initiator hung up on the forged response.
        var initiatorClosed: Bool
    }

    struct State {
        var mode: Mode = .record
        /// Bytes each recorded connection's dialler sent, in arrival order (first 64 KiB each).
        var recorded: [[UInt8]] = []
        /// Bytes the node answered on each recorded connection (first 64 KiB each).
        var answered: [[UInt8]] = []
        var attempts: [MITMAttempt] = []
        var open: [any Channel] = []
    }

    let target: Int
    let state = Mutex(State())
    private let listener: Mutex<(any Channel)?> = Mutex(nil)

    init(forwardingTo target: Int) { self.target = target }

    /// Listens on `port` (a free loopback port).
    func start(port: Int) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] inbound in
                inbound.eventLoop.makeCompletedFuture { try self.accept(inbound) }
            }
            .bind(host: "127.0.0.1", port: port).get()
        listener.withLock { $0 = channel }
    }

    var mode: Mode {
        get { state.withLock { $0.mode } }
        set { state.withLock { $0.mode = newValue } }
    }

    /// Closes every relayed connection (both ends redial through the relay in its current mode).
    func dropAll() {
        let open = state.withLock { state in
            defer { state.open = [] }
            return state.open
        }
        for channel in open { channel.close(promise: nil) }
    }

    func stop() async {
        dropAll()
        let channel = listener.withLock { $0 }
        try? await channel?.close()
    }

    private func accept(_ inbound: any Channel) throws {
        let collector = ByteCollector()
        try inbound.pipeline.syncOperations.addHandler(collector)
        let (mode, index) = state.withLock { state -> (Mode, Int) in
            state.open.append(inbound)
            if state.mode == .record {
                state.recorded.append([])
                state.answered.append([])
            }
            return (state.mode, state.recorded.count - 1)
        }
        let client = RawConnection(channel: inbound, collector: collector)
        let target = self.target
        Task {
            if let server = try? await RawConnection.open(to: target) {
                self.state.withLock { $0.open.append(server.channel) }
                switch mode {
                case .record: await self.forward(client, server, index: index)
                case .rewriteEphemerals: await self.rewrite(client, server)
                }
                await server.close()
            }
            await client.close()
        }
    }

    /// Copies bytes both ways until either end closes, recording the first 64 KiB of each direction.
    private func forward(_ client: RawConnection, _ server: RawConnection, index: Int) async {
        let limit = 64 * 1024
        while !client.isClosed && !server.isClosed {
            let up = client.takeUnread(), down = server.takeUnread()
            if !up.isEmpty {
                state.withLock { if $0.recorded[index].count < limit { $0.recorded[index] += up.prefix(limit - $0.recorded[index].count) } }
                try? await server.send(up)
            }
            if !down.isEmpty {
                state.withLock { if $0.answered[index].count < limit { $0.answered[index] += down.prefix(limit - $0.answered[index].count) } }
                try? await client.send(down)
            }
            if up.isEmpty && down.isEmpty { try? await Task.sleep(for: .milliseconds(3)) }
        }
        // Whatever arrived with the close still goes through.
        let up = client.takeUnread(), down = server.takeUnread()
        if !up.isEmpty { try? await server.send(up) }
        if !down.isEmpty { try? await client.send(down) }
    }

    /// The man in the middle (see the type's comment). Records what the initiator did with the forgery.
    private func rewrite(_ client: RawConnection, _ server: RawConnection) async {
        guard let hello = try? await client.read(HandshakeLayout.helloByteCount, timeout: 15) else { return }
        let towardsServer = KeyExchangeKeyPair(), towardsClient = KeyExchangeKeyPair()
        let forgedHello = Spec.hello(ephemeral: towardsServer.publicKey.bytes)
        guard (try? await server.send(forgedHello)) != nil,
              let response = try? await server.read(HandshakeLayout.responseByteCount, timeout: 15) else { return }
        let prefixEnd = Spec.prefixBytes + 32
        var proof: [UInt8]?
        if let responderEphemeral = try? AgreementPublicKey(bytes: Array(response[Spec.prefixBytes..<prefixEnd])),
           let keys = try? towardsServer.clientSessionKeys(serverPublicKey: responderEphemeral) {
            let h0 = Spec.h0(hello: forgedHello, responsePrefix: Array(response[0..<prefixEnd]))
            proof = try? keys.receive.derive(label: Spec.responderSealLabel, binding: h0)
                .openOnce(Array(response[prefixEnd...]), associatedData: h0, what: "relayed response")
        }
        guard let proof, let initiatorEphemeral = try? AgreementPublicKey(bytes: Array(hello[Spec.ephemeralRange])),
              let keys = try? towardsClient.serverSessionKeys(clientPublicKey: initiatorEphemeral) else {
            state.withLock { $0.attempts.append(MITMAttempt(openedResponderProof: false, initiatorBytesAfterResponse: 0, initiatorClosed: false)) }
            return
        }
        let forgedPrefix = Array(response[0..<Spec.prefixBytes]) + towardsClient.publicKey.bytes
        let h0 = Spec.h0(hello: hello, responsePrefix: forgedPrefix)
        let resealed = keys.transmit.derive(label: Spec.responderSealLabel, binding: h0).sealOnce(proof, associatedData: h0)
        try? await client.send(forgedPrefix + resealed)
        let closed = (try? await client.closedByPeer(within: 15)) ?? false
        let after = client.takeUnread().count
        state.withLock {
            $0.attempts.append(MITMAttempt(openedResponderProof: true, initiatorBytesAfterResponse: after, initiatorClosed: closed))
        }
    }
}

/// Resident memory of a process, from /proc/<pid>/status (VmRSS), in bytes.
func residentBytes(of pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kib = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    else { return nil }
    return kib * 1024
}

/// Samples the resident memory of some processes every 50 ms and keeps each one's peak.
final class MemoryWatch: Sendable {
    private let peaks = Mutex<[Int32: Int]>([:])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let started = Date()

    init(_ pids: [Int32]) {
        let sampler = Task { [self] in
            while !Task.isCancelled {
                for pid in pids {
                    if let rss = residentBytes(of: pid) { peaks.withLock { $0[pid] = max($0[pid] ?? 0, rss) } }
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        task.withLock { $0 = sampler }
    }

    func peak(_ pid: Int32) -> Int { peaks.withLock { $0[pid] ?? 0 } }

    /// One line of every process's peak so far, for the log of a phase.
    func summary(_ phase: String) -> String {
        let all = peaks.withLock { $0 }
        let seconds = String(format: "%.0f", Date().timeIntervalSince(started))
        return "RSS peaks after \(phase) (\(seconds) s in): " + all.keys.sorted().map { "\($0)=\(all[$0]! >> 20) MiB" }.joined(separator: " ")
    }

    func stop() { task.withLock { $0?.cancel() } }
}

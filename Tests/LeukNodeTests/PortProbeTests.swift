#if canImport(Glibc)
import Glibc
#endif
import LeukNode
import Testing

/// `start` refuses to run when its ports are taken, so the probe must answer the server's question
/// (is something listening?) and not a stricter one: CI once failed every restart test because a
/// restarted node's own closed API connections (TIME_WAIT) made its free port look taken.
@Suite struct PortProbeTests {
    @Test func aListeningPortIsTakenAndItsClosedConnectionsDoNotKeepItTaken() throws {
        let listener = try LoopbackSocket.listening()
        let port = listener.port
        #expect(!PortProbe.isFree(host: "127.0.0.1", port: port))

        // The server side closes first, so its end of the connection waits in TIME_WAIT on `port`.
        let client = try LoopbackSocket.connected(to: port)
        let accepted = try listener.accept()
        accepted.close()
        usleep(20_000)
        client.close()
        usleep(20_000)
        listener.close()

        #expect(PortProbe.isFree(host: "127.0.0.1", port: port))
    }

    @Test func firstFreeSkipsAListeningPort() throws {
        let listener = try LoopbackSocket.listening()
        defer { listener.close() }
        let next = PortProbe.firstFree(host: "127.0.0.1", from: listener.port, span: 50)
        #expect(next != nil && next != listener.port)
    }
}

/// A raw loopback TCP socket, so the test sets the socket states it needs without the node's code.
private struct LoopbackSocket {
    let fd: Int32

    struct Failure: Error { let what: String }

    static func listening() throws -> LoopbackSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else { throw Failure(what: "bind/listen: errno \(errno)") }
        return LoopbackSocket(fd: fd)
    }

    static func connected(to port: Int) throws -> LoopbackSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw Failure(what: "connect: errno \(errno)") }
        return LoopbackSocket(fd: fd)
    }

    var port: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func accept() throws -> LoopbackSocket {
        let client = Glibc.accept(fd, nil, nil)
        guard client >= 0 else { throw Failure(what: "accept: errno \(errno)") }
        return LoopbackSocket(fd: client)
    }

    func close() { _ = Glibc.close(fd) }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

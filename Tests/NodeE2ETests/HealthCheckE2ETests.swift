import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A loopback listener that accepts connections and closes them at once without a byte: what a hung or
/// half-started node looks like to the CLI (it is not "not running": something holds its API port).
final class SilentListener: @unchecked Sendable {
    let port: Int
    private let fd: Int32
    private let thread: Thread

    init() throws {
        let port = try Ports.free()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw E2EFailure("socket() failed") }
        let bound = withLoopbackAddress(port) { bind(fd, $0, $1) == 0 }
        guard bound, listen(fd, 8) == 0 else {
            close(fd)
            throw E2EFailure("cannot listen on 127.0.0.1:\(port)")
        }
        self.port = port
        self.fd = fd
        thread = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                close(connection)
            }
        }
        thread.start()
    }

    /// Closing the socket ends the accept loop.
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// Only a refused connection means "no node is running". A port that answers oddly is reported as a failed
/// health check: reporting it as stopped would send an operator to start a second node, and `peer add` would
/// fall back to editing the data directory offline.
@Suite("The CLI's health check")
struct HealthCheckE2ETests {
    @Test("a stopped node is 'not running'; a port that cuts the health check short is a failed health check")
    func refusedAndCutShortDiffer() async throws {
        let scratch = try Scratch("health")
        defer { scratch.tearDown() }
        let node = try await TestNode.create("health", in: scratch)

        let stopped = try await scratch.run(["status", "--data-dir", node.dataDir])
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("no node is running"), "\(stopped.stderr)")

        let listener = try SilentListener()
        defer { listener.stop() }
        let other = try await TestNode.create("odd", in: scratch)
        let config = other.dataDir + "/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        #expect(text.contains("127.0.0.1:\(other.apiPort)"), "\(text)")
        try text.replacingOccurrences(of: "127.0.0.1:\(other.apiPort)", with: "127.0.0.1:\(listener.port)")
            .write(toFile: config, atomically: true, encoding: .utf8)
        for command in [["status"], ["model", "export", "--out", scratch.file("m.safetensors")]] {
            let result = try await scratch.run(command + ["--data-dir", other.dataDir])
            #expect(result.status == 1, "\(command): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("did not pass its health check at 127.0.0.1:\(listener.port)"), "\(command): \(result.stderr)")
            #expect(!result.stderr.contains("no node is running"), "\(command): \(result.stderr)")
        }
        // `peer add` must not edit the directory of a node that may be holding it.
        let add = try await scratch.run(["peer", "add", "--data-dir", other.dataDir, node.contact])
        #expect(add.status == 1, "\(add.stdout) \(add.stderr)")
        let list = try await scratch.run(["peer", "list", "--data-dir", other.dataDir])
        #expect(!list.stdout.contains(node.fingerprint), "\(list.stdout)")
    }
}

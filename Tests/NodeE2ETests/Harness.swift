import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end harness: runs the built `leuknode` binary as separate processes, the way an operator
/// does, each test in its own scratch directory with its own ports. Every child process is
/// registered with a `Children` value whose `killAll()` the test calls in a `defer`, so no node
/// outlives its test even when an expectation fails or a wait throws.

/// Why a step of an end-to-end test failed: what was expected and what was last seen.
struct E2EFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The outcome of one finished `leuknode` command.
struct CommandResult: Sendable {
    var arguments: [String]
    var status: Int32
    var stdout: String
    var stderr: String

    var succeeded: Bool { status == 0 }

    /// Standard output parsed as JSON (the `--json` flag of a command).
    func json() throws -> JSON {
        do { return try JSON.parse(Data(stdout.utf8)) } catch {
            throw E2EFailure("`leuknode \(arguments.joined(separator: " "))` printed no JSON (\(error)): \(stdout) \(stderr)")
        }
    }

    /// Throws unless the command exited 0, quoting its output.
    @discardableResult
    func checked() throws -> CommandResult {
        guard succeeded else {
            throw E2EFailure("`leuknode \(arguments.joined(separator: " "))` exited \(status): \(stderr)\(stdout)")
        }
        return self
    }
}

/// The child processes of one test.
final class Children: @unchecked Sendable {
    // Guarded by `lock`: tests touch it from whichever task runs them.
    private let lock = NSLock()
    private var processes: [Process] = []

    func register(_ process: Process) {
        lock.lock()
        processes.append(process)
        lock.unlock()
    }

    /// SIGKILL to every child still running, then reap it. Synchronous, for `defer`.
    func killAll() {
        lock.lock()
        let all = processes
        processes.removeAll()
        lock.unlock()
        for process in all where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// One test's scratch directory, its children, and the `leuknode` commands it runs.
final class Scratch: Sendable {
    let path: String
    let children = Children()

    init(_ tag: String) throws {
        path = NSTemporaryDirectory() + "leuk-e2e-\(tag)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Kills every child and removes the directory.
    func tearDown() {
        children.killAll()
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// The `leuknode` executable built next to the test bundle.
    static var executable: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("leuknode").path
    }

    /// Launches `leuknode` with both output streams going to files (a pipe nobody reads would block a
    /// long-running node once it fills).
    func launch(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
                stdoutPath: String, stderrPath: String) throws -> Process {
        guard FileManager.default.createFile(atPath: stdoutPath, contents: nil),
              FileManager.default.createFile(atPath: stderrPath, contents: nil)
        else { throw E2EFailure("cannot create output files in \(path)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "LEUKNODE_HOME")
        env.removeValue(forKey: "LEUKNODE_SESSION")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        let input = Pipe()
        process.standardInput = input
        try process.run()
        children.register(process)
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        return process
    }

    /// Runs one `leuknode` command to completion (polling, so no test thread blocks), killing it
    /// after `timeout` seconds.
    func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
             timeout: Double = 60) async throws -> CommandResult {
        let tag = UUID().uuidString.prefix(8)
        let out = file(".cmd-\(tag).out"), err = file(".cmd-\(tag).err")
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        let process = try launch(arguments, environment: environment, stdin: stdin, stdoutPath: out, stderrPath: err)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw E2EFailure("`leuknode \(arguments.joined(separator: " "))` did not finish within \(timeout) s: \(readText(err))")
            }
            try await Task.sleep(for: .milliseconds(15))
        }
        process.waitUntilExit()
        return CommandResult(arguments: arguments, status: process.terminationStatus, stdout: readText(out), stderr: readText(err))
    }
}

func readText(_ path: String) -> String {
    String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
}

/// What a bounded wait's probe reports: done with a value, or still waiting and why.
enum Poll<T> {
    case done(T)
    case waiting(String)
}

/// Polls `probe` until it is done or `timeout` seconds pass; the failure quotes the last reason.
func eventually<T>(_ what: String, timeout: Double = 60, every interval: Double = 0.3,
                   _ probe: () async throws -> Poll<T>) async throws -> T {
    let deadline = Date().addingTimeInterval(timeout)
    var last = "never probed"
    while true {
        do {
            switch try await probe() {
            case let .done(value): return value
            case let .waiting(reason): last = reason
            }
        } catch {
            last = "probe failed: \(error)"
        }
        if Date() > deadline { throw E2EFailure("timed out after \(timeout) s waiting for \(what); last seen: \(last)") }
        try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
    }
}

/// Free loopback ports, below Linux's ephemeral range (32768-60999) so that no outgoing
/// connection of another node can take a port between the pick and the node's bind.
enum Ports {
    private static let handedOut = NSLock()
    nonisolated(unsafe) private static var used: Set<Int> = []

    static func free() throws -> Int {
        for _ in 0..<500 {
            let candidate = Int.random(in: 20_000..<32_000)
            handedOut.lock()
            let fresh = used.insert(candidate).inserted
            handedOut.unlock()
            if fresh, canBind(candidate) { return candidate }
        }
        throw E2EFailure("found no free loopback port in 20000-32000")
    }

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withLoopbackAddress(port) { bind(fd, $0, $1) == 0 }
    }
}

/// A small JSON value for reading `--json` output without depending on the node's modules: the
/// tests read the documented keys, so a renamed key fails them.
enum JSON: Sendable, Decodable, CustomStringConvertible {
    case object([String: JSON])
    case array([JSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    static func parse(_ data: Data) throws -> JSON { try JSONDecoder().decode(JSON.self, from: data) }

    subscript(key: String) -> JSON {
        if case let .object(object) = self { return object[key] ?? .null }
        return .null
    }

    var string: String? { if case let .string(s) = self { return s } else { return nil } }
    var double: Double? { if case let .number(n) = self { return n } else { return nil } }
    var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    var int: Int? { double.map { Int($0) } }
    var uint64: UInt64? { double.map { UInt64($0) } }
    var array: [JSON] { if case let .array(a) = self { return a } else { return [] } }
    var isNull: Bool { if case .null = self { return true } else { return false } }
    var keys: Set<String> { if case let .object(o) = self { return Set(o.keys) } else { return [] } }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSON].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSON].self))
        }
    }

    var description: String {
        switch self {
        case let .object(o): return "{" + o.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case let .array(a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case let .string(s): return "\"\(s)\""
        case let .number(n): return "\(n)"
        case let .bool(b): return "\(b)"
        case .null: return "null"
        }
    }
}

/// Calls `body` with 127.0.0.1:`port` as a `sockaddr` and its length, for `bind` and `connect` on raw sockets.
func withLoopbackAddress<T>(_ port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

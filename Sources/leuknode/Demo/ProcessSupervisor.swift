import Foundation
import Dispatch

/// Starts `leuknode` child processes (the demo's nodes), streams their output line by line with a
/// prefix, and makes sure none outlives the demo: Ctrl-C or SIGTERM terminate every child before the
/// demo exits, and each child is started with `--parent-pid` so it also exits if the demo is killed hard.
final class ProcessSupervisor: @unchecked Sendable {
    // @unchecked Sendable: `children` is only touched under `lock`; Process objects are thread-safe to
    // signal and wait on.
    private let lock = NSLock()
    private var children: [(name: String, process: Process)] = []
    private var signalSources: [any DispatchSourceSignal] = []
    private var interruptedBySignal = false

    /// True once Ctrl-C or SIGTERM arrived: children dying then is expected, not an error.
    var interrupted: Bool { lock.withLock { interruptedBySignal } }
    private let output = FileHandle.standardOutput

    init() {}

    /// Installs SIGINT/SIGTERM handlers that stop every child and exit with 130.
    func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                self?.lock.withLock { self?.interruptedBySignal = true }
                FileHandle.standardError.write(Data("\ninterrupted: stopping every node...\n".utf8))
                self?.terminateAll(grace: 5)
                exit(130)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Starts a child; each line it prints appears as `[name] line` (when `echo` is true) and is also
    /// handed to `onLine`.
    func start(name: String, executable: String, arguments: [String], environment: [String: String] = [:],
               echo: Bool = true, onLine: @escaping @Sendable (String) -> Void = { _ in }) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments + ["--parent-pid", String(getpid())]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let buffer = LineBuffer()
        let sink = output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                return
            }
            for line in buffer.append(data) {
                if echo { sink.write(Data("[\(name)] \(line)\n".utf8)) }
                onLine(line)
            }
        }
        try process.run()
        lock.withLock { children.append((name, process)) }
        return process
    }

    /// SIGTERM to every running child, then SIGKILL to any still alive after `grace` seconds.
    func terminateAll(grace: Double) {
        let running = lock.withLock { children.filter { $0.process.isRunning } }
        for child in running { kill(child.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline && running.contains(where: { $0.process.isRunning }) { usleep(50_000) }
        for child in running where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
    }

    var allRunning: Bool { lock.withLock { children.allSatisfy { $0.process.isRunning } } }
}

/// Splits a byte stream into lines.
final class LineBuffer: @unchecked Sendable {
    // @unchecked Sendable: mutated only under `lock`.
    private let lock = NSLock()
    private var pending = Data()

    func append(_ data: Data) -> [String] {
        lock.withLock {
            pending.append(data)
            var lines: [String] = []
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending = Data(pending[pending.index(after: newline)...])
            }
            return lines
        }
    }
}

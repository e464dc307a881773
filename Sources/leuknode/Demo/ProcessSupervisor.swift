import Foundation
import Dispatch
import Synchronization

/// Starts `leuknode` child processes (the demo's nodes), streams their output line by line with a
/// prefix, and makes sure none outlives the demo: Ctrl-C or SIGTERM terminate every child before the
/// demo exits, and each child is started with `--parent-pid` so it also exits if the demo is killed hard.
///
/// The demo keeps its own SIGINT/SIGTERM handlers (not a ServiceLifecycle group): it is a foreground
/// script, not a service, and on a signal it must forward SIGTERM to every child and exit with 130.
final class ProcessSupervisor: Sendable {
    private struct State {
        var children: [(name: String, process: Process)] = []
        var interruptedBySignal = false
    }

    private let state = Mutex(State())
    /// Kept so the handlers live as long as the supervisor.
    private let signalSources = Mutex<[any DispatchSourceSignal]>([])

    /// True once Ctrl-C or SIGTERM arrived: children dying then is expected, not an error.
    var interrupted: Bool { state.withLock { $0.interruptedBySignal } }
    private let output = FileHandle.standardOutput

    init() {}

    /// Installs SIGINT/SIGTERM handlers that stop every child and exit with 130.
    func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            // Made inside the lock, so the source belongs to the stored list from the start.
            signalSources.withLock { sources in
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { [weak self] in
                    self?.state.withLock { $0.interruptedBySignal = true }
                    FileHandle.standardError.write(Data("\ninterrupted: stopping every node...\n".utf8))
                    self?.terminateAll(grace: 5)
                    exit(130)
                }
                source.resume()
                sources.append(source)
            }
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
        state.withLock { $0.children.append((name, process)) }
        return process
    }

    /// SIGTERM to every running child, then SIGKILL to any still alive after `grace` seconds.
    func terminateAll(grace: Double) {
        let running = state.withLock { $0.children.filter { $0.process.isRunning } }
        for child in running { kill(child.process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline && running.contains(where: { $0.process.isRunning }) { usleep(50_000) }
        for child in running where child.process.isRunning { kill(child.process.processIdentifier, SIGKILL) }
    }

    var allRunning: Bool { state.withLock { $0.children.allSatisfy { $0.process.isRunning } } }
}

/// Splits a byte stream into lines.
final class LineBuffer: Sendable {
    private let pending = Mutex(Data())

    func append(_ data: Data) -> [String] {
        pending.withLock { pending in
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

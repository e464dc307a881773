import Foundation

/// Runs blocking work (CNN training steps) on one dedicated thread, so it never occupies Swift's
/// cooperative pool (two threads on a two-core machine, shared with the HTTP server) or an event loop.
///
/// `@unchecked Sendable`: the queue of jobs is guarded by `condition`; each job runs on the worker
/// thread only, which is also the only thread that touches the state the jobs close over.
final class TrainingWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var finished = false

    init(name: String) {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `work` on the worker thread and returns its result.
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            condition.lock()
            jobs.append { continuation.resume(returning: work()) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets the thread finish after the jobs already queued.
    func stop() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            if jobs.isEmpty && finished {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}

/// A value that is only ever touched on one thread (a `TrainingWorker`'s), carried across the
/// `Sendable` boundary to get there. `@unchecked Sendable` is safe because every access goes through
/// jobs the same worker runs one after another.
final class ConfinedToWorker<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

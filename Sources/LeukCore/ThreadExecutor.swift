import Foundation

/// A serial executor backed by one dedicated OS thread: the node's single way to confine blocking
/// work (training steps, CNN inference, synced LevelDB writes).
///
/// Why: Swift's cooperative pool has one thread per core (two here, shared with the HTTP server and
/// the gossip actor) and SwiftNIO's event loops must only move bytes; a job that blocks for
/// milliseconds or seconds on either stalls everything else. An actor whose `unownedExecutor` is a
/// `ThreadExecutor` runs all its methods on that thread instead, in the order they were enqueued,
/// and the compiler checks every access to its state, which a hand-made worker queue with
/// `@unchecked Sendable` wrappers could not.
///
/// Lifetime: the thread holds only the job queue, not the executor. When the last reference to the
/// executor goes (the actor that owns it is released, and with it every job that could still be
/// enqueued, since a job keeps its actor alive), the thread runs the jobs already queued and exits.
public final class ThreadExecutor: SerialExecutor {
    private let queue: JobQueue

    /// Starts the thread. `stackSize` is generous by default because the CNN's forward and backward
    /// passes keep sizeable arrays on the stack.
    public init(name: String, stackSize: Int = 8 << 20) {
        let queue = JobQueue()
        self.queue = queue
        let executor = UnownedSerialExecutor(ordinary: self)
        let thread = Thread { queue.run(on: executor) }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    deinit { queue.finish() }

    public func enqueue(_ job: consuming ExecutorJob) {
        queue.append(UnownedJob(job))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    /// The jobs waiting for the thread.
    ///
    /// `@unchecked Sendable`: `jobs` and `finished` are only touched under `condition`'s lock. A
    /// condition variable is needed to park the thread while the queue is empty, which `Mutex` alone
    /// cannot do; this is the one such lock in the node.
    private final class JobQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var jobs: [UnownedJob] = []
        private var finished = false

        func append(_ job: UnownedJob) {
            condition.lock()
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }

        func finish() {
            condition.lock()
            finished = true
            condition.signal()
            condition.unlock()
        }

        /// The thread's body: runs jobs in the order they arrived, until finished and drained.
        func run(on executor: UnownedSerialExecutor) {
            var batch: [UnownedJob] = []
            while true {
                condition.lock()
                while jobs.isEmpty && !finished { condition.wait() }
                if jobs.isEmpty {
                    condition.unlock()
                    return
                }
                swap(&batch, &jobs)
                condition.unlock()
                for job in batch { job.runSynchronously(on: executor) }
                batch.removeAll(keepingCapacity: true)
            }
        }
    }
}

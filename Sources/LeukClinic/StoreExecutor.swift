import Foundation

/// A serial executor backed by one dedicated thread, on which the `Clinic` actor runs.
///
/// Why: every acknowledged clinical record is written with a synced LevelDB batch, which blocks for a
/// disk flush. Running the actor here keeps those blocking calls off Swift's cooperative pool and off
/// NIO's event loops, and because the actor never suspends in the middle of a check-then-write, a
/// booking check and the write that claims the slot are atomic: no reentrancy, no double booking.
///
/// `@unchecked Sendable`: the job queue is only touched under `condition`'s lock.
final class StoreThreadExecutor: SerialExecutor, @unchecked Sendable {
    /// One thread for the whole process: clinics are few (one per node, a handful in tests), and a
    /// thread per clinic would outlive its clinic.
    static let shared = StoreThreadExecutor(name: "leuknode-clinic-store")

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    private init(name: String) {
        let thread = Thread { [self] in self.runLoop() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch { job.runSynchronously(on: asUnownedSerialExecutor()) }
            batch.removeAll(keepingCapacity: true)
        }
    }
}

/// Runs blocking work (Argon2id hashing, ~0.1 s and 64 MiB each) on a global dispatch queue, so it
/// neither stalls the cooperative pool nor serialises behind the clinic's store thread.
func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
    }
}

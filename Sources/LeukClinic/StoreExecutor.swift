import Foundation
import LeukCore

extension ThreadExecutor {
    /// The thread the `Clinic` actor runs on.
    ///
    /// Why: every acknowledged clinical record is written with a synced LevelDB batch, which blocks for
    /// a disk flush. Running the actor here keeps those blocking calls off Swift's cooperative pool and
    /// off NIO's event loops, and because the actor never suspends in the middle of a check-then-write,
    /// a booking check and the write that claims the slot are atomic: no reentrancy, no double booking.
    /// One thread for the whole process: clinics are few (one per node, a handful in tests), and a
    /// thread per clinic would add threads for no gain.
    static let clinicStore = ThreadExecutor(name: "leuknode-clinic-store")
}

/// Runs password hashing and checks (Argon2id: about 0.1 s and 64 MiB each) on one dedicated thread, so they
/// neither stall the cooperative pool nor serialise behind the clinic's store thread.
///
/// Why one thread rather than a global dispatch queue: each job allocates 64 MiB, and a burst of logins on a
/// queue that starts a thread per job would allocate 64 MiB per login at once; here the memory is bounded to
/// one job's, and logins queue for about a tenth of a second each. It is also the node's one way to confine
/// blocking work (`ThreadExecutor`).
actor PasswordWork {
    static let shared = PasswordWork()
    private let executor = ThreadExecutor(name: "leuknode-password-hash")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    func run<T: Sendable>(_ work: @Sendable () -> T) -> T { work() }
}

func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await PasswordWork.shared.run(work)
}

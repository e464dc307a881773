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

/// Runs blocking work (Argon2id hashing, ~0.1 s and 64 MiB each) on a global dispatch queue, so it
/// neither stalls the cooperative pool nor serialises behind the clinic's store thread.
func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
    }
}

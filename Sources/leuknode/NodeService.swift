import Foundation
import LeukNode
import ServiceLifecycle

/// The running node (trainer, federation, store) as a ServiceLifecycle `Service`, so one
/// `ServiceGroup` in `leuknode start` owns the whole shutdown order: the group stops services in
/// reverse order, and this one is first in the list, so it stops last, after the API has finished
/// the requests in flight. Then peers are told goodbye, the model is stored with a synced write and
/// the database is closed (`NodeRuntime.stop`).
struct NodeService: Service {
    let runtime: NodeRuntime
    private let apiUp: AsyncStream<Void>
    private let apiUpContinuation: AsyncStream<Void>.Continuation

    init(runtime: NodeRuntime) {
        self.runtime = runtime
        (apiUp, apiUpContinuation) = AsyncStream.makeStream()
    }

    /// Starts local training once the API answers, so the "listening" line comes before any round line.
    func startTraining() {
        apiUpContinuation.yield()
        apiUpContinuation.finish()
    }

    func run() async {
        let training = Task { [apiUp, runtime] in
            for await _ in apiUp {
                await runtime.trainUntilStopped()
                return
            }
        }
        // Training may end long before shutdown (--rounds); the node keeps averaging and serving until
        // the group shuts down gracefully, or is cancelled because another service failed.
        try? await gracefulShutdown()
        apiUpContinuation.finish()
        // In an unstructured task: on cancellation the store must still be written and closed.
        await Task { [runtime] in await runtime.stop() }.value
        await training.value
    }
}

/// Says why the node stops, and stops the group when the parent process (the demo, `--parent-pid`)
/// goes away. It is last in the group, so it is the first service told about a graceful shutdown.
struct ShutdownWatch: Service {
    let parentPID: Int32?

    func run() async {
        if let reason = await reason() { printFlushed("shutting down (\(reason))...") }
    }

    /// The reason to stop, or nil when the group was cancelled (a service failed and says why itself).
    private func reason() async -> String? {
        while true {
            if Task.isCancelled { return nil }
            // ServiceGroup does not say which of its graceful-shutdown signals arrived.
            if Task.isShuttingDownGracefully { return "SIGINT or SIGTERM" }
            if let parentPID, getppid() != parentPID { return "parent process \(parentPID) exited" }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(500)) }
        }
    }
}

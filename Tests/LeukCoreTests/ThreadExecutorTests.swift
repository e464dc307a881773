import Foundation
import Synchronization
import Testing
import LeukCore

/// An actor on a `ThreadExecutor`, as the trainer, the diagnoser and the clinic are.
private actor Confined {
    let executor: ThreadExecutor
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private(set) var log: [Int] = []
    /// How many calls are inside `work` right now, and the most ever seen at once.
    let inside = Atomic(0)
    let mostInside = Atomic(0)

    init(executor: ThreadExecutor) { self.executor = executor }

    /// The OS thread running this call (Foundation on Linux does not report a `Thread`'s name).
    func thread() -> pthread_t { pthread_self() }

    func append(_ value: Int) { log.append(value) }

    /// Blocks the thread for a moment, recording whether another call overlapped it.
    func work() {
        let now = inside.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        mostInside.max(now)
        usleep(2_000)
        inside.wrappingSubtract(1, ordering: .sequentiallyConsistent)
    }
}

private extension Atomic<Int> {
    func max(_ value: Int) {
        var current = load(ordering: .sequentiallyConsistent)
        while value > current {
            let (exchanged, original) = compareExchange(expected: current, desired: value, ordering: .sequentiallyConsistent)
            if exchanged { return }
            current = original
        }
    }
}

@Suite struct ThreadExecutorTests {
    @Test func actorMethodsRunOnOneThreadOutsideTheCooperativePool() async {
        let confined = Confined(executor: ThreadExecutor(name: "leuk-test-executor"))
        var seen: Set<pthread_t> = []
        for _ in 0..<20 { seen.insert(await confined.thread()) }
        #expect(seen.count == 1)
        let pool = await withTaskGroup(of: pthread_t.self) { group in
            for _ in 0..<20 { group.addTask { pthread_self() } }
            return await group.reduce(into: Set<pthread_t>()) { $0.insert($1) }
        }
        #expect(pool.isDisjoint(with: seen))
    }

    @Test func jobsFromOneCallerRunInOrder() async {
        let confined = Confined(executor: ThreadExecutor(name: "leuk-test-order"))
        for value in 0..<500 { await confined.append(value) }
        #expect(await confined.log == Array(0..<500))
    }

    @Test func blockingJobsFromManyTasksNeverOverlap() async {
        let confined = Confined(executor: ThreadExecutor(name: "leuk-test-serial"))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<40 { group.addTask { await confined.work() } }
        }
        #expect(confined.mostInside.load(ordering: .sequentiallyConsistent) == 1)
    }

    @Test func eachExecutorHasItsOwnThread() async {
        let first = Confined(executor: ThreadExecutor(name: "leuk-test-a"))
        let second = Confined(executor: ThreadExecutor(name: "leuk-test-b"))
        #expect(await first.thread() != second.thread())
    }

    /// The thread holds only the job queue, so an executor (and its thread) goes away with its actor
    /// instead of living for the rest of the process.
    @Test func theExecutorIsReleasedWithItsActor() async {
        weak var weakExecutor: ThreadExecutor?
        do {
            let executor = ThreadExecutor(name: "leuk-test-release")
            weakExecutor = executor
            let confined = Confined(executor: executor)
            await confined.append(1)
            #expect(await confined.log == [1])
        }
        // The executor's last job may still be finishing on its thread; give it a moment.
        for _ in 0..<200 where weakExecutor != nil { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(weakExecutor == nil)
    }
}

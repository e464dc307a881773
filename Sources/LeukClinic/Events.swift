import Foundation
import Synchronization

/// Delivers clinic events to the people they concern, as they happen.
///
/// Each subscriber gets an `AsyncStream` with a bounded buffer (the newest 256 events): a client that
/// stops reading loses old events rather than growing the node's memory without bound.
public final class EventHub: Sendable {
    private struct Subscriber {
        let userID: String
        let continuation: AsyncStream<ClinicEvent>.Continuation
    }

    private struct Table {
        var subscribers: [UInt64: Subscriber] = [:]
        var nextID: UInt64 = 0
    }

    private let table = Mutex(Table())

    public init() {}

    /// Events addressed to `userID`, until the stream is dropped or cancelled.
    public func subscribe(userID: String) -> AsyncStream<ClinicEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ClinicEvent.self, bufferingPolicy: .bufferingNewest(256))
        let id = table.withLock { table in
            table.nextID += 1
            table.subscribers[table.nextID] = Subscriber(userID: userID, continuation: continuation)
            return table.nextID
        }
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return stream
    }

    /// Sends `event` to every open subscription of each user in `userIDs` (outside the lock: a
    /// subscriber's `onTermination` takes it).
    func publish(_ event: ClinicEvent, to userIDs: Set<String>) {
        let targets = table.withLock { $0.subscribers.values.filter { userIDs.contains($0.userID) } }
        for target in targets { target.continuation.yield(event) }
    }

    /// Ends every subscription of `userID` (their sessions were revoked).
    func closeAll(userID: String) {
        let targets = table.withLock { $0.subscribers.values.filter { $0.userID == userID } }
        for target in targets { target.continuation.finish() }
    }

    /// The number of open subscriptions, for metrics and tests.
    public var subscriberCount: Int { table.withLock { $0.subscribers.count } }

    private func remove(_ id: UInt64) {
        table.withLock { $0.subscribers[id] = nil }
    }
}

import Foundation

/// Delivers clinic events to the people they concern, as they happen.
///
/// Each subscriber gets an `AsyncStream` with a bounded buffer (the newest 256 events): a client that
/// stops reading loses old events rather than growing the node's memory without bound.
/// `@unchecked Sendable`: the subscriber table is only touched under `lock`.
public final class EventHub: @unchecked Sendable {
    private struct Subscriber {
        let userID: String
        let continuation: AsyncStream<ClinicEvent>.Continuation
    }

    private let lock = NSLock()
    private var subscribers: [UInt64: Subscriber] = [:]
    private var nextID: UInt64 = 0

    public init() {}

    /// Events addressed to `userID`, until the stream is dropped or cancelled.
    public func subscribe(userID: String) -> AsyncStream<ClinicEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: ClinicEvent.self, bufferingPolicy: .bufferingNewest(256))
        lock.lock()
        nextID += 1
        let id = nextID
        subscribers[id] = Subscriber(userID: userID, continuation: continuation)
        lock.unlock()
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return stream
    }

    /// Sends `event` to every open subscription of each user in `userIDs`.
    func publish(_ event: ClinicEvent, to userIDs: Set<String>) {
        lock.lock()
        let targets = subscribers.values.filter { userIDs.contains($0.userID) }
        lock.unlock()
        for target in targets { target.continuation.yield(event) }
    }

    /// Ends every subscription of `userID` (their sessions were revoked).
    func closeAll(userID: String) {
        lock.lock()
        let targets = subscribers.values.filter { $0.userID == userID }
        lock.unlock()
        for target in targets { target.continuation.finish() }
    }

    /// The number of open subscriptions, for metrics and tests.
    public var subscriberCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return subscribers.count
    }

    private func remove(_ id: UInt64) {
        lock.lock()
        subscribers[id] = nil
        lock.unlock()
    }
}

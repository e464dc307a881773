import Foundation
import LeukCore

/// One mini-batch, ready for the CNN.
public struct Batch: Sendable {
    /// NCHW float32, `count * 3 * size * size` values, normalised.
    public var inputs: [Float]
    public var labels: [Int32]
    public var count: Int
    /// Zero-based epoch this batch belongs to.
    public var epoch: Int
    /// Positions in the cache of the images in this batch (to attribute predictions to files).
    public var cacheIndices: [Int]
}

/// Produces batches on a background thread so the training thread never waits for images:
/// per-epoch seeded shuffling, optional augmentation, normalisation, and a small bounded queue
/// of ready batches. Consume it with `next()` (blocking) or `for batch in stream`. Cancelled on
/// `cancel()` or when the stream is released. Meant for one consumer.
public final class BatchStream: Sendable, Sequence {
    public struct Configuration: Sendable {
        public var batchSize: Int
        public var epochs: Int
        public var shuffle: Bool
        /// `nil` for no augmentation (validation and test).
        public var augmentation: Augmenter.Options?
        public var seed: UInt64
        /// Batches prepared ahead of the consumer.
        public var prefetch: Int
        /// Drop a final partial batch in each epoch.
        public var dropLast: Bool

        public init(batchSize: Int, epochs: Int = 1, shuffle: Bool = true, augmentation: Augmenter.Options? = .standard,
                    seed: UInt64 = 0, prefetch: Int = 4, dropLast: Bool = false) {
            self.batchSize = batchSize; self.epochs = epochs; self.shuffle = shuffle; self.augmentation = augmentation
            self.seed = seed; self.prefetch = prefetch; self.dropLast = dropLast
        }

        /// In order, unaugmented, one pass: for evaluation.
        public static func evaluation(batchSize: Int) -> Configuration {
            Configuration(batchSize: batchSize, epochs: 1, shuffle: false, augmentation: nil)
        }
    }

    private let channel: Channel

    /// Streams the cache entries at `indices` (all of them when `nil`).
    public init(cache: ImageCache, indices: [Int]? = nil, normalization: Normalization, configuration: Configuration) {
        precondition(configuration.batchSize > 0 && configuration.prefetch > 0, "batch size and prefetch must be positive")
        let channel = Channel(capacity: configuration.prefetch)
        self.channel = channel
        let order = indices ?? Array(0..<cache.count)
        let thread = Thread {
            BatchStream.produce(cache: cache, order: order, normalization: normalization, configuration: configuration, channel: channel)
        }
        thread.name = "leuk-batches"
        thread.start()
    }

    deinit { channel.cancel() }

    /// The next batch, waiting for the producer if needed; `nil` after the last epoch.
    public func next() -> Batch? { channel.pop() }

    /// Stops the producer; later `next()` calls return `nil`.
    public func cancel() { channel.cancel() }

    public struct Iterator: IteratorProtocol {
        let stream: BatchStream
        public mutating func next() -> Batch? { stream.next() }
    }

    public func makeIterator() -> Iterator { Iterator(stream: self) }

    /// Batches per epoch for `count` images.
    public static func batchesPerEpoch(count: Int, batchSize: Int, dropLast: Bool) -> Int {
        dropLast ? count / batchSize : (count + batchSize - 1) / batchSize
    }

    private static func produce(cache: ImageCache, order: [Int], normalization: Normalization, configuration: Configuration,
                                channel: Channel) {
        defer { channel.finish() }
        let size = cache.size
        let plane = 3 * size * size
        let table = normalization.lookupTable()
        for epoch in 0..<configuration.epochs {
            let epochSeed = configuration.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)
            var rng = SeededGenerator(seed: epochSeed)
            var epochOrder = order
            if configuration.shuffle { epochOrder.shuffle(using: &rng) }
            var augmenter = configuration.augmentation.map { Augmenter(seed: epochSeed ^ 0xA5A5_A5A5, options: $0) }
            var start = 0
            while start < epochOrder.count {
                let end = Swift.min(start + configuration.batchSize, epochOrder.count)
                if configuration.dropLast && end - start < configuration.batchSize { break }
                guard channel.waitForSlot() else { return }
                let members = Array(epochOrder[start..<end])
                var inputs = [Float](repeating: 0, count: members.count * plane)
                var labels = [Int32](repeating: 0, count: members.count)
                inputs.withUnsafeMutableBufferPointer { out in
                    for (slot, index) in members.enumerated() {
                        var image = cache.images[index]
                        if augmenter != nil { image = augmenter!.augment(image) }
                        normalization.writeCHW(image, into: out.baseAddress! + slot * plane, table: table)
                        labels[slot] = Int32(cache.samples[index].label)
                    }
                }
                channel.push(Batch(inputs: inputs, labels: labels, count: members.count, epoch: epoch, cacheIndices: members))
                start = end
            }
        }
    }

    /// A bounded single-producer, single-consumer queue guarded by one condition lock.
    /// `@unchecked Sendable` is safe because every stored mutable property is read and written
    /// only while `condition` is locked. (Dispatch semaphores are not used: libdispatch traps
    /// when a semaphore is released with a count below its initial value.)
    private final class Channel: @unchecked Sendable {
        private let condition = NSCondition()
        private let capacity: Int
        private var queue: [Batch] = []
        private var finished = false
        private var cancelled = false

        init(capacity: Int) { self.capacity = capacity }

        /// Waits for room; false when the consumer cancelled.
        func waitForSlot() -> Bool {
            condition.lock()
            defer { condition.unlock() }
            while queue.count >= capacity && !cancelled { condition.wait() }
            return !cancelled
        }

        func push(_ batch: Batch) {
            condition.lock()
            queue.append(batch)
            condition.broadcast()
            condition.unlock()
        }

        func finish() {
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }

        func pop() -> Batch? {
            condition.lock()
            defer { condition.unlock() }
            while queue.isEmpty && !finished && !cancelled { condition.wait() }
            if cancelled || queue.isEmpty { return nil }
            let batch = queue.removeFirst()
            condition.broadcast()
            return batch
        }

        func cancel() {
            condition.lock()
            cancelled = true
            queue.removeAll()
            condition.broadcast()
            condition.unlock()
        }
    }
}

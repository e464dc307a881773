/// A growable, 64-byte aligned block of `Float` that layers keep between batches.
///
/// The training loop must not allocate per batch: every layer sizes its buffers on the first batch
/// of a given size and reuses them afterwards. `reserve` only reallocates when a larger batch arrives.
/// Contents are not preserved across a reallocation, which is fine for scratch space.
public final class FloatBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        self.pointer = FloatBuffer.allocate(self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Makes room for at least `count` floats. Returns the (possibly new) base pointer.
    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = FloatBuffer.allocate(count)
            pointer.initialize(repeating: 0, count: count)
        }
        return pointer
    }

    /// Sets the first `count` floats to zero.
    public func zero(_ count: Int) {
        precondition(count <= capacity, "FloatBuffer.zero beyond capacity")
        pointer.update(repeating: 0, count: count)
    }

    /// A copy of the first `count` floats.
    public func array(_ count: Int) -> [Float] {
        precondition(count <= capacity, "FloatBuffer.array beyond capacity")
        return Array(UnsafeBufferPointer(start: pointer, count: count))
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: count)
    }
}

/// The same idea for the one-byte argmax codes that max-pooling keeps for its backward pass.
public final class ByteBuffer {
    public private(set) var pointer: UnsafeMutablePointer<UInt8>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        self.pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    @discardableResult
    public func reserve(_ count: Int) -> UnsafeMutablePointer<UInt8> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
        }
        return pointer
    }
}

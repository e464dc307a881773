import Dispatch
import Synchronization

/// Runs `body` for every index on `threads` worker threads and returns the results in index order.
/// Used for decoding, which is pure CPU work on independent files; never call it on an event loop.
func parallelMap<T: Sendable>(count: Int, threads: Int, _ body: @Sendable (Int) -> T) -> [T] {
    if count == 0 { return [] }
    let workers = max(1, min(threads, count))
    let results = Mutex<[Int: T]>([:])
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        var local: [(Int, T)] = []
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= count { break }
            local.append((i, body(i)))
        }
        results.withLock { dict in for (i, value) in local { dict[i] = value } }
    }
    return results.withLock { dict in (0..<count).map { dict[$0]! } }
}

/// A 64-bit non-cryptographic hash for finding candidate duplicates quickly; equal hashes are
/// always confirmed by comparing the bytes, so collisions cannot produce a false duplicate.
func fastHash(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ UInt64(bytes.count)
    bytes.withUnsafeBytes { raw in
        let words = raw.count / 8
        for i in 0..<words {
            let w = raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            h = (h ^ w) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        for i in (words * 8)..<raw.count { h = (h ^ UInt64(raw[i])) &* 0x0000_0100_0000_01B3 }
    }
    h ^= h >> 33; h = h &* 0xFF51_AFD7_ED55_8CCD; h ^= h >> 33
    return h
}

internal import CLevelDB
public import LeukCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why the database refused an operation. The open failures are the ones an operator meets.
public enum StoreError: LeukUserFacingError, Equatable {
    case missingDirectory(String)
    case inUse(String)
    case corrupt(path: String, detail: String)
    case diskFull(path: String, detail: String)
    case io(path: String, detail: String)
    case recordCorrupt(key: String, detail: String)
    case unsupportedRecordVersion(key: String, version: Int)
    case locked(key: String)
    case closed

    public var description: String {
        switch self {
        case let .missingDirectory(p): return "data directory \(p) does not exist"
        case let .inUse(p): return "another leuknode is already using \(p)"
        case let .corrupt(p, d): return "the database in \(p) is corrupt: \(d)"
        case let .diskFull(p, d): return "the disk holding \(p) is full: \(d)"
        case let .io(p, d): return "database I/O error in \(p): \(d)"
        case let .recordCorrupt(k, d): return "record '\(k)' is unreadable: \(d)"
        case let .unsupportedRecordVersion(k, v): return "record '\(k)' has format version \(v), newer than this leuknode reads"
        case let .locked(k): return "record '\(k)' is encrypted and the node's key was not unlocked"
        case .closed: return "the database is closed"
        }
    }

    public var hint: String? {
        switch self {
        case .missingDirectory: return "run `leuknode init --data-dir DIR` first, or pass the right --data-dir"
        case .inUse: return "stop the other process (or talk to it: the CLI reaches a running node through its API)"
        case .corrupt:
            return "leuknode will not repair it silently (repair can drop records). Stop the node, back up the directory, "
                + "then restore from backup or run a LevelDB repair on the copy; see docs/operations.md"
        case .diskFull: return "free disk space; nothing acknowledged was lost"
        case .io: return "check the disk and the directory permissions"
        case .recordCorrupt: return "restore the data directory from backup; see docs/operations.md"
        case .unsupportedRecordVersion: return "upgrade leuknode"
        case .locked: return "unlock the key file (--passphrase-stdin) for commands that read encrypted records"
        case .closed: return nil
        }
    }
}

/// A LevelDB database. Owns the `leveldb_t*` and every option object, and frees them in `deinit`.
///
/// `@unchecked Sendable`: the option objects are C pointers, written only in `init` and freed only in
/// `deinit`, and LevelDB's handle is safe for concurrent reads and writes from many threads
/// (documented in leveldb/db.h). The mutable Swift state, whether the handle is open and who is
/// using it, is a `Mutex<HandleState>`; whether writes are refused after a failed one is a
/// `Mutex<WriteState>`, which also serialises the writes.
///
/// A failed write (a full disk, an I/O error) is never followed by another write to the same LevelDB
/// handle. LevelDB does not guarantee that is safe: a write cut short by a full disk can leave half a
/// record in its log, and its log writer carries on after it, so the next record lands behind the torn one
/// and the log no longer reads back (with paranoid checks the database would not open; without them every
/// later record of the block would be dropped, acknowledged ones included). So after a failed write the
/// database refuses writes, keeps answering reads from the open handle, and once the disk has
/// `minimumFreeBytes` free again, the next write closes and reopens it (LevelDB's recovery stops cleanly at
/// a torn record at the end of its log) before it goes on.
public final class Database: @unchecked Sendable {
    public let path: String
    private let state: Mutex<HandleState>
    private let writes: Mutex<WriteState>
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let readOptions: OpaquePointer
    /// Injected faults beneath the writes and opens (tests); `nil` in a node.
    private let faults: WriteFaults?
    /// Free bytes the disk must have before a refused database reopens: a reopen writes LevelDB's
    /// memory table (up to its 4 MiB write buffer) and a new manifest, and fails again with less.
    public let minimumFreeBytes: Int

    /// The open handle and how many calls are using it. A call borrows the handle and gives it back;
    /// `close` takes it away, and whichever of `close` and the last call to give it back finds it
    /// taken and unused closes it: a close never frees the handle under a running call, which merely
    /// reading the handle under a lock would allow.
    private struct HandleState {
        var open: Handle?
        var closing: Handle?
        var users = 0
        /// `close` was called: a reopen must not bring the handle back.
        var closed = false
        /// Why there is no handle although `close` was not called: a reopen after a failed write failed.
        var lost: StoreError?
    }

    /// Whether writes are refused, and what a reopen must undo first.
    private struct WriteState {
        /// Why the last write failed; `nil` while writes go through.
        var failure: StoreError?
        /// For each refused write, its keys' values from before it, in the order the writes failed.
        ///
        /// Why: LevelDB says a write whose sync failed "may or may not show up when the DB is re-opened",
        /// and the caller was told it failed (the clinic kept its memory as it was; a refused booking may
        /// not come back as a second holder of its slot). Writing these back after the reopen makes a
        /// refused write absent, whichever way LevelDB's recovery went.
        var undo: [WriteBatch] = []
        /// The values before a refused write could not be read, so it cannot be undone in this process;
        /// writes stay refused until the node restarts (a restart rebuilds every cache from the disk).
        var undoUnknown = false
    }

    /// `leveldb_t*`. `@unchecked Sendable`: LevelDB allows any thread to use it (leveldb/db.h), and
    /// `HandleState` decides when it is closed.
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Opens (or with `createIfMissing`, creates) the database directory at `path`.
    /// Blocking: call from a thread pool, never from an event loop.
    ///
    /// - Parameters:
    ///   - faults: write faults to inject beneath the database (tests of a full disk); `nil` in a node.
    ///   - minimumFreeBytes: free bytes the disk must have before writes resume after a failed one.
    public init(path: String, createIfMissing: Bool, faults: WriteFaults? = nil, minimumFreeBytes: Int = 8 << 20) throws(StoreError) {
        self.path = path
        self.faults = faults
        self.minimumFreeBytes = minimumFreeBytes
        writes = Mutex(WriteState())
        let parent = (path as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: parent.isEmpty ? "." : parent, isDirectory: &isDir) || !isDir.boolValue {
            throw .missingDirectory(parent)
        }
        if !createIfMissing && !FileManager.default.fileExists(atPath: path) { throw .missingDirectory(path) }
        options = leveldb_options_create()
        leveldb_options_set_create_if_missing(options, createIfMissing ? 1 : 0)
        leveldb_options_set_paranoid_checks(options, 1)
        leveldb_options_set_compression(options, Int32(leveldb_snappy_compression))
        syncWrite = leveldb_writeoptions_create()
        leveldb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = leveldb_writeoptions_create()
        readOptions = leveldb_readoptions_create()
        leveldb_readoptions_set_verify_checksums(readOptions, 1)
        var error: UnsafeMutablePointer<CChar>?
        let injected = faults?.openFailure(path: path)
        let handle = injected == nil ? leveldb_open(options, path, &error) : nil
        state = Mutex(HandleState(open: handle.map(Handle.init)))
        // Every stored property is set by now, so a throw runs `deinit`, which frees the options.
        if let injected { throw Self.classify(injected, path: path) }
        if let message = Self.take(&error) { throw Self.classify(message, path: path) }
    }

    deinit {
        close()
        leveldb_options_destroy(options)
        leveldb_writeoptions_destroy(syncWrite)
        leveldb_writeoptions_destroy(asyncWrite)
        leveldb_readoptions_destroy(readOptions)
    }

    /// Closes the database; later calls fail with `.closed`. Idempotent. Calls already running finish
    /// first: the last of them closes the handle (a node closes its store after its work has stopped,
    /// so in practice the handle is closed here).
    public func close() {
        let idle = state.withLock { state -> Handle? in
            state.closed = true
            guard let handle = state.open else { return nil }
            state.open = nil
            guard state.users == 0 else {
                state.closing = handle
                return nil
            }
            return handle
        }
        if let idle { leveldb_close(idle.pointer) }
    }

    /// Runs `body` with the open handle, which stays open until `body` returns.
    private func withHandle<T>(_ body: (OpaquePointer) throws(StoreError) -> T) throws(StoreError) -> T {
        let borrowed = state.withLock { state -> Result<Handle, StoreError> in
            guard let handle = state.open else { return .failure(state.closed ? .closed : state.lost ?? .closed) }
            state.users += 1
            return .success(handle)
        }
        let handle: Handle
        switch borrowed {
        case let .success(borrowed): handle = borrowed
        case let .failure(error): throw error
        }
        defer {
            let unused = state.withLock { state -> Handle? in
                state.users -= 1
                guard state.users == 0, let handle = state.closing else { return nil }
                state.closing = nil
                return handle
            }
            if let unused { leveldb_close(unused.pointer) }
        }
        return try body(handle.pointer)
    }

    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        try withHandle { db throws(StoreError) in
            var length = 0
            var error: UnsafeMutablePointer<CChar>?
            let value = key.withUnsafeBufferPointer { k in
                k.withMemoryRebound(to: CChar.self) { leveldb_get(db, readOptions, $0.baseAddress, k.count, &length, &error) }
            }
            if let message = Self.take(&error) { throw Self.classify(message, path: path) }
            guard let value else { return nil }
            defer { leveldb_free(value) }
            return Array(UnsafeRawBufferPointer(start: value, count: length))
        }
    }

    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool) throws(StoreError) {
        var batch = WriteBatch()
        batch.put(key, value)
        try write(batch, sync: sync)
    }

    public func delete(_ key: [UInt8], sync: Bool) throws(StoreError) {
        var batch = WriteBatch()
        batch.delete(key)
        try write(batch, sync: sync)
    }

    /// Applies every operation of `batch` atomically. With `sync`, returns only once the write is on
    /// stable storage: use it for anything acknowledged to a user.
    ///
    /// After a failed write every write fails with the same error until the disk has `minimumFreeBytes`
    /// free; the first write after that reopens the database and goes on (see the type's comment).
    /// Writes run one at a time.
    public func write(_ batch: WriteBatch, sync: Bool) throws(StoreError) {
        try writes.withLock { writes throws(StoreError) in
            if let failure = writes.failure { try recover(&writes, from: failure) }
            do throws(StoreError) {
                if let fault = faults?.writeFault(batch, path: path) { throw Self.classify(fault, path: path) }
                try apply(batch, sync: sync)
            } catch {
                switch error {
                case .diskFull, .io, .corrupt:
                    // The handle's reads do not see a failed write (LevelDB adds it to its memory table only
                    // after the log took it), so they give the values from before it.
                    do { writes.undo.append(try undoing(batch)) } catch { writes.undoUnknown = true }
                    writes.failure = error
                case .missingDirectory, .inUse, .recordCorrupt, .unsupportedRecordVersion, .locked, .closed:
                    break
                }
                throw error
            }
        }
    }

    /// Whether writes are refused after a failed one, and why.
    public var writeFailure: StoreError? { writes.withLock { $0.failure } }

    /// Free bytes on the disk holding the database, for a process that is not root (`f_bavail`).
    public func freeBytes() -> Int {
        if let faults, faults.isFull { return 0 }
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Called with writes refused: throws `failure` (with the free space) while the disk is still short,
    /// else reopens the database, writes back what refused writes changed, and lets writes through again.
    private func recover(_ writes: inout WriteState, from failure: StoreError) throws(StoreError) {
        guard !writes.undoUnknown else {
            throw .io(path: path, detail: "a write failed and what it changed could not be read back; restart the node "
                + "(it reloads everything from the disk). The first failure: \(failure.description)")
        }
        let free = freeBytes()
        guard free >= minimumFreeBytes else {
            switch failure {
            case let .diskFull(path, detail):
                throw .diskFull(path: path, detail: "\(detail); \(free) bytes free, writes resume at \(minimumFreeBytes)")
            default:
                throw failure
            }
        }
        // A read is using the handle: refuse this write as before; the next one tries again.
        guard try reopen(after: failure) else { throw failure }
        var undo = WriteBatch()
        for batch in writes.undo.reversed() { undo.operations += batch.operations }
        if !undo.isEmpty { try apply(undo, sync: true) }
        writes.undo = []
        writes.failure = nil
    }

    /// The operations that give `batch`'s keys their present values again.
    private func undoing(_ batch: WriteBatch) throws(StoreError) -> WriteBatch {
        var undo = WriteBatch()
        for operation in batch.operations {
            let key: [UInt8]
            switch operation {
            case let .put(k, _): key = k
            case let .delete(k): key = k
            }
            if let value = try get(key) { undo.put(key, value) } else { undo.delete(key) }
        }
        return undo
    }

    /// Closes the handle and opens the database again. Throws, and leaves no handle, when the open fails.
    /// Returns false, with the handle kept, when a read is using it (the next write tries again). Reads that
    /// come while there is no handle fail with `failure`, the reason writes are refused.
    private func reopen(after failure: StoreError) throws(StoreError) -> Bool {
        let taken = state.withLock { state -> Result<Handle?, StoreError>? in
            if state.closed { return .failure(.closed) }
            guard state.users == 0 else { return nil }
            defer {
                state.open = nil
                state.lost = failure
            }
            return .success(state.open)
        }
        switch taken {
        case nil: return false
        case let .success(old)?: if let old { leveldb_close(old.pointer) }
        case let .failure(error)?: throw error
        }
        var error: UnsafeMutablePointer<CChar>?
        let injected = faults?.openFailure(path: path)
        let handle = injected == nil ? leveldb_open(options, path, &error) : nil
        var opening: StoreError?
        if let injected {
            opening = Self.classify(injected, path: path)
        } else if let message = Self.take(&error) {
            opening = Self.classify(message, path: path)
        }
        let orphan = state.withLock { state -> Handle? in
            state.lost = opening
            guard let handle else { return nil }
            guard !state.closed else { return Handle(pointer: handle) }
            state.open = Handle(pointer: handle)
            return nil
        }
        if let orphan {
            leveldb_close(orphan.pointer)
            throw .closed
        }
        if let opening { throw opening }
        // The emulated log's tail is replayed as LevelDB's recovery would replay a record it took before a failed sync.
        if let logged = faults?.takeLogged() { try apply(logged, sync: true) }
        return true
    }

    /// Hands `batch` to LevelDB.
    private func apply(_ batch: WriteBatch, sync: Bool) throws(StoreError) {
        try withHandle { db throws(StoreError) in
            let native = leveldb_writebatch_create()
            defer { leveldb_writebatch_destroy(native) }
            for operation in batch.operations {
                switch operation {
                case let .put(key, value):
                    key.withUnsafeBufferPointer { k in
                        value.withUnsafeBufferPointer { v in
                            k.withMemoryRebound(to: CChar.self) { kc in
                                v.withMemoryRebound(to: CChar.self) { vc in
                                    leveldb_writebatch_put(native, kc.baseAddress, kc.count, vc.baseAddress, vc.count)
                                }
                            }
                        }
                    }
                case let .delete(key):
                    key.withUnsafeBufferPointer { k in
                        k.withMemoryRebound(to: CChar.self) { leveldb_writebatch_delete(native, $0.baseAddress, $0.count) }
                    }
                }
            }
            var error: UnsafeMutablePointer<CChar>?
            leveldb_write(db, sync ? syncWrite : asyncWrite, native, &error)
            if let message = Self.take(&error) { throw Self.classify(message, path: path) }
        }
    }

    /// Every (key, value) whose key starts with `prefix`, in key order. `limit` bounds the result.
    public func scan(prefix: [UInt8], limit: Int = .max) throws(StoreError) -> [(key: [UInt8], value: [UInt8])] {
        try withHandle { db throws(StoreError) in
            let iterator = leveldb_create_iterator(db, readOptions)!
            defer { leveldb_iter_destroy(iterator) }
            prefix.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { leveldb_iter_seek(iterator, $0.baseAddress, $0.count) }
            }
            var out: [(key: [UInt8], value: [UInt8])] = []
            while leveldb_iter_valid(iterator) != 0 && out.count < limit {
                var keyLength = 0, valueLength = 0
                let keyPointer = leveldb_iter_key(iterator, &keyLength)!
                let key = Array(UnsafeRawBufferPointer(start: keyPointer, count: keyLength))
                guard key.starts(with: prefix) else { break }
                let valuePointer = leveldb_iter_value(iterator, &valueLength)
                let value = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: valueLength)) } ?? []
                out.append((key, value))
                leveldb_iter_next(iterator)
            }
            var error: UnsafeMutablePointer<CChar>?
            leveldb_iter_get_error(iterator, &error)
            if let message = Self.take(&error) { throw Self.classify(message, path: path) }
            return out
        }
    }

    private static func take(_ error: inout UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer = error else { return nil }
        defer { leveldb_free(pointer); error = nil }
        return String(cString: pointer)
    }

    /// Maps LevelDB's status text onto the cases an operator can act on.
    static func classify(_ message: String, path: String) -> StoreError {
        let lower = message.lowercased()
        if lower.contains("lock") && (lower.contains("temporarily unavailable") || lower.contains("already held")) {
            return .inUse(path)
        }
        if lower.hasPrefix("corruption") { return .corrupt(path: path, detail: message) }
        if lower.contains("no space left") { return .diskFull(path: path, detail: message) }
        if lower.contains("does not exist") { return .missingDirectory(path) }
        return .io(path: path, detail: message)
    }
}

/// Operations applied together by `Database.write`: all or none.
public struct WriteBatch: Sendable {
    enum Operation: Sendable {
        case put([UInt8], [UInt8])
        case delete([UInt8])
    }
    var operations: [Operation] = []

    public init() {}
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { operations.append(.put(key, value)) }
    public mutating func delete(_ key: [UInt8]) { operations.append(.delete(key)) }
    public var isEmpty: Bool { operations.isEmpty }
}

/// Write faults injected beneath a `Database`, for tests of a full disk that do not depend on the right to
/// mount a small filesystem.
///
/// LevelDB's C API takes no custom `Env`, so the layer sits where every write and open of the database
/// passes, and fails them with the words LevelDB's POSIX environment uses for ENOSPC
/// (`IO error: <file>: No space left on device`): `Database.classify` and everything above it see what a
/// real full disk gives them. A full disk also reads as 0 free bytes.
public final class WriteFaults: Sendable {
    public enum Mode: Sendable, Equatable {
        /// Writes and opens go through.
        case none
        /// The disk is full: every write and open fails before it reaches LevelDB.
        case diskFull
        /// The disk fills up during the next write: its record reaches LevelDB's log but the sync fails, so
        /// the write is refused, yet LevelDB would replay it at the next open (its own words: "may or may not
        /// show up when the DB is re-opened"; here it always does). After that write the disk is full.
        case diskFullAfterLogging
    }

    private struct State {
        var mode: Mode = .none
        /// The emulated log's tail: a refused write that the next open replays.
        var logged: WriteBatch?
        var refusedWrites = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Fills the disk (`.diskFull`, `.diskFullAfterLogging`) or frees it (`.none`).
    public func set(_ mode: Mode) { state.withLock { $0.mode = mode } }

    /// Writes refused so far.
    public var refusedWrites: Int { state.withLock { $0.refusedWrites } }

    var isFull: Bool { state.withLock { $0.mode != .none } }

    /// LevelDB's message for a write to `path` on a full disk, or `nil` when the write goes through.
    func writeFault(_ batch: WriteBatch, path: String) -> String? {
        state.withLock { state -> String? in
            switch state.mode {
            case .none: return nil
            case .diskFull: break
            case .diskFullAfterLogging:
                state.logged = batch
                state.mode = .diskFull
            }
            state.refusedWrites += 1
            return "IO error: \(path)/000005.log: No space left on device"
        }
    }

    /// LevelDB's message for an open of `path` on a full disk (it writes a new manifest), or `nil`.
    func openFailure(path: String) -> String? {
        isFull ? "IO error: \(path)/MANIFEST-000007: No space left on device" : nil
    }

    /// The refused write the emulated log still holds, once.
    func takeLogged() -> WriteBatch? {
        state.withLock { state -> WriteBatch? in
            defer { state.logged = nil }
            return state.logged
        }
    }
}

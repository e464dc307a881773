internal import CLevelDB
public import LeukCore
import Foundation
import Synchronization

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
/// (documented in leveldb/db.h). The one mutable Swift state, whether the handle is open and who is
/// using it, is a `Mutex<HandleState>`.
public final class Database: @unchecked Sendable {
    public let path: String
    private let state: Mutex<HandleState>
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let readOptions: OpaquePointer

    /// The open handle and how many calls are using it. A call borrows the handle and gives it back;
    /// `close` takes it away, and whichever of `close` and the last call to give it back finds it
    /// taken and unused closes it: a close never frees the handle under a running call, which merely
    /// reading the handle under a lock would allow.
    private struct HandleState {
        var open: Handle?
        var closing: Handle?
        var users = 0
    }

    /// `leveldb_t*`. `@unchecked Sendable`: LevelDB allows any thread to use it (leveldb/db.h), and
    /// `HandleState` decides when it is closed.
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Opens (or with `createIfMissing`, creates) the database directory at `path`.
    /// Blocking: call from a thread pool, never from an event loop.
    public init(path: String, createIfMissing: Bool) throws(StoreError) {
        self.path = path
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
        let handle = leveldb_open(options, path, &error)
        state = Mutex(HandleState(open: handle.map(Handle.init)))
        // Every stored property is set by now, so a throw runs `deinit`, which frees the options.
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
        let borrowed = state.withLock { state -> Handle? in
            guard let handle = state.open else { return nil }
            state.users += 1
            return handle
        }
        guard let borrowed else { throw .closed }
        defer {
            let unused = state.withLock { state -> Handle? in
                state.users -= 1
                guard state.users == 0, let handle = state.closing else { return nil }
                state.closing = nil
                return handle
            }
            if let unused { leveldb_close(unused.pointer) }
        }
        return try body(borrowed.pointer)
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
    public func write(_ batch: WriteBatch, sync: Bool) throws(StoreError) {
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

internal import CLevelDB
public import LeukCore
import Foundation

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
/// `@unchecked Sendable`: LevelDB's handle is safe for concurrent reads and writes from many threads
/// (documented in leveldb/db.h); the only mutable Swift state is `handle`, which is written once at
/// open and once at close under `lock`.
public final class Database: @unchecked Sendable {
    public let path: String
    private var handle: OpaquePointer?
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let readOptions: OpaquePointer
    private let lock = NSLock()

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
        handle = leveldb_open(options, path, &error)
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

    /// Closes the database; later calls fail with `.closed`. Idempotent.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if let handle { leveldb_close(handle) }
        handle = nil
    }

    private func db() throws(StoreError) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        guard let handle else { throw .closed }
        return handle
    }

    public func get(_ key: [UInt8]) throws(StoreError) -> [UInt8]? {
        let db = try db()
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
        let db = try db()
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

    /// Every (key, value) whose key starts with `prefix`, in key order. `limit` bounds the result.
    public func scan(prefix: [UInt8], limit: Int = .max) throws(StoreError) -> [(key: [UInt8], value: [UInt8])] {
        let db = try db()
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

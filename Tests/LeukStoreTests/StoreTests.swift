import Testing
import Foundation
import LeukCore
import LeukCrypto
@testable import LeukStore

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "leuk-store-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A small record type exercising the versioned encoding.
struct Note: StoreRecord, Equatable {
    static let formatVersion: UInt8 = 2
    var author: String
    var text: String
    var priority: UInt32

    init(author: String, text: String, priority: UInt32) {
        self.author = author
        self.text = text
        self.priority = priority
    }

    func encode(to writer: inout BinaryWriter) {
        writer.writeString(author)
        writer.writeString(text)
        writer.write(priority)
    }

    init(decoding reader: inout BinaryReader, version: UInt8) throws(BinaryDecodingError) {
        author = try reader.readString("author", limit: 1000)
        text = try reader.readString("text", limit: 1 << 20)
        // Version 1 had no priority: old records still read.
        priority = version >= 2 ? try reader.readUInt32("priority") : 0
    }
}

private let clinical = Keyspace("clinical", sensitive: true)
private let plain = Keyspace("plain", sensitive: false)

@Suite(.serialized) struct DatabaseTests {
    @Test func putGetDeleteBatchAndPrefixScan() throws {
        let dir = temporaryDirectory()
        let db = try Database(path: dir + "/db", createIfMissing: true)
        try db.put(Array("a/1".utf8), [1], sync: true)
        try db.put(Array("a/2".utf8), [2], sync: false)
        try db.put(Array("b/1".utf8), [3], sync: false)
        #expect(try db.get(Array("a/1".utf8)) == [1])
        #expect(try db.get(Array("zzz".utf8)) == nil)
        var batch = WriteBatch()
        batch.put(Array("a/3".utf8), [4])
        batch.delete(Array("a/1".utf8))
        try db.write(batch, sync: true)
        let rows = try db.scan(prefix: Array("a/".utf8))
        #expect(rows.map { String(decoding: $0.key, as: UTF8.self) } == ["a/2", "a/3"])
        #expect(try db.scan(prefix: Array("a/".utf8), limit: 1).count == 1)
        try db.put(Array("empty".utf8), [], sync: false)
        #expect(try db.get(Array("empty".utf8)) == [])
        db.close()
        #expect(throws: StoreError.closed) { try db.get(Array("a/2".utf8)) }
    }

    /// A close while other threads scan must neither free the handle under a running scan (the last
    /// call closes it) nor leave it open: once every call is over, the directory opens again.
    @Test func closingWhileOthersReadWaitsForThemAndThenReleasesTheDirectory() async throws {
        let dir = temporaryDirectory()
        let db = try Database(path: dir + "/db", createIfMissing: true)
        var batch = WriteBatch()
        for i in 0..<500 { batch.put(Array("k/\(i)".utf8), [UInt8](repeating: UInt8(i % 251), count: 256)) }
        try db.write(batch, sync: false)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<200 {
                        do { #expect(try db.scan(prefix: Array("k/".utf8)).count == 500) } catch {
                            #expect(error as? StoreError == .closed)
                            return
                        }
                    }
                }
            }
            group.addTask {
                await Task.yield()
                db.close()
            }
        }
        #expect(throws: StoreError.closed) { try db.get(Array("k/1".utf8)) }
        let reopened = try Database(path: dir + "/db", createIfMissing: false)
        #expect(try reopened.get(Array("k/7".utf8))?.count == 256)
        reopened.close()
    }

    @Test func secondOpenSaysAlreadyInUse() throws {
        let dir = temporaryDirectory()
        let first = try Database(path: dir + "/db", createIfMissing: true)
        do {
            _ = try Database(path: dir + "/db", createIfMissing: false)
            Issue.record("a second open succeeded")
        } catch {
            #expect(error == .inUse(dir + "/db"))
            #expect(error.description == "another leuknode is already using \(dir)/db")
        }
        first.close()
        _ = try Database(path: dir + "/db", createIfMissing: false)
    }

    @Test func missingDirectoryIsReported() {
        #expect(throws: StoreError.missingDirectory("/nonexistent-leuk/x")) {
            try Database(path: "/nonexistent-leuk/x/db", createIfMissing: true)
        }
        let dir = temporaryDirectory()
        #expect(throws: StoreError.missingDirectory(dir + "/db")) { try Database(path: dir + "/db", createIfMissing: false) }
    }

    @Test func corruptDatabaseIsRefusedNotRepaired() throws {
        let dir = temporaryDirectory()
        let path = dir + "/db"
        do {
            let db = try Database(path: path, createIfMissing: true)
            for i in 0..<200 { try db.put(Array("k\(i)".utf8), Array(repeating: UInt8(i & 0xFF), count: 100), sync: false) }
            db.close()
        }
        // Destroy the manifest the CURRENT file points at.
        let current = try String(contentsOfFile: path + "/CURRENT", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try Data(repeating: 0xAB, count: 64).write(to: URL(fileURLWithPath: path + "/" + current))
        do {
            _ = try Database(path: path, createIfMissing: false)
            Issue.record("a corrupt database opened")
        } catch {
            guard case .corrupt = error else {
                Issue.record("expected .corrupt, got \(error)")
                return
            }
            #expect(error.hint?.contains("will not repair it silently") == true)
        }
    }
}

@Suite(.serialized) struct RecordStoreTests {
    @Test func canaryIsNowhereInTheRawFiles() throws {
        let dir = temporaryDirectory()
        let identity = NodeIdentity.generate()
        let canary = "CANARY-\(UUID().uuidString)"
        do {
            let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: true), identity: identity)
            for i in 0..<50 {
                try store.put(Note(author: "dr-\(i)", text: "patient note \(canary) \(i)", priority: 1), in: clinical, id: "n\(i)", sync: true)
            }
            // Control: the same canary in a plain keyspace IS found, so the scan below can fail.
            try store.put(Note(author: "x", text: "CONTROL-" + canary, priority: 0), in: plain, id: "c", sync: true)
            store.database.close()
        }
        let needle = Array(canary.utf8)
        var hits: [String: Int] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: dir + "/db") {
            let bytes = [UInt8](FileManager.default.contents(atPath: dir + "/db/" + file) ?? Data())
            var count = 0
            if bytes.count >= needle.count {
                for i in 0...(bytes.count - needle.count) where bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle {
                    count += 1
                }
            }
            if count > 0 { hits[file] = count }
        }
        #expect(hits.values.reduce(0, +) == 1, "only the plain control record may contain the canary: \(hits)")

        let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: false), identity: identity)
        #expect(try store.get(Note.self, in: clinical, id: "n7")?.text == "patient note \(canary) 7")
        #expect(try store.all(Note.self, in: clinical, idPrefix: "n1").map(\.id) == ["n1", "n10", "n11", "n12", "n13", "n14", "n15", "n16", "n17", "n18", "n19"])
    }

    @Test func anotherNodesKeyCannotOpenTheDataKey() throws {
        let dir = temporaryDirectory()
        do {
            let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: true), identity: NodeIdentity.generate())
            try store.put(Note(author: "a", text: "t", priority: 0), in: clinical, id: "1", sync: true)
            store.database.close()
        }
        #expect(throws: StoreError.self) {
            try RecordStore(database: Database(path: dir + "/db", createIfMissing: false), identity: NodeIdentity.generate())
        }
    }

    @Test func swappedCiphertextsAndNewerVersionsAreRefused() throws {
        let dir = temporaryDirectory()
        let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: true), identity: NodeIdentity.generate())
        try store.put(Note(author: "a", text: "first", priority: 1), in: clinical, id: "1", sync: false)
        try store.put(Note(author: "b", text: "second", priority: 2), in: clinical, id: "2", sync: false)
        let one = try store.database.get(clinical.key("1"))!
        try store.database.put(clinical.key("2"), one, sync: false)
        #expect(throws: StoreError.self) { try store.get(Note.self, in: clinical, id: "2") }

        var newer = one
        newer[0] = 9
        try store.database.put(clinical.key("3"), newer, sync: false)
        #expect(throws: StoreError.unsupportedRecordVersion(key: "clinical/3", version: 9)) { try store.get(Note.self, in: clinical, id: "3") }
        try store.database.put(plain.key("4"), [2, 0, 1], sync: false)
        #expect(throws: StoreError.self) { try store.get(Note.self, in: plain, id: "4") }
    }

    @Test func olderRecordVersionsStillRead() throws {
        let dir = temporaryDirectory()
        let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: true), identity: NodeIdentity.generate())
        var writer = BinaryWriter()
        writer.writeString("old")
        writer.writeString("v1 record")
        try store.database.put(plain.key("old"), [1, 0] + writer.bytes, sync: false)
        #expect(try store.get(Note.self, in: plain, id: "old") == Note(author: "old", text: "v1 record", priority: 0))
    }

    @Test func typedBatchIsAtomic() throws {
        let dir = temporaryDirectory()
        let store = try RecordStore(database: Database(path: dir + "/db", createIfMissing: true), identity: NodeIdentity.generate())
        var batch = store.batch()
        batch.put(Note(author: "a", text: "x", priority: 1), in: clinical, id: "1")
        batch.put(Note(author: "b", text: "y", priority: 2), in: plain, id: "2")
        try store.commit(batch, sync: true)
        #expect(try store.get(Note.self, in: clinical, id: "1")?.author == "a")
        #expect(try store.get(Note.self, in: plain, id: "2")?.priority == 2)
    }
}

import Testing
import Foundation
@testable import LeukStore

/// A full disk beneath `Database`, through the injected write-error layer (`WriteFaults`): writes are
/// refused with `.diskFull`, nothing acknowledged is lost, reads go on, and writes resume by themselves once
/// space returns. docs/scripts/crash_loop.py fills a real tmpfs for the same story where mounting is allowed.
@Suite struct DiskFullTests {
    private static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "leuk-diskfull-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private static func key(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func refusesWritesWhileFullKeepsEveryAcknowledgedRecordAndResumesWhenSpaceReturns() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let faults = WriteFaults()
        let db = try Database(path: dir + "/db", createIfMissing: true, faults: faults, minimumFreeBytes: 1)
        for i in 0..<20 { try db.put(Self.key("ack/\(i)"), [UInt8(i)], sync: true) }

        faults.set(.diskFull)
        #expect(db.freeBytes() == 0)
        do {
            try db.put(Self.key("refused/0"), [1], sync: true)
            Issue.record("a write on a full disk went through")
        } catch {
            guard case let .diskFull(path, detail) = error else { Issue.record("not a disk-full error: \(error)"); return }
            #expect(path == dir + "/db" && detail.contains("No space left on device"), "\(error)")
            #expect(error.hint?.contains("nothing acknowledged was lost") == true)
        }
        #expect(db.writeFailure != nil)
        // Every later write is refused without reaching LevelDB; reads keep working on the open handle.
        #expect(throws: StoreError.self) { try db.put(Self.key("refused/1"), [2], sync: false) }
        #expect(try db.get(Self.key("ack/7")) == [7])
        #expect(try db.scan(prefix: Self.key("ack/")).count == 20)

        faults.set(.none)
        try db.put(Self.key("after/0"), [9], sync: true)
        #expect(db.writeFailure == nil)
        #expect(try db.get(Self.key("refused/0")) == nil && db.get(Self.key("refused/1")) == nil)
        db.close()

        let reopened = try Database(path: dir + "/db", createIfMissing: false)
        defer { reopened.close() }
        for i in 0..<20 { #expect(try reopened.get(Self.key("ack/\(i)")) == [UInt8(i)]) }
        #expect(try reopened.get(Self.key("after/0")) == [9])
        #expect(try reopened.get(Self.key("refused/0")) == nil)
    }

    /// A write whose record reached LevelDB's log before the disk filled up (its sync failed) was refused, yet
    /// LevelDB's recovery replays it at the reopen. The database writes back the values from before it, so
    /// the refused write stays absent: the caller, told it failed, built nothing on it (a refused booking
    /// must not come back as a second holder of its slot).
    @Test func aRefusedWriteThatReachedTheLogIsUndoneAfterTheReopen() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let faults = WriteFaults()
        let db = try Database(path: dir + "/db", createIfMissing: true, faults: faults, minimumFreeBytes: 1)
        defer { db.close() }
        try db.put(Self.key("slot/1"), Self.key("free"), sync: true)

        faults.set(.diskFullAfterLogging)
        var booking = WriteBatch()
        booking.put(Self.key("slot/1"), Self.key("held by apt/1"))
        booking.put(Self.key("apt/1"), Self.key("patient a"))
        #expect(throws: StoreError.self) { try db.write(booking, sync: true) }
        #expect(faults.refusedWrites == 1)
        #expect(try db.get(Self.key("slot/1")) == Self.key("free"))

        faults.set(.none)
        try db.put(Self.key("other"), [1], sync: true)
        #expect(try db.get(Self.key("slot/1")) == Self.key("free"))
        #expect(try db.get(Self.key("apt/1")) == nil)
        #expect(try db.get(Self.key("other")) == [1])
    }

    /// Writes stay refused while the disk has less than `minimumFreeBytes`, and the refusal says how much it has.
    @Test func staysRefusedUntilTheDiskHasTheMinimumFree() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let faults = WriteFaults()
        let db = try Database(path: dir + "/db", createIfMissing: true, faults: faults, minimumFreeBytes: .max)
        defer { db.close() }
        try db.put(Self.key("a"), [1], sync: true)
        faults.set(.diskFull)
        #expect(throws: StoreError.self) { try db.put(Self.key("b"), [2], sync: true) }
        faults.set(.none)
        do {
            try db.put(Self.key("c"), [3], sync: true)
            Issue.record("a write went through with less than the minimum free")
        } catch {
            guard case let .diskFull(_, detail) = error else { Issue.record("not a disk-full error: \(error)"); return }
            #expect(detail.contains("bytes free, writes resume at"), "\(detail)")
        }
        #expect(try db.get(Self.key("a")) == [1])
    }

    /// A reopen that fails (the disk filled up again after the free-space probe passed) leaves no handle: reads
    /// say the disk is full rather than "closed", and the next write with space back opens the database again.
    @Test func aFailedReopenIsReportedAndRetried() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let faults = WriteFaults()
        // No minimum: the probe passes even on the emulated full disk, so the reopen itself meets the full disk.
        let db = try Database(path: dir + "/db", createIfMissing: true, faults: faults, minimumFreeBytes: 0)
        defer { db.close() }
        try db.put(Self.key("a"), [1], sync: true)
        faults.set(.diskFull)
        #expect(throws: StoreError.self) { try db.put(Self.key("b"), [2], sync: true) }
        do {
            try db.put(Self.key("c"), [3], sync: true)
            Issue.record("a write went through on a full disk")
        } catch {
            guard case let .diskFull(_, detail) = error else { Issue.record("not a disk-full error: \(error)"); return }
            #expect(detail.contains("MANIFEST"), "the reopen's failure: \(detail)")
        }
        do {
            _ = try db.get(Self.key("a"))
            Issue.record("a read found a handle after the failed reopen")
        } catch {
            guard case .diskFull = error else { Issue.record("not a disk-full error: \(error)"); return }
        }
        faults.set(.none)
        try db.put(Self.key("d"), [4], sync: true)
        #expect(try db.get(Self.key("a")) == [1] && db.get(Self.key("d")) == [4])
        #expect(try db.get(Self.key("b")) == nil && db.get(Self.key("c")) == nil)
    }

    @Test func leveldbsWordsForAFullDiskAreClassifiedAsDiskFull() {
        let error = Database.classify("IO error: /data/db/000012.log: No space left on device", path: "/data/db")
        #expect(error == .diskFull(path: "/data/db", detail: "IO error: /data/db/000012.log: No space left on device"))
    }
}

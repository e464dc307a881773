import Testing
import Foundation
import LeukStore

@Suite struct PeerCommands {
    private func makeNode(_ tag: String, port: Int) throws -> (dir: String, contact: String, fingerprint: String) {
        let dir = CLI.temporaryDirectory(tag) + "/n"
        let initialised = try CLI.run(["init", "--data-dir", dir, "--listen", "127.0.0.1:\(port)", "--api", "127.0.0.1:\(port + 1)"])
        #expect(initialised.status == 0, "\(initialised.stderr)")
        let lines = try CLI.run(["id", "--data-dir", dir]).stdout.split(separator: "\n").map(String.init)
        return (dir, lines[0], lines[1])
    }

    @Test func addListRemoveOnTheDatabase() throws {
        let a = try makeNode("pa", port: 17_001), b = try makeNode("pb", port: 17_003)
        let added = try CLI.run(["peer", "add", "--data-dir", a.dir, b.contact])
        #expect(added.status == 0)
        #expect(added.stdout.contains(b.fingerprint))

        let listed = try CLI.run(["peer", "list", "--data-dir", a.dir, "--json"])
        let peers = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        #expect(peers?.count == 1)
        #expect(peers?.first?["fingerprint"] as? String == b.fingerprint)
        #expect(peers?.first?["address"] as? String == "127.0.0.1:17003")
        for key in ["state", "last_seen", "bytes_in", "bytes_out", "score"] as [String] where key != "last_seen" {
            #expect(peers?.first?[key] != nil, "missing \(key)")
        }
        // A stopped node has no live readings: no faults, no updates, no cool-down or ban.
        #expect((peers?.first?["faults"] as? [String: Any])?.isEmpty == true)
        #expect(peers?.first?["updates_received"] as? Int == 0 && peers?.first?["updates_sent"] as? Int == 0)
        #expect(peers?.first?["cool_down_until"] == nil && peers?.first?["banned_until"] == nil && peers?.first?["ban"] == nil)
        #expect(peers?.first?["trust"] as? Double == 1, "no evidence: the whole mixing weight")
        let table = try CLI.run(["peer", "list", "--data-dir", a.dir]).stdout.split(separator: "\n")
        #expect(table.first?.hasSuffix("FAULTS") == true, "\(table)")
        let row = table.dropFirst().first?.split(separator: " ").map(String.init) ?? []
        #expect(row.suffix(8) == ["offline", "never", "0", "0", "0/0", "0.0", "1.00", "-"], "\(table)")

        #expect(try CLI.run(["peer", "remove", "--data-dir", a.dir, b.fingerprint]).status == 0)
        #expect(try CLI.run(["peer", "list", "--data-dir", a.dir, "--json"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[\n\n]")
        let again = try CLI.run(["peer", "remove", "--data-dir", a.dir, b.fingerprint])
        #expect(again.status != 0)
        #expect(again.stderr.contains("no admitted peer"))
    }

    @Test func garbageContactsAreExplained() throws {
        let a = try makeNode("pg", port: 17_005)
        for garbage in ["hello", "leuk1:abc@1.2.3.4:5", "leuk1:@:"] {
            let result = try CLI.run(["peer", "add", "--data-dir", a.dir, garbage])
            #expect(result.status != 0)
            #expect(result.stderr.contains("leuknode id"), "no hint for \(garbage): \(result.stderr)")
        }
        let own = try CLI.run(["peer", "add", "--data-dir", a.dir, a.contact])
        #expect(own.stderr.contains("this node's own"))
    }

    @Test func aSecondProcessOnTheSameDatabaseIsToldItIsInUse() throws {
        let a = try makeNode("lock", port: 17_007)
        let held = try Database(path: a.dir + "/db", createIfMissing: false)
        defer { held.close() }
        let result = try CLI.run(["peer", "list", "--data-dir", a.dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("another leuknode is already using"), "\(result.stderr)")
    }
}

import ArgumentParser
import Foundation
import LeukAPI
import LeukCore
import LeukCrypto
import LeukNode
import LeukStore

struct Peer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Admit, list and revoke federation peers (exchange contacts with `leuknode id`).",
        discussion: "Admission is mutual, as in WireGuard: both institutions must add each other before a channel opens.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Admit a peer by its contact string and show its fingerprint.")
        @OptionGroup var data: DataDirOptions
        @Argument(help: "The peer's contact string (leuk1:...@host:port), as `leuknode id` prints it.")
        var contact: String

        func validate() throws {
            do { _ = try Contact(parsing: contact) } catch {
                throw ValidationError("\(error.description). \(error.hint ?? "")")
            }
        }

        func run() async throws {
            let parsed = try Contact(parsing: contact)
            try await reportingErrors {
                try await PeerAdministration(directory: data.directory).add(parsed)
            }
            print("Admitted peer \(parsed.identity.id.short) at \(parsed.address)")
            print("  fingerprint: \(parsed.fingerprint)")
            print("Confirm this fingerprint with the other institution by phone. They must add your contact too (`leuknode id`).")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show admitted peers: fingerprint, address, state, last seen, bytes, updates, score, connection faults, bans.")
        @OptionGroup var data: DataDirOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let peers = try await reportingErrors { try await PeerAdministration(directory: data.directory).list() }
            if json {
                print(try JSONText.encode(peers))
                return
            }
            if peers.isEmpty {
                print("No peers admitted yet. Add one with `leuknode peer add CONTACT`.")
                return
            }
            print(PeerTable.render(peers))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a peer: its connection closes at once and it is refused until added again.")
        @OptionGroup var data: DataDirOptions
        @Argument(help: "The peer's fingerprint or node id (at least 8 hex digits).")
        var id: String

        func run() async throws {
            let removed = try await reportingErrors { try await PeerAdministration(directory: data.directory).remove(id) }
            print("Revoked peer \(removed.id.prefix(16)) (\(removed.fingerprint)).")
        }
    }
}

/// The one way the CLI prints peers (`peer list`, `status`): a row per peer, then a line for each peer
/// in a cool-down or banned, since that explains a peer that is admitted but not exchanging updates.
enum PeerTable {
    static func render(_ peers: [PeerAnswer]) -> String {
        let rows = peers.map { p in
            [String(p.id.prefix(16)), p.fingerprint, p.address, p.state.rawValue, p.last_seen.map(ISO8601.format) ?? "never",
             "\(p.bytes_in)", "\(p.bytes_out)", "\(p.updates_received)/\(p.updates_sent)", String(format: "%.1f", p.score),
             p.trust.map { String(format: "%.2f", $0) } ?? "-", faults(p.faults.additionalProperties)]
        }
        let table = TextTable.render(
            header: ["ID", "FINGERPRINT", "ADDRESS", "STATE", "LAST SEEN", "BYTES IN", "BYTES OUT", "UPDATES IN/OUT", "SCORE", "TRUST", "FAULTS"],
            rows: rows)
        return ([table] + peers.compactMap(hold)).joined(separator: "\n")
    }

    /// `handshake_timeout=2,not_admitted=1`, or `-` for none: compact enough for a table cell.
    static func faults(_ counts: [String: Int]) -> String {
        counts.isEmpty ? "-" : counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    private static func hold(_ p: PeerAnswer) -> String? {
        let holds = [p.cool_down_until.map { "cooling down until \(ISO8601.format($0))" },
                     p.banned_until.map { until in
                         let what = p.ban == .disconnect ? "disconnected" : p.ban == .bench ? "benched" : "banned"
                         return "\(what) until \(ISO8601.format(until))"
                     }].compactMap { $0 }
        return holds.isEmpty ? nil : "peer \(p.id.prefix(16)): " + holds.joined(separator: ", ")
    }
}

/// Peer administration on the node's database. The database is opened only when no node runs;
/// a running node holds its lock and is reached through its API instead.
struct PeerAdministration {
    let directory: NodeDirectory

    func add(_ contact: Contact) async throws {
        let config = try directory.loadConfig()
        let selfID = try config.publicIdentity().id
        if let client = try await NodeAPIClient.ifRunning(directory) {
            _ = try await client.addPeer(contact.description)
            return
        }
        _ = try withRegistry { try $0.add(contact, selfID: selfID) }
    }

    func list() async throws -> [PeerAnswer] {
        if let client = try await NodeAPIClient.ifRunning(directory) { return try await client.peers() }
        return try DocumentedJSON.convert(withRegistry { registry in try registry.all().map { PeerView(id: $0.id, record: $0.record, state: .offline) } })
    }

    func remove(_ reference: String) async throws -> PeerAnswer {
        if let client = try await NodeAPIClient.ifRunning(directory) { return try await client.removePeer(reference) }
        return try DocumentedJSON.convert(withRegistry { registry in
            let (id, record) = try registry.remove(reference)
            return PeerView(id: id, record: record, state: .offline)
        })
    }

    private func withRegistry<T>(_ body: (PeerRegistry) throws -> T) throws -> T {
        _ = try directory.loadConfig()
        let store = try directory.openStore(identity: nil)
        defer { store.database.close() }
        return try body(PeerRegistry(store: store))
    }
}

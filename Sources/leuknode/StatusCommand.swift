import ArgumentParser
import Foundation
import LeukAPI
import LeukCore
import LeukNode

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the running node for its peers, model, round, neighbour distance, updates and refusals.")

    @OptionGroup var data: DataDirOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let status = try await reportingErrors { try await NodeAPIClient.running(data.directory).status() }
        if json {
            print(try JSONText.encode(status))
            return
        }
        print("node \(status.name) (\(status.fingerprint)) on \(status.listen), training \(status.training)")
        print("model: version \(status.model.version), sha256 \(status.model.sha256.prefix(16))…, \(status.model.sample_count) own samples, "
              + "\(status.model.contributors.count) contributors")
        let distance = status.neighbor_distance.map { String(format: "%.4e", $0) } ?? "n/a"
        let accuracy = status.validation_accuracy.map { String(format: "%.3f", $0) } ?? "n/a"
        print("round \(status.round) (gossip \(status.gossip_round)), validation accuracy \(accuracy), neighbor distance \(distance)")
        print("updates sent \(status.updates_sent), received \(status.updates_received), refused connections \(status.refused_connections)")
        if !status.rejected.additionalProperties.isEmpty {
            print("rejected: " + status.rejected.additionalProperties.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if !status.peers.isEmpty {
            print("")
            print(PeerTable.render(status.peers))
        }
        for stranger in status.strangers {
            print("stranger \(stranger.fingerprint) from \(stranger.address) knocked \(stranger.attempts)x, last \(ISO8601.format(stranger.last_attempt))")
        }
    }
}

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "The node's federated model: its lineage, or the model file itself.",
        subcommands: [History.self, Export.self])

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which institutions' updates, at which versions, went into each model version (newest first).")
        @OptionGroup var data: DataDirOptions
        @Option(help: "How many versions to show.") var limit = 20
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            let directory = data.directory
            let (entries, names) = try await reportingErrors { () -> ([ModelHistoryAnswer], [String: String]) in
                let client = try await NodeAPIClient.running(directory)
                let entries = try await client.history(limit: limit)
                let status = try await client.status()
                var names = Dictionary(status.peers.map { ($0.id, $0.address) }, uniquingKeysWith: { a, _ in a })
                names[status.id] = status.name + " (this node)"
                return (entries, names)
            }
            if json {
                print(try JSONText.encode(entries))
                return
            }
            if entries.isEmpty { print("No model stored yet.") }
            for entry in entries {
                print("version \(entry.version)  round \(entry.round)  sha256 \(entry.sha256.prefix(16))…  \(ISO8601.format(entry.created_at))  "
                      + String(format: "val_acc %.3f", entry.validation_accuracy))
                for c in entry.contributors {
                    print("    from \(names[c.author] ?? String(c.author.prefix(8))) at version \(c.version)")
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save the running node's current federated model as a safetensors file (loads in PyTorch too).")
        @OptionGroup var data: DataDirOptions
        @Option(help: "Where to write the model.") var out: String

        func run() async throws {
            let directory = data.directory
            let bytes = try await reportingErrors { try await NodeAPIClient.running(directory).modelFile() }
            do { try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic) } catch {
                throw ValidationError("cannot write \(out): \(error.localizedDescription)")
            }
            print("wrote \(out) (\(bytes.count) bytes)")
        }
    }
}

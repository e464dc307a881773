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
        commandName: "model",
        abstract: "The node's models: the served one and the gate's decisions, the lineage, the file; promote, roll back, pin.",
        discussion: """
            Doctors diagnose with the served model. A newly merged model is served when it passes this site's floors on \
            the node's validation split (`leuknode start --min-sensitivity --min-specificity --max-drop`), or when an \
            operator promotes it. Every verb takes effect at once for new diagnoses and is written to the audit log.
            """,
        subcommands: [History.self, Promote.self, Rollback.self, Pin.self, Export.self])

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the served model and the promotion decisions with their figures, then which institutions' updates went into each model version (newest first).",
            discussion: "`--json` prints the lineage as before; `--decisions --json` prints the serving state and decisions.")
        @OptionGroup var data: DataDirOptions
        @Option(help: "How many versions (and decisions) to show.") var limit = 20
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "With --json: print the served model, the floors and the promotion decisions instead of the lineage.") var decisions = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
        }

        func run() async throws {
            let directory = data.directory
            let limit = self.limit
            let (entries, serving, names) = try await reportingErrors { () -> ([ModelHistoryAnswer], ServingAnswer, [String: String]) in
                let client = try await NodeAPIClient.running(directory)
                let entries = try await client.history(limit: limit)
                let serving = try await client.serving(limit: min(limit, 1000))
                let status = try await client.status()
                var names = Dictionary(status.peers.map { ($0.id, $0.address) }, uniquingKeysWith: { a, _ in a })
                names[status.id] = status.name + " (this node)"
                return (entries, serving, names)
            }
            if json {
                print(decisions ? try JSONText.encode(serving) : try JSONText.encode(entries))
                return
            }
            print(ServingText.render(serving))
            print("")
            print("lineage:")
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

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve a model version at once: the current merged one, a recently judged candidate or an earlier served one.",
            discussion: "A version that fails this site's floors is refused unless --force is given. The gate may later replace it; `model pin` keeps it.")
        @OptionGroup var data: DataDirOptions
        @Argument(help: "The model version (see `leuknode model history`).") var version: Int
        @Flag(help: "Serve it even when it fails the site's floors.") var force = false
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard version >= 0 else { throw ValidationError("VERSION must be a model version (0 or more), not \(version)") }
        }

        func run() async throws {
            let directory = data.directory
            let (version, force) = (self.version, self.force)
            let decision = try await reportingErrors { try await NodeAPIClient.running(directory).promote(version: version, force: force) }
            print(json ? try JSONText.encode(decision) : ServingText.line(decision))
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the previously served model again, and pin it so the gate keeps it (`model pin --off` undoes the pin).")
        @OptionGroup var data: DataDirOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = data.directory
            let decision = try await reportingErrors { try await NodeAPIClient.running(directory).rollback() }
            print(json ? try JSONText.encode(decision) : ServingText.line(decision))
        }
    }

    struct Pin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin the served model: the gate keeps judging merged models but serves none until `model pin --off`.")
        @OptionGroup var data: DataDirOptions
        @Flag(help: "Remove the pin and hand control back to the gate.") var off = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = data.directory
            let pinned = !off
            let decision = try await reportingErrors { try await NodeAPIClient.running(directory).pin(pinned) }
            print(json ? try JSONText.encode(decision) : ServingText.line(decision))
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

/// The serving state and decisions as `model history` prints them.
enum ServingText {
    static func render(_ serving: ServingAnswer) -> String {
        let f = serving.floors
        var lines: [String] = []
        if let served = serving.served {
            lines.append("served: version \(served.version)  sha256 \(served.sha256.prefix(16))…\(serving.pinned ? "  (pinned)" : "")"
                         + (served.figures.map { "  " + figures($0.value1) } ?? ""))
        } else {
            lines.append("served: none yet (diagnoses wait for a model that passes the floors)")
        }
        lines.append("floors: sensitivity >= \(f.min_sensitivity), specificity >= \(f.min_specificity), at most \(f.max_drop) below the served "
                     + "model, on at least \(f.min_images_per_class) validation images per class; with one class measured \(f.partial_validation.rawValue), "
                     + "with none \(f.without_validation.rawValue)")
        lines.append("decisions:")
        if serving.decisions.isEmpty { lines.append("    none yet") }
        for decision in serving.decisions { lines.append("    " + line(decision)) }
        return lines.joined(separator: "\n")
    }

    static func line(_ d: DecisionAnswer) -> String {
        var text = "\(ISO8601.format(d.time))  \(d.action.rawValue) model \(d.version) (sha256 \(d.sha256.prefix(12))…) by \(d.actor)"
        if let before = d.served_before, before != d.version { text += ", was \(before)" }
        if let candidate = d.candidate { text += "  " + figures(candidate.value1) }
        if !d.reasons.isEmpty { text += "  — " + d.reasons.joined(separator: "; ") }
        return text
    }

    static func figures(_ f: Components.Schemas.ValidationFigures) -> String {
        func rate(_ value: Double?, _ hit: Int, _ of: Int) -> String {
            value.map { String(format: "%.3f", $0) + " (\(hit)/\(of))" } ?? "n/a"
        }
        return "sensitivity " + rate(f.sensitivity, f.true_positives, f.positives) + ", specificity " + rate(f.specificity, f.true_negatives, f.negatives)
    }
}

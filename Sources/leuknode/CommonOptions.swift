import ArgumentParser
import LeukCore
import LeukNode
import Foundation

/// `--data-dir`, shared by every command that touches a node.
struct DataDirOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The node's data directory (default: $LEUKNODE_HOME, else ~/.leuknode).", valueName: "DIR"))
    var dataDir: String?

    var directory: NodeDirectory { NodeDirectory.resolve(dataDir) }
}

/// Reads one line (a passphrase or password) from standard input, without the newline.
func readSecretLine(what: String) throws -> String {
    guard let line = readLine(strippingNewline: true) else {
        throw ValidationError("expected the \(what) on standard input, but it was empty")
    }
    guard !line.isEmpty else { throw ValidationError("the \(what) on standard input is empty") }
    return line
}

/// How the CLI reports a failure. With `--json` anywhere on the command line, errors go to standard
/// error as one JSON object, `{"error": "...", "hint": "..."}`, so a script reading JSON output never
/// has to parse prose; without it, as `error: ...` and `  hint: ...` lines.
enum CLIOutput {
    static let json = CommandLine.arguments.dropFirst().contains("--json")

    static func failure(_ description: String, hint: String?) {
        if json {
            var object: [String: String] = ["error": description]
            if let hint { object["hint"] = hint }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let data = (try? encoder.encode(object)) ?? Data(#"{"error":"unencodable error"}"#.utf8)
            FileHandle.standardError.write(data + Data("\n".utf8))
        } else {
            FileHandle.standardError.write(Data(("error: " + description + (hint.map { "\n  hint: " + $0 } ?? "") + "\n").utf8))
        }
    }

    static func failure(_ error: any Error) {
        if let error = error as? any LeukUserFacingError {
            failure(error.description, hint: error.hint)
        } else {
            failure("\(error)", hint: nil)
        }
    }
}

/// Turns a library error into a clean message and a non-zero exit, instead of a Swift error dump.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as any LeukUserFacingError {
        CLIOutput.failure(error)
        throw ExitCode.failure
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

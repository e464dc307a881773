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

/// Turns a library error into a clean message and a non-zero exit, instead of a Swift error dump.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as any LeukUserFacingError {
        FileHandle.standardError.write(Data(("error: " + error.userMessage + "\n").utf8))
        throw ExitCode.failure
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

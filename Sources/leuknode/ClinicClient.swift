import ArgumentParser
import LeukAPI
import OpenAPIRuntime
import LeukClinic
import LeukCore
import LeukCrypto
import LeukNode
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Flags shared by every clinic command: which node (its data directory names the API address and
/// holds the operator token) and whether to print JSON.
struct ClinicOptions: ParsableArguments {
    @OptionGroup var data: DataDirOptions

    @Flag(help: "Print the node's JSON answer instead of a table.")
    var json = false
}

/// Where the CLI keeps the session token between commands: `$LEUKNODE_SESSION`, else
/// `~/.leuknode-session`, mode 0600.
enum SessionFile {
    static var path: String {
        if let explicit = ProcessInfo.processInfo.environment["LEUKNODE_SESSION"], !explicit.isEmpty { return explicit }
        return NSHomeDirectory() + "/.leuknode-session"
    }

    static func save(_ token: String) throws {
        do {
            try AtomicFile.write(Array((token + "\n").utf8), to: path, mode: 0o600)
        } catch {
            throw CLIFailure("cannot write the session file \(path): \(error)", hint: "set $LEUKNODE_SESSION to a writable path")
        }
    }

    static func load() throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIFailure("you are not logged in (no session in \(path))", hint: "run `leuknode login --name NAME`")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw CLIFailure("the session file \(path) is empty", hint: "run `leuknode login --name NAME`") }
        return token
    }

    static func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A message for the person at the terminal, printed by `reportingErrors`.
struct CLIFailure: LeukUserFacingError {
    var description: String
    var hint: String?
    init(_ description: String, hint: String? = nil) {
        self.description = description
        self.hint = hint
    }
}

/// Which credential a command presents.
enum Credential {
    /// The signed-in user's session token.
    case session
    /// The operator token in DATA_DIR/admin.token (admin work: users, audit), else the session.
    case operatorFirst
    /// None (login).
    case none
}

extension ClinicOptions {
    /// The plain values behind these flags, for code that is not itself a parsed command.
    var context: ClinicContext { ClinicContext(dataDir: data.dataDir, json: json) }

    func client(_ credential: Credential) throws -> APIClient { try context.client(credential) }

    func api<T>(_ credential: Credential, _ call: (Client) async throws -> T) async throws -> T { try await context.api(credential, call) }

    func output<T: Encodable>(_ value: T, human: (T) -> Void) throws { try context.output(value, human: human) }
}

/// Which node to talk to and how to print: what every clinic command needs once its flags are parsed.
/// (A `ParsableArguments` value cannot be built by hand, so functions such as `diagnoseThroughNode`
/// take this instead.)
struct ClinicContext {
    var dataDir: String?
    var json: Bool

    /// A client for the running node's API, found through DATA_DIR/config.json.
    func client(_ credential: Credential) throws -> APIClient {
        let directory = NodeDirectory.resolve(dataDir)
        let config = try directory.loadConfig()
        var token: String?
        switch credential {
        case .none:
            token = nil
        case .session:
            token = try SessionFile.load()
        case .operatorFirst:
            let path = OperatorToken.path(inDataDirectory: directory.path)
            if FileManager.default.fileExists(atPath: path) {
                token = try OperatorToken.read(path: path).value
            } else if let session = try? SessionFile.load() {
                token = session
            } else {
                throw CLIFailure("no operator token at \(path) and no session",
                                 hint: "start the node once (it creates the token), or log in as an admin")
            }
        }
        return try APIClient(address: config.api, token: token)
    }

    /// Runs `call` with the typed `Client` generated from docs/api/openapi.yaml. A refusal comes out as
    /// `APIClientError` (the transport throws it), exactly as from `APIClient.call`, so `reportingErrors`
    /// prints the node's message and hint; the generated code only ever decodes a documented success.
    func api<T>(_ credential: Credential, _ call: (Client) async throws -> T) async throws -> T {
        let client = Client.over(try client(credential))
        return try await refusalsAsThrown { try await call(client) }
    }

    /// Prints `value` as JSON (with `--json`) or through `human`.
    func output<T: Encodable>(_ value: T, human: (T) -> Void) throws {
        if json {
            let encoder = APIClient.encoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else {
            human(value)
        }
    }
}

/// A password from standard input (`--password-stdin`), else typed at a prompt without echo.
func readPassword(fromStdin: Bool, prompt: String) throws -> String {
    if fromStdin { return try readSecretLine(what: "password") }
    guard isatty(STDIN_FILENO) != 0 else {
        throw ValidationError("standard input is not a terminal: pass the password with --password-stdin")
    }
    guard let raw = getpass(prompt) else { throw ValidationError("could not read the password") }
    let password = String(cString: raw)
    guard !password.isEmpty else { throw ValidationError("the password is empty") }
    return password
}

/// Percent-encodes a value for a query string.
func queryValue(_ text: String) -> String {
    var allowed = CharacterSet.urlQueryAllowed
    allowed.remove(charactersIn: "&=+?#")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// Builds `path?a=b&c=d` from the parameters that are set.
func pathWithQuery(_ path: String, _ items: [(String, String?)]) -> String {
    let parts = items.compactMap { name, value in value.map { "\(name)=\(queryValue($0))" } }
    return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
}

/// Short local times for tables.
func shortTime(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.string(from: date)
}

/// Prints rows as aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

import ArgumentParser
import LeukCore
import LeukCrypto
import LeukExperiment
import LeukNode

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new node: its key pair, database and configuration.",
        discussion: """
        Writes DATA_DIR/node.key (mode 0600), DATA_DIR/config.json and DATA_DIR/db. Refuses to overwrite \
        an existing node. Afterwards, `leuknode id` prints the contact string to send to other institutions.
        """)

    @OptionGroup var data: DataDirOptions

    @Option(help: ArgumentHelp("Address peers connect to.", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:7400"

    @Option(help: ArgumentHelp("Address of the local HTTP API (keep it on loopback).", valueName: "HOST:PORT"))
    var api = "127.0.0.1:7480"

    @Option(help: "A readable name for this institution, shown to operators.")
    var name = "leuknode"

    @Option(help: ArgumentHelp("The federation's class list, in model output order; the same on every node (a node's own images may hold any subset of it).", valueName: "CLASSES"))
    var classes = "hem,all"

    @Flag(help: "Encrypt the key file with a passphrase read from standard input (Argon2id + XChaCha20-Poly1305).")
    var passphraseStdin = false

    func validate() throws {
        do {
            _ = try Contact.parseAddress(listen)
        } catch {
            throw ValidationError("--listen: \(error.description)")
        }
        do {
            _ = try Contact.parseAddress(api)
        } catch {
            throw ValidationError("--api: \(error.description)")
        }
        guard !name.isEmpty, name.count <= 100 else { throw ValidationError("--name must be 1 to 100 characters") }
        do { _ = try FederationClasses.parse(classes) } catch { throw ValidationError("--classes: \(error.description)") }
    }

    func run() async throws {
        let passphrase = passphraseStdin ? try readSecretLine(what: "passphrase") : nil
        let directory = data.directory
        let config = try await reportingErrors {
            try directory.initialize(name: name, listen: listen, api: api, passphrase: passphrase,
                                     classes: try FederationClasses.parse(classes))
        }
        let contact = try await reportingErrors { try config.contact() }
        print("Initialised node '\(config.name)' in \(directory.path)")
        print("  key file:    \(directory.keyFilePath) (mode 0600\(passphrase == nil ? "" : ", passphrase-protected"))")
        print("  fingerprint: \(contact.fingerprint)")
        print("Send this contact to the institutions you federate with (`leuknode id` prints it again):")
        print(contact)
    }
}

struct Id: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this node's contact string (first line) and its fingerprint (second line).",
        discussion: "Send the first line to a peer institution; read the fingerprint to them over the phone so they can check it.")

    @OptionGroup var data: DataDirOptions

    func run() async throws {
        let directory = data.directory
        let contact = try await reportingErrors { try directory.loadConfig().contact() }
        print(contact)
        print(contact.fingerprint)
    }
}

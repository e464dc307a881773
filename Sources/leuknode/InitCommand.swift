import ArgumentParser
import LeukCore
import LeukCrypto
import LeukTraining
import LeukNode

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a new node: its key pair, database and configuration.",
        discussion: """
        Writes DATA_DIR/node.key (mode 0600), DATA_DIR/config.json and DATA_DIR/db. Refuses to overwrite \
        an existing node. Afterwards, `leuknode id` prints the contact string to send to other institutions.
        """)

    @OptionGroup var data: DataDirOptions

    static let defaultListen = "127.0.0.1:7400"
    static let defaultAPI = "127.0.0.1:7480"

    @Option(help: ArgumentHelp("Address peers connect to (default \(Init.defaultListen), or the next free port when that one is taken).",
                               valueName: "HOST:PORT"))
    var listen: String?

    @Option(help: ArgumentHelp("Address of the local HTTP API, kept on loopback (default \(Init.defaultAPI), or the next free port when that one is taken).",
                               valueName: "HOST:PORT"))
    var api: String?

    @Option(help: ArgumentHelp("Address of the web portal for patients and doctors (`portal` in config.json; none by default). Without TLS it must be a loopback address.",
                               valueName: "HOST:PORT"))
    var portal: String?

    @Option(help: "A readable name for this institution, shown to operators.")
    var name = "leuknode"

    @Option(help: ArgumentHelp("The federation's class list, in model output order; the same on every node (a node's own images may hold any subset of it).", valueName: "CLASSES"))
    var classes = "hem,all"

    @Flag(help: "Encrypt the key file with a passphrase read from standard input (Argon2id + XChaCha20-Poly1305).")
    var passphraseStdin = false

    func validate() throws {
        do {
            _ = try Contact.parseAddress(listen ?? Self.defaultListen)
        } catch {
            throw ValidationError("--listen: \(error.description)")
        }
        do {
            _ = try Contact.parseAddress(api ?? Self.defaultAPI)
        } catch {
            throw ValidationError("--api: \(error.description)")
        }
        if let portal {
            do {
                _ = try Contact.parseAddress(portal)
            } catch {
                throw ValidationError("--portal: \(error.description)")
            }
        }
        guard !name.isEmpty, name.count <= 100 else { throw ValidationError("--name must be 1 to 100 characters") }
        do { _ = try FederationClasses.parse(classes) } catch { throw ValidationError("--classes: \(error.description)") }
    }

    func run() async throws {
        let passphrase = passphraseStdin ? try readSecretLine(what: "passphrase") : nil
        let directory = data.directory
        // An address given on the command line is kept as it is; a default that is taken (another
        // node on this machine) moves to the next free port, and we say so.
        let listen = self.listen ?? Self.freeAddress(Self.defaultListen, what: "peer", excluding: [])
        let listenPort = (try? Contact.parseAddress(listen).port).map { Set([$0]) } ?? []
        let api = self.api ?? Self.freeAddress(Self.defaultAPI, what: "API", excluding: listenPort)
        let config = try await reportingErrors {
            try directory.initialize(name: name, listen: listen, api: api, portal: portal, passphrase: passphrase,
                                     classes: try FederationClasses.parse(classes))
        }
        let contact = try await reportingErrors { try config.contact() }
        print("Initialised node '\(config.name)' in \(directory.path)")
        print("  key file:    \(directory.keyFilePath) (mode 0600\(passphrase == nil ? "" : ", passphrase-protected"))")
        print("  fingerprint: \(contact.fingerprint)")
        print("Send this contact to the institutions you federate with (`leuknode id` prints it again):")
        print(contact)
    }

    static func freeAddress(_ address: String, what: String, excluding taken: Set<Int>) -> String {
        guard let parsed = try? Contact.parseAddress(address) else { return address }
        if !taken.contains(parsed.port) && PortProbe.isFree(host: parsed.host, port: parsed.port) { return address }
        guard let port = PortProbe.firstFree(host: parsed.host, from: parsed.port + 1, excluding: taken) else { return address }
        let chosen = "\(parsed.host):\(port)"
        printError("note: the default \(what) port \(parsed.port) is in use on this machine; this node uses \(chosen) " +
                   "(change it with --\(what == "API" ? "api" : "listen") or in config.json)")
        return chosen
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

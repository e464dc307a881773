public import LeukCore
public import LeukCrypto
public import LeukStore
import LeukTraining
import Foundation

/// The files of one node, all under its data directory:
///
/// ```
/// DATA_DIR/            mode 0700
///   node.key           secret keys (KeyFile format), mode 0600
///   config.json        name, listen address, API address, public identity
///   db/                LevelDB: models, updates, peers, clinical records
/// ```
/// Only one process opens `db/` at a time (LevelDB's lock); the CLI talks to a running node through
/// its API instead.
public struct NodeDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = (path as NSString).standardizingPath }

    /// `--data-dir`, else `$LEUKNODE_HOME`, else `~/.leuknode`.
    public static func resolve(_ explicit: String?) -> NodeDirectory {
        if let explicit, !explicit.isEmpty { return NodeDirectory(path: explicit) }
        if let home = ProcessInfo.processInfo.environment["LEUKNODE_HOME"], !home.isEmpty { return NodeDirectory(path: home) }
        return NodeDirectory(path: NSHomeDirectory() + "/.leuknode")
    }

    public var keyFilePath: String { path + "/node.key" }
    public var configPath: String { path + "/config.json" }
    public var databasePath: String { path + "/db" }

    public var exists: Bool { FileManager.default.fileExists(atPath: configPath) || FileManager.default.fileExists(atPath: keyFilePath) }

    /// Creates a new node: key file, config and database. Refuses to touch an existing node.
    public func initialize(name: String, listen: String, api: String, portal: String? = nil, passphrase: String?,
                           classes: [String] = ["hem", "all"]) throws(NodeSetupError) -> NodeConfig {
        if exists { throw .alreadyInitialized(path) }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw .cannotCreate(path, "\(error.localizedDescription)")
        }
        let identity = NodeIdentity.generate()
        do {
            _ = try Contact.parseAddress(listen)
            _ = try Contact.parseAddress(api)
            if let portal { _ = try Contact.parseAddress(portal) }
        } catch {
            throw .badConfig(error.description)
        }
        do { try FederationClasses.validate(classes) } catch { throw .badConfig(error.description) }
        var config = NodeConfig(name: name, listen: listen, api: api, identity: identity.publicIdentity)
        config.classes = classes
        config.portal = portal
        do {
            try KeyFile.write(identity, to: keyFilePath, passphrase: passphrase)
            try config.write(to: configPath)
            let database = try Database(path: databasePath, createIfMissing: true)
            _ = try RecordStore(database: database, identity: identity)
            database.close()
        } catch let error as any LeukUserFacingError {
            throw .wrapped(error.userMessage)
        } catch {
            throw .wrapped("\(error)")
        }
        return config
    }

    public func loadConfig() throws(NodeSetupError) -> NodeConfig {
        guard FileManager.default.fileExists(atPath: configPath) else { throw .notInitialized(path) }
        return try NodeConfig.read(from: configPath)
    }

    public func loadIdentity(passphrase: String?) throws(KeyFileError) -> NodeIdentity {
        try KeyFile.read(from: keyFilePath, passphrase: passphrase)
    }

    /// Opens the node's database and record store. Blocking; not for an event loop.
    public func openStore(identity: NodeIdentity?) throws(StoreError) -> RecordStore {
        let database = try Database(path: databasePath, createIfMissing: false)
        return try RecordStore(database: database, identity: identity)
    }
}

/// The node's settings, in `config.json`. Public keys only: nothing secret is ever written here.
public struct NodeConfig: Codable, Sendable, Equatable {
    public static let currentVersion = 1
    public var version: Int
    public var name: String
    /// Where peers reach this node (host:port).
    public var listen: String
    /// Where the local HTTP API listens (loopback by default).
    public var api: String
    /// Where the web portal listens (host:port), when the node serves one; `leuknode start --portal` overrides it.
    public var portal: String?
    public var signingKey: String
    public var agreementKey: String
    public var binding: String
    /// The federation's class list, in model output order. Every node of a federation must hold the
    /// same list (updates naming another are refused); a node's own images may cover any subset of
    /// it. A config written before the list existed reads as `hem,all`.
    public var classes: [String]

    public init(name: String, listen: String, api: String, identity: PublicIdentity) {
        classes = FederationClasses.standard
        version = Self.currentVersion
        self.name = name
        self.listen = listen
        self.api = api
        signingKey = Hex.encode(identity.signingKey.bytes)
        agreementKey = Hex.encode(identity.agreementKey.bytes)
        binding = Hex.encode(identity.binding)
    }

    enum CodingKeys: String, CodingKey {
        case version, name, listen, api, portal
        case signingKey = "signing_key", agreementKey = "agreement_key", binding, classes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        name = try c.decode(String.self, forKey: .name)
        listen = try c.decode(String.self, forKey: .listen)
        api = try c.decode(String.self, forKey: .api)
        portal = try c.decodeIfPresent(String.self, forKey: .portal)
        signingKey = try c.decode(String.self, forKey: .signingKey)
        agreementKey = try c.decode(String.self, forKey: .agreementKey)
        binding = try c.decode(String.self, forKey: .binding)
        classes = try c.decodeIfPresent([String].self, forKey: .classes) ?? FederationClasses.standard
    }

    public func publicIdentity() throws(NodeSetupError) -> PublicIdentity {
        do {
            guard let s = Hex.decode(signingKey), let a = Hex.decode(agreementKey), let b = Hex.decode(binding) else {
                throw NodeSetupError.badConfig("keys in config.json are not hex")
            }
            return try PublicIdentity(signingKey: SigningPublicKey(bytes: s), agreementKey: AgreementPublicKey(bytes: a),
                                      binding: b).verifiedBinding()
        } catch let error as NodeSetupError {
            throw error
        } catch {
            throw .badConfig("public identity in config.json does not verify: \(error)")
        }
    }

    /// The contact string peers need, and its fingerprint.
    public func contact() throws(NodeSetupError) -> Contact {
        let identity = try publicIdentity()
        do {
            let (host, port) = try Contact.parseAddress(listen)
            return Contact(identity: identity, host: host, port: port)
        } catch {
            throw .badConfig("listen address: \(error.description)")
        }
    }

    public func write(to path: String) throws(NodeSetupError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            let data = try encoder.encode(self)
            try AtomicFile.write([UInt8](data) + [0x0A], to: path, mode: 0o600)
        } catch {
            throw .cannotCreate(path, "\(error)")
        }
    }

    public static func read(from path: String) throws(NodeSetupError) -> NodeConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw .notInitialized((path as NSString).deletingLastPathComponent) }
        do {
            let config = try JSONDecoder().decode(NodeConfig.self, from: data)
            guard config.version <= currentVersion else { throw NodeSetupError.badConfig("config.json version \(config.version) is newer than this leuknode") }
            do { try FederationClasses.validate(config.classes) } catch {
                throw NodeSetupError.badConfig("\(path): \"classes\": \(error.description)")
            }
            return config
        } catch let error as NodeSetupError {
            throw error
        } catch {
            throw .badConfig("\(path) is not valid: \(error)")
        }
    }
}

public enum NodeSetupError: LeukUserFacingError, Equatable {
    case alreadyInitialized(String)
    case notInitialized(String)
    case cannotCreate(String, String)
    case badConfig(String)
    case wrapped(String)

    public var description: String {
        switch self {
        case let .alreadyInitialized(p): return "\(p) already holds a leuknode; refusing to overwrite its identity"
        case let .notInitialized(p): return "no leuknode in \(p)"
        case let .cannotCreate(p, why): return "cannot create \(p): \(why)"
        case let .badConfig(why): return "configuration problem: \(why)"
        case let .wrapped(message): return message
        }
    }

    public var hint: String? {
        switch self {
        case .alreadyInitialized: return "use another --data-dir (or $LEUKNODE_HOME) for a second node"
        case .notInitialized: return "run `leuknode init --data-dir DIR`, or point --data-dir / $LEUKNODE_HOME at an existing node"
        case .cannotCreate: return "check permissions and free space"
        case .badConfig: return "fix config.json in the data directory (see docs/operations.md)"
        case .wrapped: return nil
        }
    }
}

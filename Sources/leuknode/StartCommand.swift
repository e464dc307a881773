import ArgumentParser
import Foundation
import LeukAPI
import LeukClinic
import LeukCore
import LeukCrypto
import LeukMetrics
import LeukModel
import LeukTraining
import LeukNode
import LeukPortal
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the node in the foreground: train on local images, gossip with admitted peers, serve the local API.",
        discussion: """
        Logs one line per local training round. SIGINT or SIGTERM shut it down gracefully: in-flight requests \
        finish, peers are told goodbye, the model is stored with a synced write and the database is closed. \
        Every node of one federation must use the same --arch and --init-seed; a node joining a running federation \
        can instead start from its current model with --init-from.
        """)

    @OptionGroup var data: DataDirOptions

    @Option(help: ArgumentHelp("This institution's images (class folders, or ALL-IDB names).", valueName: "DIR"))
    var dataset: String?

    @Option(help: ArgumentHelp("Map folder names onto classes, e.g. Benign=hem,Early=all,Pre=all,Pro=all.", valueName: "MAP"))
    var labelMap: String?

    @Option(help: "Network architecture (leuknet-s, leuknet-m); the same on every node of a federation.")
    var arch = "leuknet-s"

    @Option(help: "OpenBLAS threads for training.") var threads = 1

    @Option(help: "Seed of the initial parameters; the same on every node of a federation.")
    var initSeed: UInt64 = 0

    @Option(help: "Seed of this node's data split and shuffling.") var dataSeed: UInt64 = 1

    @Option(help: ArgumentHelp(
        "Start from this model instead of the --init-seed initialisation: the federation's current model, exported by a member with `leuknode model export`, or one fine-tuned from it with `leuknode train --init-from`. Ignored (with a warning) once the node's store holds its own model.",
        valueName: "MODEL.safetensors"))
    var initFrom: String?

    @Option(help: "SGD steps per local training round (a round is one epoch of this node's images unless --batch is given).")
    var stepsPerRound = FederationDefaults.stepsPerRound

    @OptionGroup var inRound: InRoundOptions

    @Flag(name: .customLong("no-share-class-counts"), help: "Send no per-class image counts in this node's signed updates (they say how many images of each class the site holds); peers then leave this site out of the class mix a one-class site weights its loss by.")
    var noShareClassCounts = false

    @Option(help: ArgumentHelp("A fixed mini-batch size (default: this node's training images / --steps-per-round, from 4 to 256).",
                               valueName: "N"))
    var batch: Int?

    @Option(help: ArgumentHelp("Learning rate (default: the optimiser's, 0.01 for sgd and 0.003 for adam).", valueName: "RATE"))
    var lr: Float?

    @Option(help: ArgumentHelp("Local optimiser (its state survives rounds).", valueName: "sgd|adam"))
    var optimizer: String = FederationDefaults.optimizer.name

    @Option(name: .customLong("optimizer-placement"), help: ArgumentHelp(
        "Where --optimizer steps: 'local' (each local step) or 'federation' (on the averaged model's move between exchanges). Default: local for sgd, federation for adam.",
        valueName: "WHERE"))
    var optimizerPlacement: String?

    @Option(name: .customLong("logit-adjustment"), help: ArgumentHelp(
        "Strength tau of the logit-adjusted local loss (tau*log of this node's class priors added to the logits while training; 0 = class-balanced loss).",
        valueName: "TAU"))
    var logitAdjustment: Float = FederationDefaults.logitAdjustment

    @Option(help: ArgumentHelp("FedProx proximal strength mu (0 = off).", valueName: "MU"))
    var proximal: Float = FederationDefaults.proximalStrength

    @Option(help: "Stop local training after this many rounds (the node keeps averaging and serving).")
    var rounds: Int?

    @Option(help: "Seconds between gossip ticks.") var gossipInterval: Double = 1.0

    @OptionGroup var mixing: AggregationOptions

    @OptionGroup(title: "Promotion gate (which merged model doctors diagnose with)") var gate: GateOptions

    @Option(help: "Seconds to pause between local training rounds.") var roundPause: Double = 0.2

    @Flag(help: "Read the key file's passphrase from standard input.") var passphraseStdin = false

    @Option(help: ArgumentHelp("Serve the web portal for patients, doctors and admins here (overrides `portal` in config.json). Without --tls-cert/--tls-key only on loopback.",
                               valueName: "HOST:PORT"))
    var portal: String?

    @Option(help: ArgumentHelp("The portal's TLS certificate chain (PEM).", valueName: "PEM")) var tlsCert: String?
    @Option(help: ArgumentHelp("The portal's TLS private key (PEM, unencrypted).", valueName: "PEM")) var tlsKey: String?

    @Option(help: .hidden) var parentPid: Int32?

    func validate() throws {
        guard threads >= 1, threads <= 64 else { throw ValidationError("--threads must be between 1 and 64") }
        guard stepsPerRound >= 1, stepsPerRound <= 100_000 else { throw ValidationError("--steps-per-round must be between 1 and 100000") }
        try inRound.validate(stepsPerRound: stepsPerRound)
        if let batch, !(1...4096).contains(batch) { throw ValidationError("--batch must be between 1 and 4096") }
        if let lr { guard lr > 0, lr < 10, lr.isFinite else { throw ValidationError("--lr must be a positive number below 10") } }
        if let rounds, rounds < 0 { throw ValidationError("--rounds cannot be negative") }
        guard logitAdjustment >= 0, logitAdjustment <= 100, proximal >= 0, proximal <= 1000 else {
            throw ValidationError("--logit-adjustment must be 0 to 100 and --proximal 0 to 1000")
        }
        guard OptimizerKind(named: optimizer) != nil else { throw ValidationError("--optimizer must be 'sgd' or 'adam', got '\(optimizer)'") }
        _ = try OptimizerPlacement.parsing(optimizerPlacement, optimizer: optimizer)
        guard gossipInterval >= 0.05, gossipInterval <= 3600 else { throw ValidationError("--gossip-interval must be 0.05 to 3600 seconds") }
        guard roundPause >= 0, roundPause <= 3600 else { throw ValidationError("--round-pause must be 0 to 3600 seconds") }
        try gate.check()
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        for path in [tlsCert, tlsKey].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("cannot read \(path)")
        }
        if let portal {
            do {
                _ = try PortalConfiguration(address: portal, tls: portalTLS)
            } catch {
                throw ValidationError("--portal: \(error.description)" + (error.hint.map { " (\($0))" } ?? ""))
            }
        }
        if let dataset {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dataset, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--dataset \(dataset) is not a directory")
            }
        }
    }

    var portalTLS: PortalTLS? {
        guard let tlsCert, let tlsKey else { return nil }
        return PortalTLS(certificatePath: tlsCert, keyPath: tlsKey)
    }

    static func isFree(_ address: String) -> Bool {
        guard let parsed = try? Contact.parseAddress(address) else { return true }
        return PortProbe.isFree(host: parsed.host, port: parsed.port)
    }

    /// Names the port and the fix: the usual cause is a second node on this machine with the same
    /// ports, or this node already running.
    static func reportPortInUse(_ what: String, _ address: String, directory: String) {
        let port = (try? Contact.parseAddress(address).port).map(String.init) ?? address
        let key = what == "API" ? "api" : what == "portal" ? "portal" : "listen"
        CLIOutput.failure("the \(what) address \(address) is already in use: another program (perhaps this node, or a second node on this machine) listens on port \(port)",
                          hint: "stop that program, or give this node a free port in \(directory)/config.json (\"\(key)\": \"127.0.0.1:PORT\"); `leuknode init` picks free ports for a new node")
    }

    func run() async throws {
        let passphrase = passphraseStdin ? try readSecretLine(what: "passphrase") : nil
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["LEUKNODE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "leuknode")

        var options = StartOptions()
        options.dataset = dataset
        options.labelMap = labelMap
        options.architecture = arch
        options.threads = threads
        options.initSeed = initSeed
        options.dataSeed = dataSeed
        options.stepsPerRound = stepsPerRound
        options.exchangesPerRound = inRound.exchanges(stepsPerRound: stepsPerRound)
        options.classBalance = inRound.balance
        options.sharesClassCounts = !noShareClassCounts
        options.batchSize = batch
        options.optimizer = OptimizerKind(named: optimizer) ?? FederationDefaults.optimizer
        options.learningRate = lr ?? FederationDefaults.learningRate(for: options.optimizer)
        options.optimizerPlacement = optimizerPlacement.flatMap(OptimizerPlacement.init(rawValue:))
        options.logitAdjustment = logitAdjustment
        options.proximalStrength = proximal
        options.rounds = rounds
        options.gossipInterval = .milliseconds(Int64(gossipInterval * 1000))
        options.aggregation = mixing.rule
        options.trim = mixing.trim
        options.roundPause = .milliseconds(Int64(roundPause * 1000))
        options.floors = gate.floors
        options.initFrom = initFrom

        let directory = data.directory
        // Fail before the dataset is decoded (minutes on a big set) when a port is already taken.
        let config = try await reportingErrors { try directory.loadConfig() }
        let portalAddress = portal ?? config.portal
        var addresses = [("peer", config.listen), ("API", config.api)]
        if let portalAddress { addresses.append(("portal", portalAddress)) }
        let ports = addresses.compactMap { try? Contact.parseAddress($0.1).port }.filter { $0 != 0 }
        guard Set(ports).count == ports.count else {
            CLIOutput.failure("two of the node's listeners share a port: " + addresses.map { "\($0.0) \($0.1)" }.joined(separator: ", "),
                              hint: "give each its own port (--portal, or listen/api/portal in \(directory.path)/config.json)")
            throw ExitCode.failure
        }
        for (what, address) in addresses where !Self.isFree(address) {
            Self.reportPortInUse(what, address, directory: directory.path)
            throw ExitCode.failure
        }
        let runtime = try await reportingErrors {
            try await NodeRuntime.open(directory: directory, passphrase: passphrase, options: options, logger: logger) { report in
                printFlushed(report.line)
            }
        }
        switch runtime.initialModel {
        case let .started(model)?:
            printFlushed("starting from \(model.path) (file sha256 \(model.fileSHA256), parameters sha256 \(model.parametersSHA256))")
            printFlushed("its recipe: \(model.recipe ?? "none recorded (a model exported by a node, not written by `leuknode train`)")")
        case let .ignored(path, version, sha256)?:
            printError("warning: --init-from \(path) ignored: the store already holds this node's own model (version \(version), "
                       + "sha256 \(sha256.prefix(16))…), which it resumes")
        case nil:
            break
        }
        let server: APIServer
        let portalServer: PortalServer?
        let portalReady = AsyncStream<Int>.makeStream()
        var portalApplication: (any Service)?
        do {
            let token = try OperatorToken.loadOrCreate(inDataDirectory: directory.path)
            let clinic = try Clinic(store: runtime.store, classifier: NodeClassifier(diagnoser: runtime.diagnoser), operatorToken: token)
            server = APIServer(clinic: clinic, control: runtime, configuration: try APIConfiguration(address: runtime.config.api),
                               metrics: registry, logger: logger)
            if let portalAddress {
                let portal = PortalServer(clinic: clinic, control: runtime,
                                          configuration: try PortalConfiguration(address: portalAddress, tls: portalTLS), logger: logger)
                portalApplication = try portal.makeApplication { port in portalReady.continuation.yield(port) }
                portalServer = portal
            } else {
                portalServer = nil
            }
        } catch let error as any LeukUserFacingError {
            await runtime.stop()
            CLIOutput.failure(error)
            throw ExitCode.failure
        }
        let peerPort: Int
        do {
            peerPort = try await runtime.startFederation()
        } catch {
            await runtime.stop()
            if Self.isFree(runtime.config.listen) {
                CLIOutput.failure("could not listen for peers on \(runtime.config.listen): \(error)", hint: nil)
            } else {
                Self.reportPortInUse("peer", runtime.config.listen, directory: directory.path)
            }
            throw ExitCode.failure
        }

        let apiReady = AsyncStream<Int>.makeStream()
        let node = NodeService(runtime: runtime)
        // One group owns signals and the shutdown order. Services stop in reverse order: the watch says
        // why, the API finishes requests in flight, then the node says goodbye, stores the model and
        // closes the database. The watch ending (parent gone) shuts the group down gracefully too.
        // The portal, when configured, stops with the API: before the node closes the database under it.
        var serviceList: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: node),
            .init(service: server.makeApplication { port in apiReady.continuation.yield(port) }),
        ]
        if let portalApplication { serviceList.append(.init(service: portalApplication)) }
        serviceList.append(.init(service: ShutdownWatch(parentPID: parentPid), successTerminationBehavior: .gracefullyShutdownGroup))
        let services = ServiceGroup(configuration: .init(
            services: serviceList,
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        let group = Task { () -> Bool in
            // Ends the wait for the port below even when the group stops before the API started.
            defer {
                apiReady.continuation.finish()
                portalReady.continuation.finish()
            }
            do {
                try await services.run()
                return true
            } catch {
                if Self.isFree(runtime.config.api) {
                    CLIOutput.failure("the API server stopped: \(error)", hint: nil)
                } else {
                    Self.reportPortInUse("API", runtime.config.api, directory: directory.path)
                }
                return false
            }
        }
        var readyPorts = apiReady.stream.makeAsyncIterator()
        if let apiPort = await readyPorts.next() {
            printFlushed("node '\(runtime.config.name)' \(runtime.config.contactFingerprint) listening for peers on port \(peerPort), API on \(runtime.config.api.hostPart):\(apiPort)")
            if let portalServer {
                var portalPorts = portalReady.stream.makeAsyncIterator()
                if let portalPort = await portalPorts.next() {
                    let url = portalServer.configuration.url(port: portalPort)
                    printFlushed(portalServer.configuration.tls == nil
                        ? "portal on \(url) (no TLS, so loopback only; serve it to others with --tls-cert/--tls-key or a TLS reverse proxy, docs/operations.md)"
                        : "portal on \(url) (TLS)")
                }
            }
            node.startTraining()
        }
        // A failed service cancels the group; the node service still stops the runtime.
        guard await group.value else { throw ExitCode.failure }
        printFlushed("stopped cleanly")
    }
}

extension NodeConfig {
    var contactFingerprint: String { (try? contact().fingerprint.text) ?? "" }
}

extension String {
    /// "host" of "host:port" (or "[v6]:port").
    var hostPart: String {
        if hasPrefix("["), let close = firstIndex(of: "]") { return String(self[...close]) }
        return String(split(separator: ":").first ?? "")
    }
}

/// `print` then flush: when a node's output goes to a pipe (the demo reads it) stdout is fully
/// buffered, and each round line must arrive when it happens.
func printFlushed(_ line: String) {
    print(line)
    fflush(nil)
}

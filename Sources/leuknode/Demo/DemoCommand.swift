import ArgumentParser
import Foundation
import Synchronization
import LeukCore
import LeukData
import LeukExperiment
import LeukMetrics
import LeukModel
import LeukNode
import LeukTraining

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a small federation end to end on loopback and compare it with going alone and with pooling the data.",
        discussion: """
        With no arguments: synthetic cells for three hospitals with different stains and class mixes, three nodes \
        started as real processes on loopback ports, a bounded number of training and gossip rounds, then a table \
        comparing each node's local-only model, each node's federated model and a centrally trained model on a common \
        held-out test set, and a short clinic scene through hospital 1's API. With --dataset, the same on real images \
        split across --nodes hospitals with Dirichlet label skew. Ctrl-C stops every node.
        """)

    @Option(help: ArgumentHelp("The demo folder; it is recreated on each run.", valueName: "DIR"))
    var out = ".leuknode-demo"

    @Option(help: "Number of hospitals (nodes).") var nodes = 3
    @Option(help: "Local training rounds per node.") var rounds = 12
    @Option(help: "SGD steps per round (each round is one epoch of a hospital's images).") var stepsPerRound = FederationDefaults.stepsPerRound
    @Option(help: "Synthetic images per hospital.") var count = 400
    @Option(help: "Synthetic images in the common test set.") var testCount = 300
    @Option(help: ArgumentHelp("Real images instead of synthetic ones.", valueName: "DIR")) var dataset: String?
    @Option(help: ArgumentHelp("Folder-to-class map for --dataset, e.g. Benign=hem,Early=all,Pre=all,Pro=all.", valueName: "MAP"))
    var labelMap: String?
    @Option(help: "Label skew across hospitals for --dataset (Dirichlet alpha).") var dirichlet = 0.5
    @Option(help: "Seed of data generation and splits.") var seed: UInt64 = 7
    @Option(help: "Input size of the network.") var size = 64

    func validate() throws {
        guard (2...16).contains(nodes) else { throw ValidationError("--nodes must be between 2 and 16") }
        guard (1...500).contains(rounds) else { throw ValidationError("--rounds must be between 1 and 500") }
        guard (1...1000).contains(stepsPerRound) else { throw ValidationError("--steps-per-round must be between 1 and 1000") }
        guard (40...100_000).contains(count) else { throw ValidationError("--count must be between 40 and 100000") }
        guard (20...100_000).contains(testCount) else { throw ValidationError("--test-count must be between 20 and 100000") }
        guard dirichlet > 0, dirichlet.isFinite else { throw ValidationError("--dirichlet must be a positive number") }
        guard size >= 8, size % 8 == 0, size <= 512 else { throw ValidationError("--size must be a multiple of 8 from 8 to 512") }
        if labelMap != nil && dataset == nil { throw ValidationError("--label-map goes with --dataset") }
        if let dataset {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dataset, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--dataset \(dataset) is not a directory")
            }
        }
    }

    func run() async throws {
        let started = Date()
        let runner = DemoRunner(options: self)
        do {
            try await runner.run()
        } catch let error as any LeukUserFacingError {
            runner.supervisor.terminateAll(grace: 5)
            CLIOutput.failure(error)
            throw ExitCode.failure
        } catch {
            runner.supervisor.terminateAll(grace: 5)
            throw error
        }
        printFlushed(String(format: "\ndemo finished in %.0f s", Date().timeIntervalSince(started)))
    }
}

/// Drives the demo: data, nodes, federation, evaluation, clinic scene.
final class DemoRunner: Sendable {
    let options: Demo
    let supervisor = ProcessSupervisor()
    let executable = DemoRunner.selfExecutable()
    let root: String
    /// The last round each node reported (they report from their output handlers' threads).
    private let lastRound = Mutex<[Int: Int]>([:])

    init(options: Demo) {
        self.options = options
        root = (options.out as NSString).standardizingPath
    }

    struct Hospital {
        var name: String
        var dataDir: String
        var datasetDir: String
        var peerPort: Int
        var apiPort: Int
        /// Hospital 1 serves the web portal (`portal` in its config.json), so the demo's doctor and patient can sign in.
        var portalPort: Int?
        var trainSamples: [DatasetSample]
    }

    func run() async throws {
        supervisor.installSignalHandlers()
        try prepareFolder()
        say("== 1. data")
        let (classes, hospitals, testSamples) = try prepareData()
        say("== 2. nodes: init and exchange contacts")
        try initialiseNodes(hospitals)
        say("== 3. federation: \(hospitals.count) nodes as real processes on loopback, \(options.rounds) rounds of \(options.stepsPerRound) steps")
        try startNodes(hospitals)
        try await waitForRounds(hospitals)
        say("all nodes finished their local rounds; letting gossip settle...")
        try await Task.sleep(for: .seconds(3))
        var federated: [[Float]] = []
        for hospital in hospitals {
            let client = try await NodeAPIClient.running(NodeDirectory(path: hospital.dataDir))
            let status = try await client.status()
            let bytes = try await client.modelFile()
            let model = try Model.load(bytes: bytes, path: "\(hospital.name) federated model")
            federated.append(model.parameters)
            say("\(hospital.name): model version \(status.model.version), \(status.model.contributors.count) contributors, "
                + "updates in \(status.updatesReceived), neighbor distance \(status.neighborDistance.map { String(format: "%.3e", $0) } ?? "n/a")")
        }
        say("== 4. clinic scene through \(hospitals[0].name)'s API")
        try clinicScene(hospitals[0], image: testSamples.first { classes[$0.label] == "all" }?.path ?? testSamples[0].path)
        say("== 5. shutting the nodes down cleanly")
        supervisor.terminateAll(grace: 20)
        say("== 6. evaluation on the common held-out test set (\(testSamples.count) images)")
        try evaluate(classes: classes, hospitals: hospitals, testSamples: testSamples, federated: federated)
        let bin = Self.displayPath(executable)
        say("""

        The demo folder stays in place: \(root)
        Look inside a node (start it again, then ask it):
          \(bin) start --data-dir \(hospitals[0].dataDir) &
          \(bin) status --data-dir \(hospitals[0].dataDir)
          \(bin) model history --data-dir \(hospitals[0].dataDir)
          LEUKNODE_SESSION=\(root)/doctor.session \(bin) appointment list --data-dir \(hospitals[0].dataDir)
        """)
        if let portal = hospitals[0].portalPort {
            say("""

            The web portal of \(hospitals[0].name) (while it runs; the `start` above serves it again):
              http://127.0.0.1:\(portal)
              doctor:  \(Self.doctorName) / \(Self.doctorPassword)     (review queue, slots, appointments, messages)
              patient: \(Self.patientName) / \(Self.patientPassword)    (appointments, messages, released results)
            """)
        }
    }

    // MARK: Steps

    private func prepareFolder() throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: root) {
            guard fm.fileExists(atPath: root + "/.leuknode-demo") else {
                throw CLIFailure("\(root) exists and is not a demo folder; refusing to delete it", hint: "pass another --out")
            }
            try fm.removeItem(atPath: root)
        }
        try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/.leuknode-demo", contents: Data("made by leuknode demo; deleted by the next run\n".utf8))
    }

    private func prepareData() throws -> ([String], [Hospital], [DatasetSample]) {
        let n = options.nodes
        var perNode: [[DatasetSample]] = []
        var test: [DatasetSample] = []
        var classes = ["hem", "all"]
        var datasetDirs: [String] = []
        if let datasetPath = options.dataset {
            let labelMap = try options.labelMap.map { try LabelMap(parsing: $0) }
            let dataset = try DatasetScanner.scan(directory: datasetPath, labelMap: labelMap).groupingExactDuplicates()
            classes = dataset.classes
            let split = Splitter.split(dataset, fractions: (0.8, 0, 0.2), seed: options.seed)
            test = split.test
            perNode = try Partitioner.dirichlet(dataset.subset(split.train), nodes: n, alpha: options.dirichlet, seed: options.seed)
            let counts = try PartitionWriter.write(perNode, classes: classes, to: root + "/data")
            datasetDirs = (1...n).map { root + "/data/node-\($0)" }
            say("\(dataset.samples.count) images of \(datasetPath): \(split.test.count) held out for the test set; the rest split "
                + "across \(n) hospitals with Dirichlet(\(options.dirichlet)) label skew (image-level split: optimistic)")
            for (k, c) in counts.enumerated() { say("  hospital-\(k + 1): " + zip(classes, c).map { "\($0) \($1)" }.joined(separator: ", ")) }
        } else {
            let mix = try SyntheticCells.writeFederation(to: root + "/data", sites: n, countPerSite: options.count, seed: options.seed,
                                                         size: options.size)
            for site in 0..<n {
                _ = try SyntheticCells.writeDataset(to: root + "/data/test/site-\(site)", count: max(2, options.testCount / n),
                                                   seed: options.seed &+ 10_000 &+ UInt64(site), size: options.size, site: site)
            }
            datasetDirs = (0..<n).map { root + "/data/site-\($0)" }
            for dir in datasetDirs { perNode.append(try DatasetScanner.scan(directory: dir, labelMap: nil).samples) }
            for site in 0..<n { test += try DatasetScanner.scan(directory: root + "/data/test/site-\(site)", labelMap: nil).samples }
            say("synthetic cells: \(n) hospitals with their own stain and class mix, \(test.count) common test images")
            for (k, counts) in mix.enumerated() {
                say("  hospital-\(k + 1): " + counts.sorted { $0.key > $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
        }
        let hospitals = try (0..<n).map { k in
            Hospital(name: "hospital-\(k + 1)", dataDir: root + "/hospital-\(k + 1)", datasetDir: datasetDirs[k],
                     peerPort: try freeLoopbackPort(), apiPort: try freeLoopbackPort(), portalPort: k == 0 ? try freeLoopbackPort() : nil,
                     trainSamples: perNode[k])
        }
        return (classes, hospitals, test)
    }

    private func initialiseNodes(_ hospitals: [Hospital]) throws {
        var contacts: [String] = []
        for h in hospitals {
            try cli(["init", "--data-dir", h.dataDir, "--name", h.name, "--listen", "127.0.0.1:\(h.peerPort)",
                     "--api", "127.0.0.1:\(h.apiPort)"] + (h.portalPort.map { ["--portal", "127.0.0.1:\($0)"] } ?? []))
            let id = try cli(["id", "--data-dir", h.dataDir]).split(separator: "\n").map(String.init)
            contacts.append(id[0])
            say("\(h.name): fingerprint \(id[1]), peers on 127.0.0.1:\(h.peerPort), API on 127.0.0.1:\(h.apiPort)"
                + (h.portalPort.map { ", web portal on http://127.0.0.1:\($0)" } ?? ""))
        }
        for (i, h) in hospitals.enumerated() {
            for (j, contact) in contacts.enumerated() where j != i { try cli(["peer", "add", "--data-dir", h.dataDir, contact]) }
        }
        say("every hospital admitted the others (mutual, as in WireGuard)")
    }

    private func startNodes(_ hospitals: [Hospital]) throws {
        for (k, h) in hospitals.enumerated() {
            _ = try supervisor.start(
                name: h.name, executable: executable,
                arguments: ["start", "--data-dir", h.dataDir, "--dataset", h.datasetDir, "--rounds", String(options.rounds),
                            "--steps-per-round", String(options.stepsPerRound), "--gossip-interval", "0.5", "--round-pause", "0.1",
                            "--data-seed", String(options.seed &+ UInt64(k))],
                onLine: { [weak self] line in self?.noteProgress(node: k, line: line) })
        }
    }

    private func noteProgress(node: Int, line: String) {
        guard line.hasPrefix("round "), let number = Int(line.dropFirst(6).prefix { $0.isNumber }) else { return }
        lastRound.withLock { $0[node] = number }
    }

    private func waitForRounds(_ hospitals: [Hospital]) async throws {
        let deadline = Date().addingTimeInterval(Double(options.rounds) * 30 + 120)
        while Date() < deadline {
            let done = lastRound.withLock { last in (0..<hospitals.count).allSatisfy { (last[$0] ?? 0) >= options.rounds } }
            if done { return }
            if supervisor.interrupted {
                try await Task.sleep(for: .seconds(60))  // the signal handler is stopping the nodes and exits
                continue
            }
            guard supervisor.allRunning else { throw CLIFailure("a node stopped before finishing its rounds; see its lines above") }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw CLIFailure("the nodes did not finish \(options.rounds) rounds in time")
    }

    static let doctorName = "dr-lee", doctorPassword = "demo-doctor-password"
    static let patientName = "pat-ana", patientPassword = "demo-patient-password"

    private func clinicScene(_ h: Hospital, image: String) throws {
        let session = ["LEUKNODE_SESSION": root + "/doctor.session"]
        say("$ leuknode user add --role doctor --name dr-lee        (with the operator token in DATA_DIR/admin.token)")
        say(try cli(["user", "add", "--role", "doctor", "--name", Self.doctorName, "--password-stdin", "--data-dir", h.dataDir],
                    stdin: Self.doctorPassword + "\n"))
        say("$ leuknode user add --role patient --name pat-ana")
        say(try cli(["user", "add", "--role", "patient", "--name", Self.patientName, "--password-stdin", "--data-dir", h.dataDir],
                    stdin: Self.patientPassword + "\n"))
        say("$ leuknode login --name dr-lee")
        say(try cli(["login", "--name", Self.doctorName, "--password-stdin", "--data-dir", h.dataDir], stdin: Self.doctorPassword + "\n",
                    environment: session))
        let formatter = ISO8601DateFormatter()
        for hours in [3, 26, 50] {
            let start = formatter.string(from: Date().addingTimeInterval(Double(hours) * 3600).roundedToQuarterHour)
            say("$ leuknode slot add --start \(start) --minutes 30")
            say(try cli(["slot", "add", "--start", start, "--minutes", "30", "--data-dir", h.dataDir], environment: session))
        }
        say("$ leuknode diagnose --patient pat-ana \((image as NSString).lastPathComponent)")
        let diagnosis = try cli(["diagnose", "--patient", "pat-ana", image, "--data-dir", h.dataDir, "--json"], environment: session)
        struct Outcome: Decodable {
            struct Result: Decodable {
                struct Appointment: Decodable { let id: String }
                let prediction: String
                let probabilities: [String: Double]
                let follow_up: String
                let appointment: Appointment?
            }
            let model_version: UInt64
            let results: [Result]
        }
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data(diagnosis.utf8))
        if let result = outcome.results.first {
            say(String(format: "prediction %@ with P(all) = %.3f by federated model version %llu: follow-up %@",
                       result.prediction, result.probabilities["all"] ?? 0, outcome.model_version, result.follow_up))
            if let appointment = result.appointment {
                say("$ leuknode appointment confirm \(appointment.id)")
                say(try cli(["appointment", "confirm", appointment.id, "--data-dir", h.dataDir], environment: session))
            } else {
                say("no appointment needed for a routine outcome")
            }
        }
        say("$ leuknode appointment list")
        say(try cli(["appointment", "list", "--data-dir", h.dataDir], environment: session))
        if let portal = h.portalPort {
            say("web portal of \(h.name): http://127.0.0.1:\(portal) (sign in as \(Self.doctorName) / \(Self.doctorPassword) or \(Self.patientName) / \(Self.patientPassword))")
        }
    }

    private func evaluate(classes: [String], hospitals: [Hospital], testSamples: [DatasetSample], federated: [[Float]]) throws {
        let scenario = DemoScenario(classes: classes, nodeSamples: hospitals.map(\.trainSamples), testSamples: testSamples,
                                    size: options.size, rounds: options.rounds, stepsPerRound: options.stepsPerRound,
                                    seed: options.seed)
        let comparison = try scenario.compare(federatedParameters: federated, progress: say)
        let local = comparison.localOnly, federatedMetrics = comparison.federated, centralized = comparison.centralized
        let rows: [(String, EvaluationMetrics)] = zip(hospitals, local).map { ("local-only \($0.name)", $1) }
            + zip(hospitals, federatedMetrics).map { ("federated \($0.name)", $1) }
            + [("centralized (pooled data)", centralized)]
        say("")
        say(DemoTable.render(rows))
        let meanLocal = local.map(\.accuracy).reduce(0, +) / Double(local.count)
        let meanFederated = federatedMetrics.map(\.accuracy).reduce(0, +) / Double(federatedMetrics.count)
        say(String(format: "\nmean accuracy: local-only %.3f, federated %.3f, centralized %.3f (federated %+.1f points vs local-only, %+.1f vs centralized)",
                   meanLocal, meanFederated, centralized.accuracy, (meanFederated - meanLocal) * 100, (meanFederated - centralized.accuracy) * 100))
        say("response time: single-image diagnosis, decode and preprocessing included, in this process")
    }

    // MARK: Helpers

    @discardableResult
    private func cli(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIFailure("`leuknode \(arguments.prefix(3).joined(separator: " "))` failed: \(errors.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return output.trimmingCharacters(in: .newlines)
    }

    private func say(_ line: String) { printFlushed(line) }

    /// The executable as the user can type it: relative to the current directory when below it.
    static func displayPath(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }

    static func selfExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

extension Date {
    var roundedToQuarterHour: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 / 900).rounded(.up) * 900)
    }
}

/// A free TCP port on 127.0.0.1: bind port 0, read what the kernel chose, close.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw CLIFailure("cannot open a socket to find a free port") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw CLIFailure("cannot bind a loopback socket to find a free port") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The comparison table the demo ends with.
enum DemoTable {
    static func render(_ rows: [(String, EvaluationMetrics)]) -> String {
        let header = ["MODEL", "ACCURACY", "PRECISION", "RECALL", "SPECIFICITY", "F1", "DETECTION", "AUC", "P50 MS", "P95 MS", "P99 MS"]
        func f(_ x: Double) -> String { String(format: "%.3f", x) }
        func ms(_ x: Double?) -> String { x.map { String(format: "%.2f", $0) } ?? "-" }
        return TextTable.render(header: header, rows: rows.map { name, m in
            [name, f(m.accuracy), f(m.precision), f(m.recall), f(m.specificity), f(m.f1), f(m.detectionRate),
             m.auc.map(f) ?? "-", ms(m.responseTimeMs?.p50), ms(m.responseTimeMs?.p95), ms(m.responseTimeMs?.p99)]
        })
    }
}

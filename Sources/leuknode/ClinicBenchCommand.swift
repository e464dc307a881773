import ArgumentParser
import LeukAPI
import LeukClinic
import LeukCore
import LeukCrypto
import LeukMetrics
import Foundation

/// `leuknode clinic-bench`: measures the running node's clinic through its API on loopback, as a
/// client would see it: diagnose-request latency (p50/p99) and appointment-booking throughput with
/// concurrent clients racing for the same slots. It creates its own users, slots, diagnoses and
/// appointments (all audited), so run it on a throwaway node.
///
/// With `--load-clients N --duration S` it runs the load benchmark instead (`ClinicLoad`): N concurrent
/// clients on kept-alive connections diagnose, list and message for S seconds; it exits 1 when any request failed.
struct ClinicBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clinic-bench",
        abstract: "Measure diagnose latency and booking throughput of the running node's API (use a throwaway node).")

    @OptionGroup var data: DataDirOptions
    @Option(help: "The image to diagnose.") var image: String
    @Option(help: "Sequential diagnose requests to time.") var requests = 200
    @Option(help: "Concurrent booking clients.") var clients = 8
    @Option(help: "Slots the clients race to book.") var slots = 200
    @Option(help: "Run the load benchmark instead: this many concurrent clients diagnose, list and message.")
    var loadClients: Int?
    @Option(help: "Seconds the load benchmark runs.") var duration = 60
    @Option(help: "Doctor-patient pairs the load clients share (each pair has an appointment to message in).")
    var loadPairs = 20
    @Option(help: "The node's process id, to report its peak threads and open files during the load.")
    var nodePid: Int32?
    @Flag(help: "Print the figures as JSON.") var json = false

    func validate() throws {
        guard (1...100_000).contains(requests), (1...256).contains(clients), (1...10_000).contains(slots) else {
            throw ValidationError("--requests 1...100000, --clients 1...256, --slots 1...10000")
        }
        if let loadClients, !(1...5000).contains(loadClients) { throw ValidationError("--load-clients 1...5000") }
        guard (1...3600).contains(duration), (1...200).contains(loadPairs) else {
            throw ValidationError("--duration 1...3600 seconds, --load-pairs 1...200")
        }
        guard FileManager.default.isReadableFile(atPath: image) else { throw ValidationError("cannot read --image \(image)") }
    }

    struct Figures: Codable {
        var diagnoseRequests: Int
        var diagnoseP50Ms: Double
        var diagnoseP99Ms: Double
        var diagnoseMeanMs: Double
        var modelMeanMs: Double
        var bookingClients: Int
        var slots: Int
        var bookingAttempts: Int
        var bookingsPerSecond: Double
        var attemptsPerSecond: Double
        var doubleBookings: Int
        enum CodingKeys: String, CodingKey {
            case diagnoseRequests = "diagnose_requests", diagnoseP50Ms = "diagnose_p50_ms", diagnoseP99Ms = "diagnose_p99_ms"
            case diagnoseMeanMs = "diagnose_mean_ms", modelMeanMs = "model_mean_ms", bookingClients = "booking_clients", slots
            case bookingAttempts = "booking_attempts", bookingsPerSecond = "bookings_per_second"
            case attemptsPerSecond = "attempts_per_second", doubleBookings = "double_bookings"
        }
    }

    func run() async throws {
        if let loadClients {
            try await runLoad(clients: loadClients)
            return
        }
        let options = ClinicContext(dataDir: data.dataDir, json: json)
        let imageBytes = FileManager.default.contents(atPath: image) ?? Data()
        let figures = try await reportingErrors { () -> Figures in
            let adminClient = try options.client(.operatorFirst)
            let admin = Client.over(adminClient)
            let tag = Hex.encode(randomBytes(3))
            let password = "bench-" + Hex.encode(randomBytes(8))
            func account(_ name: String, _ role: Components.Schemas.Role) async throws -> Client {
                _ = try await refusalsAsThrown {
                    try await admin.createUser(body: .json(.init(name: name, role: role, password: password))).created
                }
                var client = adminClient
                client.token = try await refusalsAsThrown {
                    try await admin.login(body: .json(.init(name: name, password: password))).ok.body.json.token
                }
                return Client.over(client)
            }
            let doctor = try await account("bench-dr-\(tag)", .doctor)
            var patients: [Client] = []
            for i in 0..<clients { patients.append(try await account("bench-pt-\(tag)-\(i)", .patient)) }

            // 1. Diagnose latency, one request at a time.
            let request = Components.Schemas.DiagnoseRequest(patient: "bench-pt-\(tag)-0", file_name: (image as NSString).lastPathComponent,
                                                             image_base64: .init([UInt8](imageBytes)))
            var latencies: [Double] = []
            var modelTimes: [Double] = []
            for _ in 0..<requests {
                let start = monotonicNanoseconds()
                let outcome = try await refusalsAsThrown { try await doctor.diagnose(body: .json(request)).created.body.json }
                latencies.append(Double(monotonicNanoseconds() - start) / 1e6)
                modelTimes.append(outcome.diagnosis.response_time_ms)
            }
            latencies.sort()

            // 2. Booking: every client walks the same slots in the same order, so they collide.
            // Slots start a week ahead, 20 minutes apart (200 slots span under three days).
            let base = Date().addingTimeInterval(7 * 24 * 3600)
            var slotIDs: [String] = []
            for i in 0..<slots {
                let start = base.addingTimeInterval(Double(i) * 1200)
                slotIDs.append(try await refusalsAsThrown {
                    try await doctor.addSlot(body: .json(.init(start: start, end: start.addingTimeInterval(900)))).created.body.json.id
                })
            }
            let ids = slotIDs
            let begin = monotonicNanoseconds()
            let (attempts, won) = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
                for patient in patients {
                    group.addTask {
                        var attempts = 0
                        var mine: [String] = []
                        for slot in ids {
                            attempts += 1
                            do {
                                _ = try await refusalsAsThrown { try await patient.book(body: .json(.init(slot: slot))).created }
                                mine.append(slot)
                            } catch let error as LeukAPI.APIClientError where error.status == 409 {
                                continue
                            }
                        }
                        return (attempts, mine)
                    }
                }
                var attempts = 0
                var won: [String] = []
                for try await (a, mine) in group {
                    attempts += a
                    won += mine
                }
                return (attempts, won)
            }
            let seconds = Double(monotonicNanoseconds() - begin) / 1e9
            func percentile(_ p: Double) -> Double { MetricsComputation.percentile(latencies, p * 100) ?? 0 }
            return Figures(
                diagnoseRequests: requests, diagnoseP50Ms: percentile(0.5), diagnoseP99Ms: percentile(0.99),
                diagnoseMeanMs: latencies.reduce(0, +) / Double(latencies.count),
                modelMeanMs: modelTimes.reduce(0, +) / Double(max(1, modelTimes.count)), bookingClients: clients, slots: slots,
                bookingAttempts: attempts, bookingsPerSecond: Double(won.count) / seconds, attemptsPerSecond: Double(attempts) / seconds,
                doubleBookings: won.count - Set(won).count + max(0, won.count - slots))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
        } else {
            print(String(format: "diagnose: %d requests, p50 %.2f ms, p99 %.2f ms, mean %.2f ms (of which model %.2f ms)",
                         figures.diagnoseRequests, figures.diagnoseP50Ms, figures.diagnoseP99Ms, figures.diagnoseMeanMs, figures.modelMeanMs))
            print(String(format: "booking:  %d clients racing for %d slots: %.0f bookings/s, %.0f attempts/s (409s included), %d double bookings",
                         figures.bookingClients, figures.slots, figures.bookingsPerSecond, figures.attemptsPerSecond, figures.doubleBookings))
        }
        if figures.doubleBookings != 0 { throw ExitCode.failure }
    }
}

extension ClinicBench {
    /// The load benchmark: sets up `--load-pairs` doctors and patients with an appointment each, then runs
    /// `ClinicLoad` and prints its figures.
    func runLoad(clients: Int) async throws {
        let options = ClinicContext(dataDir: data.dataDir, json: json)
        let imageBytes = [UInt8](FileManager.default.contents(atPath: image) ?? Data())
        let figures = try await reportingErrors { () -> ClinicLoad.Figures in
            let adminClient = try options.client(.operatorFirst)
            let admin = Client.over(adminClient)
            let tag = Hex.encode(randomBytes(3))
            let password = "load-" + Hex.encode(randomBytes(8))
            func account(_ name: String, _ role: Components.Schemas.Role) async throws -> (Client, String) {
                _ = try await refusalsAsThrown {
                    try await admin.createUser(body: .json(.init(name: name, role: role, password: password))).created
                }
                var client = adminClient
                let token = try await refusalsAsThrown {
                    try await admin.login(body: .json(.init(name: name, password: password))).ok.body.json.token
                }
                client.token = token
                return (Client.over(client), token)
            }
            // Each pair: a doctor, a patient, and an appointment in a slot a week ahead, to message in.
            let base = Date().addingTimeInterval(7 * 24 * 3600)
            var pairs: [ClinicLoad.Pair] = []
            for i in 0..<loadPairs {
                let (doctor, doctorToken) = try await account("load-dr-\(tag)-\(i)", .doctor)
                let patientName = "load-pt-\(tag)-\(i)"
                let (patient, patientToken) = try await account(patientName, .patient)
                let start = base.addingTimeInterval(Double(i) * 1800)
                let slot = try await refusalsAsThrown {
                    try await doctor.addSlot(body: .json(.init(start: start, end: start.addingTimeInterval(1800)))).created.body.json.id
                }
                let appointment = try await refusalsAsThrown { try await patient.book(body: .json(.init(slot: slot))).created.body.json.id }
                pairs.append(ClinicLoad.Pair(doctorToken: doctorToken, patientName: patientName, patientToken: patientToken,
                                             appointmentID: appointment))
            }
            let load = ClinicLoad(client: adminClient, pairs: pairs, image: imageBytes, fileName: (image as NSString).lastPathComponent,
                                  clients: clients, duration: .seconds(duration), nodePID: nodePid)
            return try await load.run()
        }
        try options.output(figures) { figures in
            print(String(format: "load: %d clients for %.1f s: %d requests (%.0f/s), %d errors",
                         figures.clients, figures.seconds, figures.requests, figures.requestsPerSecond, figures.errors)
                + "; load average \(figures.loadAverage)")
            for operation in ClinicLoad.Operation.allCases {
                guard let f = figures.operations[operation.rawValue] else { continue }
                print("  " + operation.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(format: " %7d requests, %d errors, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                             f.requests, f.errors, f.p50Ms, f.p99Ms, f.maxMs))
            }
            if let threads = figures.nodeThreadsMax, let files = figures.nodeOpenFilesMax {
                print("  node: at most \(threads) threads and \(files) open files")
            }
            for sample in figures.errorSamples { print("  error: \(sample)") }
        }
        if figures.errors != 0 { throw ExitCode.failure }
    }
}

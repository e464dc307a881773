import LeukAPI
import LeukCore
import LeukCrypto
import LeukMetrics
import Foundation
import Synchronization

/// `leuknode clinic-bench --load-clients N --duration S`: N clients, each on its own kept-alive connection,
/// send diagnose, list and message requests to the node's API in turn, as fast as the node answers, for S
/// seconds. A benchmark, not a test: it reports requests, errors (any answer that is not 2xx, and every
/// failed connection), latency percentiles per operation, the node's threads and open files (with
/// `--node-pid`) and the machine's load.
struct ClinicLoad {
    /// The three operations a client cycles through.
    enum Operation: String, CaseIterable, Codable, Sendable {
        /// A doctor diagnoses an image for their patient (the model runs; image, record and audit entry synced).
        case diagnose
        /// A doctor lists the patient's diagnoses (read; audited).
        case list
        /// The patient writes in the appointment's thread (synced; pushed to the doctor's event stream).
        case message
    }

    /// The people one client acts as: a doctor, their patient, and an appointment between them.
    struct Pair: Sendable {
        var doctorToken: String
        var patientName: String
        var patientToken: String
        var appointmentID: String
    }

    struct OperationFigures: Codable {
        var requests: Int
        var errors: Int
        var p50Ms: Double
        var p99Ms: Double
        var maxMs: Double
        enum CodingKeys: String, CodingKey {
            case requests, errors, p50Ms = "p50_ms", p99Ms = "p99_ms", maxMs = "max_ms"
        }
    }

    struct Figures: Codable {
        var clients: Int
        var seconds: Double
        var requests: Int
        var errors: Int
        var requestsPerSecond: Double
        var operations: [String: OperationFigures]
        /// The first distinct error messages (at most 10).
        var errorSamples: [String]
        var nodeThreadsMax: Int?
        var nodeOpenFilesMax: Int?
        var loadAverage: String
        enum CodingKeys: String, CodingKey {
            case clients, seconds, requests, errors, requestsPerSecond = "requests_per_second", operations
            case errorSamples = "error_samples", nodeThreadsMax = "node_threads_max", nodeOpenFilesMax = "node_open_files_max"
            case loadAverage = "load_average"
        }
    }

    /// What one client saw.
    struct ClientResult: Sendable {
        var latencies: [Operation: [Double]] = [:]
        var errors: [Operation: Int] = [:]
        var errorSamples: [String] = []
    }

    let client: APIClient
    let pairs: [Pair]
    let image: [UInt8]
    let fileName: String
    let clients: Int
    let duration: Duration
    let nodePID: Int32?

    func run() async throws -> Figures {
        let sampler = NodeSampler(pid: nodePID)
        let sampling = Task { await sampler.sample(every: .milliseconds(500)) }
        let start = ContinuousClock.now
        let deadline = start + duration
        let diagnoseBody = Self.json(["file_name": fileName, "image_base64": Data(image).base64EncodedString()])
        let results = await withTaskGroup(of: ClientResult.self) { group in
            for index in 0..<clients {
                let pair = pairs[index % pairs.count]
                group.addTask {
                    await Self.runClient(index: index, client: client, pair: pair, diagnoseBody: diagnoseBody, until: deadline)
                }
            }
            var all: [ClientResult] = []
            for await result in group { all.append(result) }
            return all
        }
        let elapsed = ContinuousClock.now - start
        sampling.cancel()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var operations: [String: OperationFigures] = [:]
        var samples: [String] = []
        for result in results { for sample in result.errorSamples where !samples.contains(sample) && samples.count < 10 { samples.append(sample) } }
        for operation in Operation.allCases {
            var latencies = results.flatMap { $0.latencies[operation] ?? [] }
            latencies.sort()
            let errors = results.reduce(0) { $0 + ($1.errors[operation] ?? 0) }
            operations[operation.rawValue] = OperationFigures(
                requests: latencies.count + errors, errors: errors, p50Ms: MetricsComputation.percentile(latencies, 50) ?? 0,
                p99Ms: MetricsComputation.percentile(latencies, 99) ?? 0, maxMs: latencies.last ?? 0)
        }
        let requests = operations.values.reduce(0) { $0 + $1.requests }
        let errors = operations.values.reduce(0) { $0 + $1.errors }
        let peaks = await sampler.peaks()
        let loadAverage = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
            .split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
        return Figures(clients: clients, seconds: seconds, requests: requests, errors: errors,
                       requestsPerSecond: Double(requests) / seconds, operations: operations, errorSamples: samples,
                       nodeThreadsMax: peaks.threads, nodeOpenFilesMax: peaks.files, loadAverage: loadAverage)
    }

    /// One client: its own connection (a new one after a failure), the three operations in turn, from a
    /// different one for each client so they do not move in step.
    static func runClient(index: Int, client: APIClient, pair: Pair, diagnoseBody: [UInt8], until deadline: ContinuousClock.Instant) async -> ClientResult {
        var result = ClientResult()
        var turn = index
        let patient = pair.patientName.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? pair.patientName
        var diagnose = (try? JSONSerialization.jsonObject(with: Data(diagnoseBody))) as? [String: String] ?? [:]
        diagnose["patient"] = pair.patientName
        let diagnoseRequest = json(diagnose)
        func failed(_ operation: Operation, _ message: String) {
            result.errors[operation, default: 0] += 1
            if result.errorSamples.count < 10 && !result.errorSamples.contains(message) { result.errorSamples.append(message) }
        }
        while ContinuousClock.now < deadline {
            var pending: Operation?
            do {
                try await client.withConnection { connection in
                    while ContinuousClock.now < deadline {
                        let operation = Operation.allCases[turn % Operation.allCases.count]
                        turn += 1
                        pending = operation
                        let start = ContinuousClock.now
                        let response: APIClientResponse
                        switch operation {
                        case .diagnose:
                            response = try await connection.send(.post, "/v1/diagnoses", token: pair.doctorToken, body: diagnoseRequest)
                        case .list:
                            response = try await connection.send(.get, "/v1/diagnoses?patient=\(patient)", token: pair.doctorToken)
                        case .message:
                            let body = json(["body": "load message \(turn) from client \(index)"])
                            response = try await connection.send(.post, "/v1/appointments/\(pair.appointmentID)/messages",
                                                                 token: pair.patientToken, body: body)
                        }
                        pending = nil
                        let elapsed = ContinuousClock.now - start
                        if (200..<300).contains(response.status) {
                            result.latencies[operation, default: []].append(
                                Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
                        } else {
                            failed(operation, "\(operation.rawValue): \(response.status) "
                                + String(decoding: response.body.prefix(200), as: UTF8.self))
                        }
                    }
                }
            } catch {
                failed(pending ?? .diagnose, "\(pending?.rawValue ?? "connect"): \(error)")
                // A failed connection is counted once; do not spin on a node that refuses connections.
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        return result
    }

    static func json(_ object: [String: String]) -> [UInt8] {
        [UInt8]((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

}

/// Reads the node's thread count and open files from /proc while the load runs, and keeps the peaks.
actor NodeSampler {
    let pid: Int32?
    private var threads: Int?
    private var files: Int?

    init(pid: Int32?) { self.pid = pid }

    func sample(every interval: Duration) async {
        guard let pid else { return }
        while !Task.isCancelled {
            if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") }),
               let count = Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) {
                threads = max(threads ?? 0, count)
            }
            if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") {
                files = max(files ?? 0, entries.count)
            }
            try? await Task.sleep(for: interval)
        }
    }

    func peaks() -> (threads: Int?, files: Int?) { (threads, files) }
}

import ArgumentParser
import Foundation
import LeukNet

/// `leuknode bench-net`: the loopback figures quoted in network/PROTOCOL.md.
struct NetBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-net",
        abstract: "Measure the federation channel on loopback: handshake time, throughput, per-update overhead.",
        discussion: """
        Opens real TCP connections on 127.0.0.1 with the production handler stack (handshake, \
        secret streams, framing) between two throw-away identities. Targets: handshake under 5 ms, \
        at least 500 MB/s for large frames, under 1% overhead for a 285,922-parameter update.
        """)

    @Option(help: "Handshakes to time (each on a fresh connection).")
    var handshakes = 200

    @Option(help: ArgumentHelp("Size of each throughput frame, in MiB.", valueName: "MIB"))
    var frameMib = 16

    @Option(help: "Frames to send through one session for the throughput figure.")
    var frames = 48

    @Option(help: "Parameters of the model whose update overhead is measured.")
    var parameters = 285_922

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard (1...100_000).contains(handshakes) else { throw ValidationError("--handshakes must be between 1 and 100000") }
        guard (1...63).contains(frameMib) else { throw ValidationError("--frame-mib must be between 1 and 63 (the frame limit is 64 MiB)") }
        guard (1...10_000).contains(frames) else { throw ValidationError("--frames must be between 1 and 10000") }
        guard (1...16_000_000).contains(parameters) else { throw ValidationError("--parameters must be between 1 and 16000000") }
    }

    func run() async throws {
        let report = try await NetworkBenchmark.run(.init(handshakes: handshakes, frameBytes: frameMib * 1024 * 1024,
                                                          frames: frames, parameterCount: parameters))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        func pass(_ ok: Bool) -> String { ok ? "ok" : "MISSED" }
        print("handshake (connect + 3 messages + stream headers), \(report.handshakes) runs:")
        print(String(format: "  median %.3f ms, p90 %.3f ms   target < 5 ms: %@", report.handshakeMillisecondsMedian,
                     report.handshakeMillisecondsP90, pass(report.handshakeMillisecondsMedian < 5)))
        print("throughput, \(report.frames) frames of \(report.frameBytes / 1_048_576) MiB through one session:")
        print(String(format: "  %.0f MB/s   target >= 500 MB/s: %@", report.throughputMegabytesPerSecond,
                     pass(report.throughputMegabytesPerSecond >= 500)))
        print(String(format: "  (%.2f s wall, %.2f s CPU for both ends together)", report.throughputWallSeconds, report.throughputCPUSeconds))
        print("overhead of one signed update of \(report.parameterCount) parameters (\(report.modelBytes) bytes):")
        print(String(format: "  %d bytes = %.4f%%   target < 1%%: %@", report.overheadBytesPerUpdate, report.overheadPercent,
                     pass(report.overheadPercent < 1)))
    }
}

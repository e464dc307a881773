import Foundation
import Synchronization

/// One parser that reads bytes from outside the node, wrapped so a fuzzer can feed it anything.
///
/// `run` must return for every input: a refusal is a clean `.refused` with the parser's own error text, and
/// a trap (overflow, index out of range, a failed precondition, an unbounded allocation) is a product bug the
/// fuzzer reports. Where a parser has an encoder, `run` also checks that what it accepted encodes and decodes
/// to the same value, with a precondition: a parser that accepts bytes it cannot reproduce is a bug too.
public struct FuzzTarget: Sendable {
    /// The name `leukfuzz` and the corpus folders (Tests/FuzzCorpus/<name>) use.
    public let name: String
    /// What it feeds, in one line, for `leukfuzz list`.
    public let summary: String
    /// Whether its seeds are committed under Tests/FuzzCorpus/<name>/seeds. The image target's seeds are
    /// images, and no image is committed to the project (tests and fuzzing make their own): `fuzz.sh` makes them
    /// afresh for every run, and LeukFuzzTests checks the generator every `make test`.
    public let seedsCommitted: Bool
    let body: Body
    let makeSeeds: @Sendable () async -> [FuzzSeed]

    /// A parser is synchronous, or async (the API's bodies: OpenAPIRuntime reads a body as an async sequence).
    enum Body: Sendable {
        case sync(@Sendable ([UInt8]) -> FuzzOutcome)
        case async(@Sendable ([UInt8]) async -> FuzzOutcome)
    }

    init(name: String, summary: String, seedsCommitted: Bool = true, run: @escaping @Sendable ([UInt8]) -> FuzzOutcome,
         seeds: @escaping @Sendable () async -> [FuzzSeed]) {
        self.init(name: name, summary: summary, seedsCommitted: seedsCommitted, body: .sync(run), seeds: seeds)
    }

    init(name: String, summary: String, seedsCommitted: Bool = true, body: Body, seeds: @escaping @Sendable () async -> [FuzzSeed]) {
        self.name = name
        self.summary = summary
        self.seedsCommitted = seedsCommitted
        self.body = body
        self.makeSeeds = seeds
    }

    /// Feeds one input to the parser.
    public func run(_ bytes: [UInt8]) async -> FuzzOutcome {
        switch body {
        case let .sync(run): return run(bytes)
        case let .async(run): return await run(bytes)
        }
    }

    /// Feeds one input from a thread outside Swift concurrency (libFuzzer's callback): a synchronous parser
    /// runs right here; an async one runs on the global executor while this thread waits for it. Never call
    /// it from a task: the waiting thread would be one the parser may need.
    public func runBlocking(_ bytes: [UInt8]) -> FuzzOutcome {
        switch body {
        case let .sync(run):
            return run(bytes)
        case let .async(run):
            let done = DispatchSemaphore(value: 0)
            let outcome = Mutex<FuzzOutcome?>(nil)
            Task.detached {
                let result = await run(bytes)
                outcome.withLock { $0 = result }
                done.signal()
            }
            done.wait()
            return outcome.withLock { $0! }
        }
    }

    /// Valid inputs made by the product's own encoders (and real state machines), deterministic: the seed
    /// corpus `leukfuzz seeds` writes. Every one of them is `.accepted` (LeukFuzzTests checks it).
    public func seeds() async -> [FuzzSeed] { await makeSeeds() }
}

/// A named input of a seed corpus.
public struct FuzzSeed: Sendable {
    public let name: String
    public let bytes: [UInt8]

    public init(_ name: String, _ bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}

/// How one input ended.
public enum FuzzOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The parser accepted the input (and it survived the round trip, where there is one).
    case accepted
    /// The parser refused it with this error text.
    case refused(String)

    public var description: String {
        switch self {
        case .accepted: return "accepted"
        case let .refused(why): return "refused: \(why)"
        }
    }

    static func of(_ error: any Error) -> FuzzOutcome { .refused("\(error)") }
}

/// Every fuzz target, by name.
public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        WireTargets.frame, WireTargets.sessionRecords, WireTargets.handshakeInitiator, WireTargets.handshakeResponder,
        WireTargets.modelUpdate, CryptoTargets.contact, CryptoTargets.keyFile, DataTargets.image, DataTargets.safetensors,
        StoreTargets.records, APITargets.json,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

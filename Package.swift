// swift-tools-version:6.2
// leuknode: federated leukemia screening. See docs/architecture.md for the module picture;
// every dependency arrow points down, and each C library sits in exactly one shim target.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
]

/// Hot numeric code is compiled optimised even in debug builds, so tests and `swift run` stay usable.
let numeric: [SwiftSetting] = strict + [.unsafeFlags(["-Ounchecked"])]

/// Code that reads untrusted input (the gossip core, image decoding) keeps its checks (-O, not
/// -Ounchecked), but it is optimised even in debug builds: the simulator runs the gossip core for
/// thousands of node-rounds, and training decodes and augments every image.
let checkedFast: [SwiftSetting] = strict + [.unsafeFlags(["-O"])]

let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "leuknode",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "leuknode", targets: ["leuknode"]),
        // The fuzzing driver (docs/reliability.md, "Fuzzing"): `make fuzz` builds it alone, sanitized, in .build/fuzz.
        .executable(name: "leukfuzz", targets: ["leukfuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // swift-openapi-generator makes typed Clients from docs/api/openapi.yaml (build plugin, for the CLI and the
        // tests); Yams (tests only) reads the document to compare it with the routes the server registers.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        // The Hummingbird transport of the server LeukAPI generates from the same document.
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        // The web portal (LeukPortal): server-rendered Mustache templates, and multipart/form-data for the
        // doctor's image upload (the one place a browser sends a file).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
    ],
    targets: [
        // C libraries, one cage each.
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CStbImage", pkgConfig: "stb", providers: [.apt(["libstb-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),

        // Foundations.
        .target(name: "LeukCore", swiftSettings: strict),
        .target(name: "LeukCrypto", dependencies: ["LeukCore", "CSodium"], swiftSettings: strict),
        .target(name: "LeukStore", dependencies: ["LeukCore", "LeukCrypto", "CLevelDB"], swiftSettings: strict),

        // Images and the CNN.
        // LeukData parses untrusted uploads (the clinic's images), so it keeps bounds and overflow checks
        // (-O, not -Ounchecked); docs/data.md, "Bounds checks", measures what that costs.
        .target(name: "LeukData", dependencies: ["LeukCore", "LeukMetrics", "CStbImage", "CTIFF"], swiftSettings: checkedFast),
        // AVX-512 and AVX2 kernels in C (per-function target attributes, runtime CPU check, LEUKNODE_KERNELS), private to LeukTensor.
        .target(name: "CLeukKernels", path: "Sources/LeukTensor/Kernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "LeukTensor", dependencies: ["LeukCore", "COpenBLAS", "CLeukKernels"], exclude: ["Kernels"],
                swiftSettings: numeric),
        // The one metrics type (EvaluationMetrics: one AUC, one percentile, one confusion matrix), low
        // enough that the engine, the federated trainer and the report all share it.
        .target(name: "LeukMetrics", dependencies: ["LeukCore"], swiftSettings: strict),
        .target(name: "LeukModel", dependencies: ["LeukCore", "LeukTensor", "LeukData", "LeukMetrics"], swiftSettings: numeric),
        // The production trainer (FederatedTrainingSession) a hospital node runs, and the federation's
        // training defaults and class list; no experiment, SVG or Markdown code.
        .target(name: "LeukTraining", dependencies: ["LeukCore", "LeukData", "LeukTensor", "LeukModel", "LeukMetrics"],
                swiftSettings: numeric),

        // Federation: pure core, wire format, NIO shell.
        .target(name: "LeukGossip", dependencies: ["LeukCore"], swiftSettings: checkedFast),
        // The wire maps its refusals onto the gossip core's `RejectionReason`: one vocabulary for the whole node.
        .target(name: "LeukWire", dependencies: ["LeukCore", "LeukCrypto", "LeukGossip"], swiftSettings: strict),
        .target(name: "LeukNet", dependencies: ["LeukCore", "LeukCrypto", "LeukWire", "LeukGossip", nio, nioPosix, logging],
                swiftSettings: strict),

        // The clinic and the node that wires everything.
        .target(name: "LeukClinic", dependencies: ["LeukCore", "LeukCrypto", "LeukStore"], swiftSettings: strict),
        .target(name: "LeukNode", dependencies: [
            "LeukCore", "LeukCrypto", "LeukStore", "LeukData", "LeukModel", "LeukGossip", "LeukWire", "LeukNet",
            "LeukClinic", "LeukTraining", "LeukMetrics", logging, .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: strict),
        // Result types and SVG plots shared by `simulate` and `report`.
        .target(name: "LeukReport", dependencies: ["LeukCore", "LeukMetrics"], swiftSettings: strict),
        // The in-process simulation (`simulate`), its baselines and the demo's scenario.
        .target(name: "LeukExperiment", dependencies: [
            "LeukCore", "LeukData", "LeukTensor", "LeukModel", "LeukMetrics", "LeukTraining", "LeukGossip", "LeukReport",
        ], swiftSettings: numeric),
        // `openapi.yaml` is a link to docs/api/openapi.yaml, compiled into the binary (no resource bundle to ship).
        .target(name: "LeukAPI", dependencies: [
            "LeukCore", "LeukNode", "LeukClinic", logging, nio, nioPosix,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
        ], resources: [.embedInCode("openapi.yaml")], swiftSettings: strict,
        // The same link feeds swift-openapi-generator: types and server for the operations in its config file.
        plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),

        // The web portal for patients, doctors and admins: its own listener (`start --portal`), only the
        // person-facing clinic routes, every action through the same `Clinic` method (and audit) as its API twin.
        // Templates and static files are Swift string constants (a relocatable binary, no resource bundle).
        .target(name: "LeukPortal", dependencies: [
            "LeukCore", "LeukClinic", "LeukNode", "LeukAPI", logging, nio,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Mustache", package: "swift-mustache"),
            .product(name: "MultipartKit", package: "multipart-kit"),
        ], swiftSettings: strict),

        .executableTarget(name: "leuknode", dependencies: [
            "LeukCore", "LeukCrypto", "LeukStore", "LeukData", "LeukTensor", "LeukModel", "LeukGossip", "LeukWire",
            "LeukNet", "LeukClinic", "LeukNode", "LeukAPI", "LeukPortal", "LeukMetrics", "LeukTraining", "LeukReport", "LeukExperiment", logging,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
        ], swiftSettings: strict,
        // `openapi.yaml` links to docs/api/openapi.yaml: the typed `Client` of the commands moved to it so far.
        plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),

        // Fuzzing: every parser that reads bytes from outside, as named targets (LeukFuzz), and the driver that
        // runs one under libFuzzer or replays files through it (leukfuzz). CLibFuzzer only declares libFuzzer's
        // `LLVMFuzzerRunDriver`, which is linked in the sanitized build alone (`make fuzz`); a normal build
        // never calls it. Only the modules whose parsers are fuzzed, so the sanitized build stays small; LeukAPI (the
        // request bodies) brings Hummingbird and the OpenAPI runtime in (docs/reliability.md, "Fuzzing", has the cost).
        .systemLibrary(name: "CLibFuzzer"),
        .target(name: "LeukFuzz", dependencies: [
            "LeukCore", "LeukCrypto", "LeukStore", "LeukData", "LeukTensor", "LeukModel", "LeukWire", "LeukNet",
            "LeukClinic", "LeukNode", "LeukAPI", nio,
        ], swiftSettings: strict),
        .executableTarget(name: "leukfuzz", dependencies: ["LeukFuzz", "CLibFuzzer"],
                          swiftSettings: strict),

        // Tests: one target per library target, plus the clinic doubles both clinic suites share.
        .target(name: "ClinicTestSupport", dependencies: ["LeukClinic", "LeukCore", "LeukCrypto"],
                path: "Tests/ClinicTestSupport", swiftSettings: strict),
        .testTarget(name: "LeukCoreTests", dependencies: ["LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukCryptoTests", dependencies: ["LeukCrypto", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukStoreTests", dependencies: ["LeukStore", "LeukCrypto", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukTensorTests", dependencies: ["LeukTensor"], swiftSettings: strict),
        .testTarget(name: "LeukModelTests", dependencies: ["LeukModel", "LeukTensor", "LeukData", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukGossipTests", dependencies: ["LeukGossip", "LeukNet", "LeukWire", "LeukCrypto", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukMetricsTests", dependencies: ["LeukMetrics", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukReportTests", dependencies: ["LeukReport", "LeukMetrics", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["LeukCore", "LeukStore"], swiftSettings: strict),
        .testTarget(name: "LeukExperimentTests", dependencies: [
            "LeukExperiment", "LeukTraining", "LeukMetrics", "LeukReport", "LeukGossip", "LeukData", "LeukCore",
        ], swiftSettings: strict),
        .testTarget(name: "LeukDataTests", dependencies: ["LeukData", "LeukCore"], swiftSettings: strict),
        .testTarget(name: "LeukWireTests", dependencies: ["LeukWire", "LeukGossip", "LeukCrypto", "LeukCore"], exclude: ["Golden"], swiftSettings: strict),
        .testTarget(name: "LeukNetTests", dependencies: [
            "LeukNet", "LeukWire", "LeukCrypto", "LeukCore",
            nio, nioPosix, .product(name: "NIOEmbedded", package: "swift-nio"), logging,
        ], swiftSettings: strict),
        .testTarget(name: "LeukClinicTests", dependencies: ["ClinicTestSupport", "LeukClinic", "LeukStore", "LeukCrypto", "LeukCore"],
                    swiftSettings: strict),
        // Every committed fuzz input (seeds and regressions, Tests/FuzzCorpus) replayed through its target, unsanitized.
        .testTarget(name: "LeukFuzzTests", dependencies: ["LeukFuzz"], swiftSettings: strict),
        // The node layer over an in-memory transport: directive execution, status counters, persistence,
        // and the clinic's error contract against the real classifier.
        .testTarget(name: "LeukNodeTests", dependencies: [
            "ClinicTestSupport", "LeukNode", "LeukNet", "LeukWire", "LeukGossip", "LeukModel", "LeukData", "LeukClinic",
            "LeukStore", "LeukCrypto", "LeukCore", "LeukMetrics", logging,
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strict),
        // Real `leuknode` processes on loopback: federation, revocation, clinic, garbage on the port.
        .testTarget(name: "NodeE2ETests", dependencies: [
            "LeukCore", "LeukStore", "LeukCrypto", "LeukNet", "LeukWire", logging, nio, nioPosix,
        ], swiftSettings: strict),
        .testTarget(name: "LeukPortalTests", dependencies: [
            "ClinicTestSupport", "LeukPortal", "LeukClinic", "LeukStore", "LeukCrypto", "LeukCore", logging,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], swiftSettings: strict),
        .testTarget(name: "LeukAPITests", dependencies: [
            "ClinicTestSupport", "LeukAPI", "LeukClinic", "LeukStore", "LeukCrypto", "LeukCore", "LeukNode", "LeukMetrics", logging,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
        ], swiftSettings: strict,
        // `openapi.yaml` links to docs/api/openapi.yaml: the generated Client checks the server against the document.
        plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
    ]
)

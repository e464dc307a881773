import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Holds a TCP port on loopback for the duration of a test (or finds it already held by someone
/// else, which serves the test just as well: the port is taken either way).
final class HeldPort {
    let fd: Int32
    let port: Int

    init(_ port: Int) {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        _ = listen(fd, 1)
    }

    deinit { close(fd) }
}

/// The CLI speaks one way everywhere: snake_case JSON, JSON errors under `--json`, and ports that
/// name themselves when taken.
@Suite(.serialized) struct CLIConsistencyTests {
    @Test func initMovesOffTakenDefaultPortsAndSaysSo() throws {
        let held = (HeldPort(7400), HeldPort(7480))
        let dir = CLI.temporaryDirectory("ports") + "/node"
        let result = try CLI.run(["init", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any]
        #expect(config?["api"] as? String != "127.0.0.1:7480")
        #expect(config?["listen"] as? String != "127.0.0.1:7400")
        #expect(result.stderr.contains("API port 7480 is in use"))
        withExtendedLifetime(held) {}
    }

    @Test func startNamesATakenPortAndTheFix() throws {
        let held = HeldPort(7493)
        let dir = CLI.temporaryDirectory("inuse") + "/node"
        #expect(try CLI.run(["init", "--data-dir", dir, "--listen", "127.0.0.1:7494", "--api", "127.0.0.1:7493"]).status == 0)
        let start = try CLI.run(["start", "--data-dir", dir])
        #expect(start.status != 0)
        #expect(start.stderr.contains("127.0.0.1:7493 is already in use"), "\(start.stderr)")
        #expect(start.stderr.contains("config.json"))
        #expect(!start.stderr.contains("))"))

        // The same with --json: one JSON object on standard error.
        let json = try CLI.run(["start", "--data-dir", dir, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.stderr.utf8)) as? [String: String]
        #expect(object?["error"] != nil)
        withExtendedLifetime(held) {}
    }

    @Test func errorsUnderJSONAreJSONOnStandardError() throws {
        for arguments in [["status", "--json", "--data-dir", "/nonexistent/leuk"], ["dataset", "inspect", "/nonexistent/leuk", "--json"],
                          ["train", "--json", "--no-such-flag"]] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0)
            #expect(result.stdout.isEmpty)
            let object = try JSONSerialization.jsonObject(with: Data(result.stderr.utf8)) as? [String: String]
            #expect(object?["error"]?.isEmpty == false, "\(arguments): \(result.stderr)")
        }
    }

    @Test func simulateRefusesAClipQuantileOutsideZeroToOneOrWithoutClipping() throws {
        for (arguments, says) in [(["simulate", "--clip-quantile", "1.5"], "between 0 and 1"),
                                  (["simulate", "--clip-quantile", "0.5", "--aggregation", "mean"], "needs --aggregation clipped"),
                                  (["simulate", "--clip-step-floor=-1"], "at least 0"),
                                  (["simulate", "--clip-step-floor", "nan"], "at least 0"),
                                  (["simulate", "--clip-step-floor", "1.4", "--aggregation", "mean"], "needs --aggregation clipped"),
                                  (["simulate", "--clip-missing-class-factor", "0.5"], "at least 1"),
                                  (["simulate", "--outlier-factor", "nan"], "at least 1"),
                                  (["simulate", "--clip-missing-class-factor", "3", "--aggregation", "mean"], "needs --aggregation clipped")] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains(says), "\(arguments): \(result.stderr)")
        }
    }

    @Test func exchangesPerRoundAndClassBalanceAreCheckedBeforeAnythingRuns() throws {
        for (arguments, says) in [(["simulate", "--exchanges-per-round", "0"], "--exchanges-per-round must be from 1 to --steps-per-round (160), got 0"),
                                  (["simulate", "--steps-per-round", "4", "--exchanges-per-round", "5"], "from 1 to --steps-per-round (4), got 5"),
                                  (["simulate", "--class-balance", "pooled"], "--class-balance must be 'adaptive', 'federation', 'local' or 'none'"),
                                  (["start", "--exchanges-per-round", "0"], "--exchanges-per-round must be from 1"),
                                  (["start", "--class-balance", "pooled"], "--class-balance must be 'adaptive'")] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0)
            #expect(result.stderr.contains(says), "\(arguments): \(result.stderr)")
        }
    }

    @Test func theLearningRateDefaultsToTheChosenOptimisersOwn() throws {
        func rate(_ extra: [String]) throws -> (String?, Double?, String?) {
            let result = try CLI.run(["simulate", "--nodes", "2", "--rounds", "1", "--images-per-node", "8", "--test-images", "4",
                                      "--size", "16", "--steps-per-round", "2", "--no-baselines", "--json"] + extra)
            #expect(result.status == 0, "\(extra): \(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            let config = object?["config"] as? [String: Any]
            return (config?["optimizer"] as? String, config?["learning_rate"] as? Double, config?["optimizer_placement"] as? String)
        }
        let (fallback, fallbackRate, fallbackPlacement) = try rate([])
        #expect(fallback == "sgd" && fallbackRate == 0.01 && fallbackPlacement == nil, "the default recipe")
        let (adam, adamRate, adamPlacement) = try rate(["--optimizer", "adam"])
        #expect(adam == "adam" && adamRate == 0.003 && adamPlacement == "federation", "Adam steps on the averaged move by default")
        let (sgd, sgdRate, sgdPlacement) = try rate(["--optimizer", "sgd"])
        #expect(sgd == "sgd" && sgdRate == 0.01 && sgdPlacement == nil, "SGD on the local steps: the key is left out")
        #expect(try rate(["--optimizer", "adam", "--optimizer-placement", "local"]).2 == nil)
        for command in [["simulate"], ["start"]] {
            let wrong = try CLI.run(command + ["--optimizer-placement", "server"])
            #expect(wrong.status != 0 && wrong.stderr.contains("--optimizer-placement must be 'local' or 'federation', got 'server'"),
                    "\(command): \(wrong.stderr)")
        }
        let clash = try CLI.run(["simulate", "--optimizer", "adam", "--global-lr", "2"])
        #expect(clash.status != 0 && clash.stderr.contains("drop --global-lr"), "\(clash.stderr)")
        #expect(try rate(["--optimizer", "adam", "--learning-rate", "0.02"]).1 == 0.02, "an explicit rate wins")
        let refused = try CLI.run(["start", "--lr", "0"])
        #expect(refused.status != 0 && refused.stderr.contains("--lr must be a positive number"), "\(refused.stderr)")
        let unknown = try CLI.run(["simulate", "--missing-class-optimizer", "lamb"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--missing-class-optimizer must be 'sgd' or 'adam', got 'lamb'"), "\(unknown.stderr)")
    }

    @Test func datasetInspectSpeaksSnakeCase() throws {
        let dir = CLI.temporaryDirectory("synth")
        #expect(try CLI.run(["dataset", "synth", "--out", dir + "/syn", "--count", "6", "--seed", "1", "--size", "16"]).status == 0)
        let result = try CLI.run(["dataset", "inspect", dir + "/syn", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["ignored_files"] != nil)
        #expect(object?["ignoredFiles"] == nil)
    }
}

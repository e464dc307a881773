import Foundation
import Testing
import LeukMetrics
@testable import LeukReport

/// A result exactly as the contract of issue 7 spells it, written by hand (not by our encoder), so a
/// renamed key in the types fails here.
let contractJSON = """
{
  "config": {"nodes": 2, "rounds": 3, "topology": "ring", "dirichlet": 0.5, "seed": 42,
             "dataset": "synthetic", "threads": 1, "wall_seconds": 12.5},
  "centralized": {"accuracy": 0.9, "precision": 0.8, "recall": 1.0, "detection_rate": 1.0,
                  "specificity": 0.8333, "f1": 0.8889, "auc": 0.96,
                  "confusion": {"labels": ["hem", "all"], "matrix": [[5, 1], [0, 4]]},
                  "response_time_ms": {"p50": 0.4, "p95": 0.9, "p99": 1.3}, "n": 10},
  "local_only": {
    "mean": {"accuracy": 0.7, "precision": 0.6, "recall": 0.75, "detection_rate": 0.75, "specificity": 0.6667,
             "f1": 0.6667, "auc": 0.8, "confusion": {"labels": ["hem", "all"], "matrix": [[8, 4], [2, 6]]},
             "response_time_ms": null, "n": 20},
    "per_node": [
      {"accuracy": 0.6, "precision": 0.5, "recall": 0.5, "detection_rate": 0.5, "specificity": 0.6667, "f1": 0.5,
       "auc": 0.7, "confusion": {"labels": ["hem", "all"], "matrix": [[4, 2], [2, 2]]}, "response_time_ms": null, "n": 10},
      {"accuracy": 0.8, "precision": 0.6667, "recall": 1.0, "detection_rate": 1.0, "specificity": 0.6667, "f1": 0.8,
       "auc": 0.9, "confusion": {"labels": ["hem", "all"], "matrix": [[4, 2], [0, 4]]}, "response_time_ms": null, "n": 10}
    ]
  },
  "federated": {
    "mean": {"accuracy": 0.85, "precision": 0.8, "recall": 0.875, "detection_rate": 0.875, "specificity": 0.8333,
             "f1": 0.8333, "auc": null, "confusion": {"labels": ["hem", "all"], "matrix": [[10, 2], [1, 7]]},
             "response_time_ms": {"p50": 0.5, "p95": 1.0, "p99": 1.5}, "n": 20},
    "per_node": [
      {"accuracy": 0.9, "precision": 0.8, "recall": 1.0, "detection_rate": 1.0, "specificity": 0.8333, "f1": 0.8889,
       "auc": 0.95, "confusion": {"labels": ["hem", "all"], "matrix": [[5, 1], [0, 4]]},
       "response_time_ms": {"p50": 0.5, "p95": 1.0, "p99": 1.5}, "n": 10},
      {"accuracy": 0.8, "precision": 0.8, "recall": 0.75, "detection_rate": 0.75, "specificity": 0.8333, "f1": 0.7742,
       "auc": 0.9, "confusion": {"labels": ["hem", "all"], "matrix": [[5, 1], [1, 3]]},
       "response_time_ms": {"p50": 0.5, "p95": 1.0, "p99": 1.5}, "n": 10}
    ]
  },
  "rounds": [
    {"round": 1, "consensus_distance": 0.5, "mean_accuracy": 0.6},
    {"round": 2, "consensus_distance": 0.05, "mean_accuracy": 0.75, "local_only_accuracy": 0.65,
     "min_accuracy": 0.7, "max_accuracy": 0.8},
    {"round": 3, "consensus_distance": 0.004, "mean_accuracy": 0.85}
  ],
  "bytes_per_node_per_round": 1048576,
  "federated_scores": [{"label": 1, "score": 0.9}, {"label": 0, "score": 0.2}, {"label": 1, "score": 0.4},
                       {"label": 0, "score": 0.6}]
}
"""

struct ResultJSONTests {
    @Test func decodesTheContractKeys() throws {
        let result = try SimulationResult.decode(Data(contractJSON.utf8), source: "contract.json")
        #expect(result.config == SimulationConfig(nodes: 2, rounds: 3, topology: "ring", dirichlet: 0.5, seed: 42,
                                                  dataset: "synthetic", threads: 1, wallSeconds: 12.5))
        #expect(result.centralized.detectionRate == 1.0)
        #expect(result.centralized.confusion.matrix == [[5, 1], [0, 4]])
        #expect(result.centralized.responseTimeMs == ResponseTimePercentiles(p50: 0.4, p95: 0.9, p99: 1.3))
        #expect(result.localOnly.mean.responseTimeMs == nil)
        #expect(result.localOnly.perNode.map(\.accuracy) == [0.6, 0.8])
        #expect(result.federated.mean.auc == nil)
        #expect(result.federated.perNode[1].f1 == 0.7742)
        #expect(result.rounds.map(\.consensusDistance) == [0.5, 0.05, 0.004])
        #expect(result.rounds[1].localOnlyAccuracy == 0.65 && result.rounds[1].maxAccuracy == 0.8)
        #expect(result.rounds[0].minAccuracy == nil)
        #expect(result.bytesPerNodePerRound == 1_048_576)
        #expect(result.federatedScores?.count == 4)
        #expect(result.roc == nil)
    }

    @Test func roundTripKeepsEveryContractKey() throws {
        let result = try SimulationResult.decode(Data(contractJSON.utf8), source: "contract.json")
        let encoded = try result.jsonData()
        #expect(try SimulationResult.decode(encoded, source: "again") == result)

        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(Set(object.keys) == ["config", "centralized", "local_only", "federated", "rounds",
                                     "bytes_per_node_per_round", "federated_scores"])
        let metricKeys: Set<String> = ["accuracy", "precision", "recall", "detection_rate", "specificity", "f1", "auc",
                                       "confusion", "response_time_ms", "n"]
        let federated = try #require(object["federated"] as? [String: Any])
        #expect(Set(federated.keys) == ["mean", "per_node"])
        let mean = try #require(federated["mean"] as? [String: Any])
        #expect(Set(mean.keys) == metricKeys)  // null values keep their keys
        #expect(mean["auc"] is NSNull)
        let rounds = try #require(object["rounds"] as? [[String: Any]])
        #expect(Set(rounds[0].keys) == ["round", "consensus_distance", "mean_accuracy"])
        let config = try #require(object["config"] as? [String: Any])
        #expect(Set(config.keys) == ["nodes", "rounds", "topology", "dirichlet", "seed", "dataset", "threads", "wall_seconds"])
    }

    @Test func missingKeysAreNamedWithTheirPath() throws {
        func error(removing fragment: String, replacement: String = "") -> ResultFileError? {
            let damaged = contractJSON.replacingOccurrences(of: fragment, with: replacement)
            #expect(damaged != contractJSON, "fragment not found: \(fragment)")
            do {
                _ = try SimulationResult.decode(Data(damaged.utf8), source: "r.json")
                return nil
            } catch {
                return error
            }
        }
        #expect(error(removing: "\"bytes_per_node_per_round\": 1048576,") == .missingKey(path: "r.json", key: "bytes_per_node_per_round"))
        #expect(error(removing: "\"auc\": 0.9, \"confusion\": {\"labels\": [\"hem\", \"all\"], \"matrix\": [[5, 1], [1, 3]]}",
                      replacement: "\"confusion\": {\"labels\": [\"hem\", \"all\"], \"matrix\": [[5, 1], [1, 3]]}")
                == .missingKey(path: "r.json", key: "federated.per_node[1].auc"))
        #expect(error(removing: ", \"mean_accuracy\": 0.85}", replacement: "}") == .missingKey(path: "r.json", key: "rounds[2].mean_accuracy"))
        #expect(error(removing: "\"response_time_ms\": null, \"n\": 20", replacement: "\"n\": 20")
                == .missingKey(path: "r.json", key: "local_only.mean.response_time_ms"))
        #expect(error(removing: "\"nodes\": 2", replacement: "\"nodes\": \"two\"")
                == .wrongType(path: "r.json", key: "config.nodes", expected: "an integer"))
        let broken = error(removing: "\"rounds\": [", replacement: "\"rounds\": [[")
        guard case .invalidJSON(let path, _)? = broken else {
            Issue.record("expected invalid JSON, got \(String(describing: broken))")
            return
        }
        #expect(path == "r.json")
        #expect(error(removing: "\"matrix\": [[10, 2], [1, 7]]", replacement: "\"matrix\": [[10, 2, 3], [1, 7]]")
                == .invalidValue(path: "r.json", key: "federated.mean.confusion", reason: "row 0 has 3 columns for 2 labels"))
    }

    @Test func syntaxErrorsSayWhere() {
        do {
            _ = try SimulationResult.decode(Data("{\"a\":\n 1,,}".utf8), source: "s.json")
            Issue.record("broken JSON decoded")
        } catch {
            guard case .invalidJSON(let path, let reason) = error else {
                Issue.record("expected invalidJSON, got \(error)")
                return
            }
            #expect(path == "s.json")
            #expect(reason.hasSuffix("(line 2, column 4)"), "\(reason)")  // the second comma
        }
    }

    @Test func missingAndNonJSONFilesGetClearErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("leukreport-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("absent.json").path
        #expect(throws: ResultFileError.fileNotFound(path: missing)) { try SimulationResult.load(path: missing) }
        let garbage = directory.appendingPathComponent("garbage.json")
        try Data("not json at all".utf8).write(to: garbage)
        do {
            _ = try SimulationResult.load(path: garbage.path)
            Issue.record("garbage decoded")
        } catch {
            guard case .invalidJSON(let path, _) = error else {
                Issue.record("expected invalidJSON, got \(error)")
                return
            }
            #expect(path == garbage.path)
            #expect(error.userMessage.contains("is not valid JSON"))
        }
    }
}

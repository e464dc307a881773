import ArgumentParser
import Foundation
import LeukModel
import LeukTensor

/// `leuknode bench`: the CNN engine's throughput, latency and memory on synthetic input.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure LeukNet-S training and inference speed, latency and peak memory on synthetic input.",
        discussion: "Warm-up first, then the median of several runs. Figures depend on machine load: compare runs made side by side.",
        subcommands: [Measure.self, Reference.self],
        defaultSubcommand: Measure.self)

    struct Measure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "measure", abstract: "Run the benchmark (the default).")

        @Option(help: "OpenBLAS threads (default 1).") var threads: Int = 1
        @Option(help: "Timed runs per figure (the median is reported).") var runs: Int = 7
        @Option(help: "Architecture to measure.") var arch: String = "leuknet-s"
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
            guard runs >= 1, runs <= 1000 else { throw ValidationError("--runs must be between 1 and 1000") }
            do { _ = try Architecture(named: arch) } catch { throw ValidationError(error.userMessage) }
        }

        func run() async throws {
            let architecture = try Architecture(named: arch)
            let report = try await reportingErrors {
                try Benchmark.run(architecture: architecture, threads: threads, runs: runs)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.table)
            }
        }
    }

    /// Used by docs/scripts/compare_pytorch.py to cross-check the engine against PyTorch.
    struct Reference: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reference",
            abstract: "Write logits, loss, gradients and SGD losses for given weights and inputs (for cross-checks).",
            shouldDisplay: false)

        @Option(help: "Model file (safetensors).") var model: String
        @Option(help: "Input file: tensors `inputs` [N,3,S,S] and `labels` [N].") var input: String
        @Option(help: "Output file (safetensors).") var out: String
        @Option(help: "SGD learning rate.") var lr: Float = 0.01
        @Option(help: "SGD momentum.") var momentum: Float = 0.9
        @Option(help: "SGD weight decay.") var weightDecay: Float = 5e-4
        @Option(help: "SGD steps.") var steps: Int = 2
        @Option(help: "OpenBLAS threads.") var threads: Int = 1

        func validate() throws {
            guard steps >= 0, steps <= 1000 else { throw ValidationError("--steps must be between 0 and 1000") }
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        }

        func run() async throws {
            try await reportingErrors {
                try ReferenceRun.run(modelPath: model, inputPath: input, outputPath: out, learningRate: lr, momentum: momentum,
                                     weightDecay: weightDecay, steps: steps, threads: threads)
            }
        }
    }
}

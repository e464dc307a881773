import LeukMetrics
import Foundation
import LeukCore
internal import LeukTensor

/// The figures of `leuknode bench`: LeukNet-S at 64x64 on synthetic input, after a warm-up, each the
/// median of several timed runs.
public struct BenchmarkReport: Codable, Sendable {
    public var architecture: String
    public var batch: Int
    public var threads: Int
    public var runs: Int
    /// OpenBLAS's kernel (see `BLASKernel`).
    public var blasKernel: String
    /// The engine's own convolution kernels that ran: "avx512", "avx2" or "portable" (`VectorKernels`;
    /// `LEUKNODE_KERNELS` forces one).
    public var vectorKernels: String
    /// Training, batch 32, SGD with momentum: forward, backward and update.
    public var trainImagesPerS: Double
    /// Inference, batch 32, logits only.
    public var inferImagesPerS: Double
    /// One image through the network (softmax included), milliseconds.
    public var latencyMsP50: Double
    public var latencyMsP99: Double
    /// Peak resident memory of the whole process while training (VmHWM, reset before training where
    /// the kernel allows), MiB.
    public var trainPeakRssMib: Double
    /// The same throughputs per second of process CPU time: steadier than wall time on a loaded,
    /// shared machine (with one thread they equal wall-clock throughput on an idle one).
    public var trainImagesPerCPUSecond: Double
    public var inferImagesPerCPUSecond: Double

    enum CodingKeys: String, CodingKey {
        case architecture, batch, threads, runs, blasKernel = "blas_kernel", vectorKernels = "vector_kernels"
        case trainImagesPerS = "train_images_per_s", inferImagesPerS = "infer_images_per_s"
        case latencyMsP50 = "latency_ms_p50", latencyMsP99 = "latency_ms_p99"
        case trainPeakRssMib = "train_peak_rss_mib"
        case trainImagesPerCPUSecond = "train_images_per_cpu_s", inferImagesPerCPUSecond = "infer_images_per_cpu_s"
    }

    public var table: String {
        [
            "CNN benchmark (\(architecture), batch \(batch), \(threads) thread\(threads == 1 ? "" : "s"), OpenBLAS \(blasKernel) kernel, \(vectorKernels) convolution kernels, median of \(runs) runs)",
            String(format: "  train_images_per_s   %10.1f", trainImagesPerS),
            String(format: "  infer_images_per_s   %10.1f", inferImagesPerS),
            String(format: "  latency_ms_p50       %10.3f", latencyMsP50),
            String(format: "  latency_ms_p99       %10.3f", latencyMsP99),
            String(format: "  train_peak_rss_mib   %10.1f", trainPeakRssMib),
            String(format: "  (per CPU second: train %.1f, infer %.1f images)", trainImagesPerCPUSecond, inferImagesPerCPUSecond),
        ].joined(separator: "\n")
    }
}

public enum Benchmark {
    /// Runs the benchmark. Training is measured first so the process's peak RSS reflects training.
    public static func run(
        architecture: Architecture = .leuknetS, threads: Int, runs: Int = 7, trainStepsPerRun: Int = 10,
        inferBatchesPerRun: Int = 30, latencySamples: Int = 300
    ) throws(ModelError) -> BenchmarkReport {
        let batch = 32
        let model = try Model(architecture: architecture, classes: ["hem", "all"], seed: 1, threads: threads,
                              optimizer: .sgd(momentum: 0.9, weightDecay: 5e-4), learningRate: 0.01)
        var generator = SeededGenerator(seed: 99)
        let inputs = (0..<(batch * model.inputCount)).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let labels = (0..<batch).map { Int32($0 % 2) }
        let trainingBatch = TrainingBatch(inputs: inputs, labels: labels, count: batch)

        resetPeakRSS()
        for _ in 0..<3 { model.trainStep(trainingBatch) }
        var trainRates: [Double] = [], trainCPURates: [Double] = []
        for _ in 0..<runs {
            let start = monotonicNanoseconds(), cpuStart = processCPUSeconds()
            for _ in 0..<trainStepsPerRun { model.trainStep(trainingBatch) }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            trainRates.append(Double(batch * trainStepsPerRun) / seconds)
            trainCPURates.append(Double(batch * trainStepsPerRun) / max(processCPUSeconds() - cpuStart, 1e-9))
        }
        let peak = peakRSSMiB()

        for _ in 0..<3 { _ = model.logits(inputs) }
        var inferRates: [Double] = [], inferCPURates: [Double] = []
        for _ in 0..<runs {
            let start = monotonicNanoseconds(), cpuStart = processCPUSeconds()
            for _ in 0..<inferBatchesPerRun { _ = model.logits(inputs) }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            inferRates.append(Double(batch * inferBatchesPerRun) / seconds)
            inferCPURates.append(Double(batch * inferBatchesPerRun) / max(processCPUSeconds() - cpuStart, 1e-9))
        }

        let one = Array(inputs[0..<model.inputCount])
        for _ in 0..<20 { _ = model.predictProbabilities(one) }
        var latencies: [Double] = []
        for _ in 0..<latencySamples {
            let start = monotonicNanoseconds()
            _ = model.predictProbabilities(one)
            latencies.append(Double(monotonicNanoseconds() - start) / 1e6)
        }
        return BenchmarkReport(
            architecture: architecture.rawValue, batch: batch, threads: threads, runs: runs, blasKernel: BLASKernel.name,
            vectorKernels: VectorKernels.name,
            trainImagesPerS: median(trainRates), inferImagesPerS: median(inferRates),
            latencyMsP50: MetricsComputation.percentile(latencies, 50) ?? 0,
            latencyMsP99: MetricsComputation.percentile(latencies, 99) ?? 0,
            trainPeakRssMib: peak, trainImagesPerCPUSecond: median(trainCPURates), inferImagesPerCPUSecond: median(inferCPURates))
    }

    /// CPU time of the whole process (all threads), seconds.
    static func processCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    static func median(_ values: [Double]) -> Double { MetricsComputation.percentile(values, 50) ?? 0 }

    /// Resets the kernel's peak-RSS counter (Linux `clear_refs` value 5); harmless where unsupported.
    static func resetPeakRSS() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// VmHWM from /proc/self/status in MiB, 0 where unavailable.
    public static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.split(separator: " ").compactMap { Double($0) }
            if let kib = digits.first { return kib / 1024 }
        }
        return 0
    }
}

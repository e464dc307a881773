import ArgumentParser
import Foundation
import LeukCore
import LeukData

/// `leuknode dataset ...`: look at, synthesise and partition image datasets.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Inspect, synthesise and partition blood-smear image datasets.",
        subcommands: [Inspect.self, Synth.self, Split.self, DecodeBench.self]
    )
}

/// Where a dataset is and how its folders map onto classes; shared by every command that reads one.
struct DatasetSourceOptions: ParsableArguments {
    @Argument(help: "Dataset folder: DIR/<class>/*.{png,jpg,jpeg,bmp,tif,tiff}, or ALL-IDB files named ImNNN_Y.ext.")
    var directory: String

    @Option(help: "Map folder names onto classes, e.g. Benign=hem,Early=all,Pre=all,Pro=all.")
    var labelMap: String?

    @Option(help: "CSV manifest 'file,group' giving each image's patient or smear (default: DIR/manifest.csv if present).")
    var manifest: String?

    func validate() throws {
        if let labelMap {
            do { _ = try LabelMap(parsing: labelMap) } catch { throw ValidationError(error.userMessage) }
        }
    }

    func parsedLabelMap() throws -> LabelMap? {
        try labelMap.map { try LabelMap(parsing: $0) }
    }
}

/// Prints a library error the way a person should read it, then exits non-zero.
func failWithUserMessage(_ error: any Error) -> ExitCode {
    CLIOutput.failure(error)
    return ExitCode(1)
}

extension DatasetCommand {
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count images per class, sizes, formats, duplicates and problem files. Exits 0 when the dataset is usable (two or more classes with decodable images)."
        )

        @OptionGroup var source: DatasetSourceOptions

        @Flag(help: "Print the report as JSON.")
        var json = false

        @Option(help: "Decoder threads.")
        var threads = 2

        func validate() throws {
            guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64") }
        }

        func run() throws {
            let report: DatasetReport
            do {
                report = try DatasetInspector.inspect(directory: source.directory, labelMap: try source.parsedLabelMap(),
                                                      manifest: source.manifest, threads: threads)
            } catch { throw failWithUserMessage(error) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(Self.render(report))
            }
            if !report.usable { throw ExitCode(2) }
        }

        static func render(_ report: DatasetReport) -> String {
            var lines = ["dataset \(report.directory)"]
            lines.append("  images: \(report.images) in \(report.classes.count) class(es), \(report.groups) group(s)")
            for entry in report.classes { lines.append("    \(entry.name): \(entry.images)") }
            lines.append("  sizes: " + report.sizes.map { "\($0.width)x\($0.height) (\($0.images))" }.joined(separator: ", "))
            lines.append("  formats: " + report.formats.map { "\($0.format) (\($0.images))" }.joined(separator: ", "))
            if report.ignoredFiles > 0 { lines.append("  ignored non-image files: \(report.ignoredFiles)") }
            lines.append("  duplicates (same bytes): \(report.duplicates.count) set(s)")
            for set in report.duplicates { lines.append("    " + set.joined(separator: " = ")) }
            lines.append("  problems: \(report.problems.count)")
            for problem in report.problems { lines.append("    \(problem.path): \(problem.reason)") }
            lines.append(report.usable ? "  usable: yes" : "  usable: NO (needs at least two classes with decodable images)")
            return lines.joined(separator: "\n")
        }
    }

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render synthetic white-cell images (all = lymphoblasts, hem = lymphocytes) as class-folder PNGs."
        )

        @Option(help: "Output folder; gets hem/ and all/ sub-folders.")
        var out: String

        @Option(help: "Number of images.")
        var count: Int

        @Option(help: "Random seed; the same seed gives the same images.")
        var seed: UInt64 = 1

        @Option(help: "Image side in pixels.")
        var size = 64

        @Option(help: "0 (easy) ... 1 (hard): overlap of the two classes and strength of stain, blur and noise.")
        var difficulty = SyntheticCells.defaultDifficulty

        @Option(help: "Laboratory look (stain colours, light); different sites look different.")
        var site = 0

        @Option(help: "Fraction of 'all' images.")
        var classBalance = 0.5

        @Option(help: "File format: png, jpeg, bmp or tiff.")
        var format = "png"

        func validate() throws {
            guard (1...1_000_000).contains(count) else { throw ValidationError("--count must be between 1 and 1,000,000") }
            guard (16...1024).contains(size) else { throw ValidationError("--size must be between 16 and 1024") }
            guard (0...1).contains(difficulty) else { throw ValidationError("--difficulty must be between 0 and 1") }
            guard (0...1_000_000).contains(site) else { throw ValidationError("--site must be between 0 and 1,000,000") }
            guard (0...1).contains(classBalance) else { throw ValidationError("--class-balance must be between 0 and 1") }
            guard Self.formats[format] != nil else { throw ValidationError("--format must be png, jpeg, bmp or tiff") }
        }

        static let formats: [String: ImageFormat] = ["png": .png, "jpeg": .jpeg, "jpg": .jpeg, "bmp": .bmp, "tiff": .tiff, "tif": .tiff]

        func run() throws {
            let counts: [String: Int]
            do {
                counts = try SyntheticCells.writeDataset(to: out, count: count, seed: seed, size: size, difficulty: difficulty,
                                                         site: site, classBalance: classBalance, format: Self.formats[format]!)
            } catch { throw failWithUserMessage(error) }
            print("wrote \(count) images to \(out): " + SyntheticCells.classes.map { "\($0) \(counts[$0, default: 0])" }.joined(separator: ", "))
        }
    }

    struct Split: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Partition a dataset across federation nodes (Dirichlet label skew, or one group per node) and write one dataset per node."
        )

        @OptionGroup var source: DatasetSourceOptions

        @Option(help: "Number of nodes.")
        var nodes: Int

        @Option(help: "Dirichlet concentration: small (0.1) = strong label skew, large (100) = nearly IID.")
        var dirichlet: Double?

        @Flag(help: "Keep groups (smears/patients) whole, one hospital per group.")
        var byGroup = false

        @Option(help: "Output folder; gets node-1 ... node-N.")
        var out: String

        @Option(help: "Random seed; the same seed gives the same partition.")
        var seed: UInt64 = 1

        func validate() throws {
            guard (1...1000).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 1000") }
            switch (dirichlet, byGroup) {
            case (nil, false): throw ValidationError("choose one of --dirichlet ALPHA or --by-group")
            case (.some, true): throw ValidationError("--dirichlet and --by-group exclude each other")
            case (.some(let alpha), false):
                guard alpha > 0, alpha.isFinite else { throw ValidationError("--dirichlet must be a positive number") }
            case (nil, true): break
            }
        }

        func run() throws {
            do {
                let dataset = try DatasetScanner.scan(directory: source.directory, labelMap: try source.parsedLabelMap(), manifest: source.manifest)
                for problem in dataset.problems { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
                guard !dataset.samples.isEmpty else { throw DatasetError.noImages(path: source.directory) }
                let partition = if let dirichlet {
                    try Partitioner.dirichlet(dataset, nodes: nodes, alpha: dirichlet, seed: seed)
                } else {
                    try Partitioner.byGroup(dataset, nodes: nodes, seed: seed)
                }
                let counts = try PartitionWriter.write(partition, classes: dataset.classes, to: out)
                print(Self.table(classes: dataset.classes, counts: counts))
            } catch { throw failWithUserMessage(error) }
        }

        static func table(classes: [String], counts: [[Int]]) -> String {
            let width = max(6, classes.map(\.count).max() ?? 0)
            func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            var lines = ["node    " + classes.map(pad).joined(separator: " ") + " " + pad("total")]
            for (k, row) in counts.enumerated() {
                let name = "node-\(k + 1)"
                lines.append(name + String(repeating: " ", count: max(1, 8 - name.count)) + row.map { pad(String($0)) }.joined(separator: " ")
                             + " " + pad(String(row.reduce(0, +))))
            }
            return lines.joined(separator: "\n")
        }
    }
}

extension DatasetCommand {
    /// Decode throughput on a real folder, for the figures in docs/data.md. Not part of the issue's
    /// command contract; kept because every published number needs a command that reproduces it.
    struct DecodeBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode-bench",
            abstract: "Measure decode throughput (images/s) over a dataset folder: decode only on one thread, then the training cache path (decode + resize) on N threads."
        )

        @OptionGroup var source: DatasetSourceOptions

        @Option(help: "Passes over the folder for the single-thread decode figure (the best pass is reported).")
        var passes = 3

        @Option(help: "Threads for the cache figure.")
        var threads = 2

        @Option(help: "Model input size for the cache figure.")
        var size = 64

        func validate() throws {
            guard (1...20).contains(passes), (1...64).contains(threads), (8...1024).contains(size) else {
                throw ValidationError("--passes 1...20, --threads 1...64, --size 8...1024")
            }
        }

        func run() throws {
            do {
                let dataset = try DatasetScanner.scan(directory: source.directory, labelMap: try source.parsedLabelMap(), manifest: source.manifest)
                guard !dataset.samples.isEmpty else { throw DatasetError.noImages(path: source.directory) }
                // Read the bytes once, so the single-thread figure is decoding, not the page cache.
                let files = dataset.samples.compactMap { sample in
                    (try? Data(contentsOf: URL(fileURLWithPath: sample.path))).map { ([UInt8]($0), sample.path) }
                }
                var best = Double.infinity
                var failures = 0
                for _ in 0..<passes {
                    failures = 0
                    let start = monotonicNanoseconds()
                    for (bytes, name) in files {
                        do { _ = try ImageDecoder.decode(bytes: bytes, name: name) } catch { failures += 1 }
                    }
                    best = min(best, Double(monotonicNanoseconds() - start) / 1e9)
                }
                print(String(format: "decode (1 thread, from memory): %d images in %.3f s = %.0f images/s%@",
                             files.count, best, Double(files.count) / best, failures > 0 ? " (\(failures) failed)" as NSString : "" as NSString))
                let start = monotonicNanoseconds()
                let cache = ImageCache(dataset: dataset, size: size, threads: threads)
                let seconds = Double(monotonicNanoseconds() - start) / 1e9
                print(String(format: "cache (read + decode + resize to %d, %d threads): %d images in %.3f s = %.0f images/s, %d problem(s)",
                             size, threads, cache.count, seconds, Double(cache.count) / seconds, cache.problems.count))
            } catch { throw failWithUserMessage(error) }
        }
    }
}

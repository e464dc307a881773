/// Everything `leuknode dataset inspect` reports about a dataset folder.
public struct DatasetReport: Sendable, Codable, Equatable {
    public struct ClassCount: Sendable, Codable, Equatable {
        public var name: String
        public var images: Int
        public init(name: String, images: Int) { self.name = name; self.images = images }
    }
    public struct SizeCount: Sendable, Codable, Equatable {
        public var width: Int
        public var height: Int
        public var images: Int
        public init(width: Int, height: Int, images: Int) { self.width = width; self.height = height; self.images = images }
    }
    public struct FormatCount: Sendable, Codable, Equatable {
        public var format: String
        public var images: Int
        public init(format: String, images: Int) { self.format = format; self.images = images }
    }

    public var directory: String
    /// True when at least two classes each have at least one decodable image.
    public var usable: Bool
    /// Decodable images, in total and per class (class order as in `Dataset.classes`).
    public var images: Int
    public var classes: [ClassCount]
    /// Distinct groups (smears or patients) among decodable images.
    public var groups: Int
    public var sizes: [SizeCount]
    public var formats: [FormatCount]
    /// Sets of files with identical bytes (each set has two or more paths).
    public var duplicates: [[String]]
    /// Every file that could not be used, and why.
    public var problems: [DatasetProblem]
    /// Files skipped because their extension is not an image one (README, CSV, ...).
    public var ignoredFiles: Int

    /// snake_case, like every other JSON the CLI prints (`dataset inspect --json`).
    enum CodingKeys: String, CodingKey {
        case directory, usable, images, classes, groups, sizes, formats, duplicates, problems
        case ignoredFiles = "ignored_files"
    }
}

/// Decodes every image of a dataset (in parallel) to find the ones that cannot be used, and
/// summarises counts, sizes, formats and duplicates.
public enum DatasetInspector {
    public static func inspect(directory: String, labelMap: LabelMap?, manifest: String? = nil, threads: Int = 2,
                               limits: DecodeLimits = .standard) throws(DatasetError) -> DatasetReport {
        let dataset = try DatasetScanner.scan(directory: directory, labelMap: labelMap, manifest: manifest)
        struct Outcome: Sendable {
            var header: ImageHeader?
            var hash: UInt64
            var error: ImageError?
        }
        let samples = dataset.samples
        let outcomes = parallelMap(count: samples.count, threads: threads) { i -> Outcome in
            do throws(ImageError) {
                let bytes = try FileBytes.read(path: samples[i].path, limit: limits.maxFileBytes)
                let image = try ImageDecoder.decode(bytes: bytes, name: samples[i].path, limits: limits)
                let format = ImageFormat.sniff(bytes)!
                return Outcome(header: ImageHeader(format: format, width: image.width, height: image.height, channels: 3),
                               hash: fastHash(bytes), error: nil)
            } catch {
                return Outcome(header: nil, hash: 0, error: error)
            }
        }
        var problems = dataset.problems
        var perClass = [Int](repeating: 0, count: dataset.classes.count)
        var sizes: [String: DatasetReport.SizeCount] = [:]
        var formats: [String: Int] = [:]
        var groups: Set<String> = []
        var byHash: [UInt64: [Int]] = [:]
        for (i, outcome) in outcomes.enumerated() {
            if let error = outcome.error { problems.append(DatasetProblem(error)); continue }
            guard let header = outcome.header else { continue }
            perClass[samples[i].label] += 1
            groups.insert(samples[i].group)
            sizes["\(header.width)x\(header.height)", default: .init(width: header.width, height: header.height, images: 0)].images += 1
            formats[header.format.rawValue, default: 0] += 1
            byHash[outcome.hash, default: []].append(i)
        }
        let duplicates = confirmDuplicates(byHash.values.filter { $0.count > 1 }.map { $0.map { samples[$0].path } }, limit: limits.maxFileBytes)
        let classes = zip(dataset.classes, perClass).map { DatasetReport.ClassCount(name: $0, images: $1) }
        return DatasetReport(
            directory: directory,
            usable: perClass.filter { $0 > 0 }.count >= 2,
            images: perClass.reduce(0, +),
            classes: classes,
            groups: groups.count,
            sizes: sizes.values.sorted { $0.images != $1.images ? $0.images > $1.images : ($0.width, $0.height) < ($1.width, $1.height) },
            formats: formats.map { .init(format: $0.key, images: $0.value) }.sorted { $0.images != $1.images ? $0.images > $1.images : $0.format < $1.format },
            duplicates: duplicates,
            problems: problems.sorted { $0.path < $1.path },
            ignoredFiles: dataset.ignoredFiles)
    }

    /// Splits hash buckets into sets of byte-identical files.
    private static func confirmDuplicates(_ buckets: [[String]], limit: Int) -> [[String]] {
        var sets: [[String]] = []
        for bucket in buckets {
            var remaining = bucket.sorted()
            while let first = remaining.first {
                guard let reference = try? FileBytes.read(path: first, limit: limit) else { remaining.removeFirst(); continue }
                var same = [first], rest: [String] = []
                for other in remaining.dropFirst() {
                    if let bytes = try? FileBytes.read(path: other, limit: limit), bytes == reference { same.append(other) } else { rest.append(other) }
                }
                if same.count > 1 { sets.append(same) }
                remaining = rest
            }
        }
        return sets.sorted { $0[0] < $1[0] }
    }
}

extension Dataset {
    /// The same dataset with byte-identical files joined into one group (and with them every
    /// other file of their groups), so that a split can never put one picture on both sides.
    /// Public datasets do contain copies: the Aria et al. (2021) set has 40 duplicate pairs.
    /// Unreadable files are left as they are (decoding reports them later).
    public func groupingExactDuplicates(threads: Int = 2, limits: DecodeLimits = .standard) -> Dataset {
        let samples = self.samples
        let hashes = parallelMap(count: samples.count, threads: threads) { i -> UInt64? in
            (try? FileBytes.read(path: samples[i].path, limit: limits.maxFileBytes)).map(fastHash)
        }
        var byHash: [UInt64: [Int]] = [:]
        for (i, hash) in hashes.enumerated() { if let hash { byHash[hash, default: []].append(i) } }
        // Union-find over group names; the canonical name of a merged group is its smallest member.
        var parent: [String: String] = [:]
        func root(_ g: String) -> String {
            var g = g
            while let p = parent[g], p != g { g = p }
            return g
        }
        func union(_ a: String, _ b: String) {
            let (ra, rb) = (root(a), root(b))
            if ra != rb { if ra < rb { parent[rb] = ra } else { parent[ra] = rb } }
        }
        for bucket in byHash.values where bucket.count > 1 {
            let contents = bucket.map { try? FileBytes.read(path: samples[$0].path, limit: limits.maxFileBytes) }
            for a in 0..<bucket.count {
                for b in (a + 1)..<bucket.count where contents[a] != nil && contents[a] == contents[b] {
                    union(samples[bucket[a]].group, samples[bucket[b]].group)
                }
            }
        }
        var out = self
        for i in out.samples.indices { out.samples[i].group = root(out.samples[i].group) }
        return out
    }
}

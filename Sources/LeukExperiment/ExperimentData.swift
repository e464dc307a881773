import LeukData
import LeukCore
import LeukTraining
import Foundation

/// Where a simulation's images come from.
public enum SimulationDataSource: Sendable, Equatable {
    /// Synthetic cells rendered in memory: one site (stain) per node, `imagesPerNode` training
    /// images each, and a common test set of `testImages` spread evenly over the sites, balanced.
    case synthetic(imagesPerNode: Int, testImages: Int, difficulty: Double)
    /// A dataset folder (`--dataset DIR [--label-map ...]`), split 80/20 into train and test
    /// (stratified by class, groups kept together), the training part partitioned across nodes.
    case dataset(directory: String, labelMap: String?)
}

/// How training images are dealt to nodes.
public enum PartitionScheme: Sendable, Equatable {
    /// Label skew: each node's class mix drawn from Dirichlet(alpha).
    case dirichlet(alpha: Double)
    /// Node `i` holds only class `i mod K` (the worst case of label skew).
    case oneClassPerNode
    /// Equal random shares.
    case iid

    /// The name used in `config.partition`.
    public var name: String {
        switch self {
        case .dirichlet: "dirichlet"
        case .oneClassPerNode: "one-class-per-node"
        case .iid: "iid"
        }
    }
}

/// The images of a simulation: one shared cache, each node's training indices, the common test set.
struct FederationData {
    var cache: ImageCache
    var nodeTrainIndices: [[Int]]
    var testIndices: [Int]
    var description: String
}

enum FederationDataBuilder {
    static func build(source: SimulationDataSource, partition: PartitionScheme, nodes: Int, size: Int, seed: UInt64,
                      threads: Int, testDirectory: String? = nil, progress: (String) -> Void) throws -> FederationData {
        switch source {
        case let .synthetic(imagesPerNode, testImages, difficulty):
            return try synthetic(nodes: nodes, imagesPerNode: imagesPerNode, testImages: testImages, difficulty: difficulty,
                                 partition: partition, size: size, seed: seed, threads: threads)
        case let .dataset(directory, labelMap):
            return try dataset(directory: directory, labelMap: labelMap, partition: partition, nodes: nodes, size: size,
                               seed: seed, threads: threads, testDirectory: testDirectory, progress: progress)
        }
    }

    /// One hospital per node, each with its own stain; the class mix per node follows `partition`.
    static func synthetic(nodes: Int, imagesPerNode: Int, testImages: Int, difficulty: Double, partition: PartitionScheme,
                          size: Int, seed: UInt64, threads: Int) throws -> FederationData {
        guard imagesPerNode >= 2 else { throw ExperimentError("synthetic nodes need at least 2 images each, got \(imagesPerNode)") }
        guard testImages >= 2 else { throw ExperimentError("the synthetic test set needs at least 2 images, got \(testImages)") }
        var rng = SeededGenerator(seed: seed ^ 0x51D_C0DE)
        var images: [RGBImage] = []
        var samples: [DatasetSample] = []
        var nodeIndices: [[Int]] = []
        var balances: [Double] = []
        for node in 0..<nodes {
            let balance: Double
            switch partition {
            case let .dirichlet(alpha): balance = rng.nextDirichlet(alpha: alpha, count: 2)[1]
            case .oneClassPerNode: balance = node % 2 == 0 ? 0 : 1
            case .iid: balance = 0.5
            }
            balances.append(balance)
            let generated = SyntheticCells.generate(count: imagesPerNode, seed: seed &+ UInt64(node + 1) &* 7919, size: size,
                                                    difficulty: difficulty, site: node, classBalance: balance, threads: threads)
            var indices: [Int] = []
            for (i, (image, label)) in zip(generated.images, generated.labels).enumerated() {
                indices.append(images.count)
                images.append(image)
                samples.append(DatasetSample(path: "synthetic/site-\(node)/train-\(i)", label: label, group: "site-\(node)-\(i)"))
            }
            nodeIndices.append(indices)
        }
        var testIndices: [Int] = []
        let perSite = max(1, testImages / nodes)
        var remaining = testImages
        for node in 0..<nodes where remaining > 0 {
            let count = node == nodes - 1 ? remaining : min(perSite, remaining)
            remaining -= count
            let generated = SyntheticCells.generate(count: count, seed: seed &+ 0xBEEF &+ UInt64(node) &* 104_729, size: size,
                                                    difficulty: difficulty, site: node, classBalance: 0.5, threads: threads)
            for (i, (image, label)) in zip(generated.images, generated.labels).enumerated() {
                testIndices.append(images.count)
                images.append(image)
                samples.append(DatasetSample(path: "synthetic/site-\(node)/test-\(i)", label: label, group: "site-\(node)-test-\(i)"))
            }
        }
        let cache = ImageCache(images: images, samples: samples, classes: SyntheticCells.classes, size: size)
        let mixes = balances.map { String(format: "%.2f", $0) }.joined(separator: " ")
        return FederationData(cache: cache, nodeTrainIndices: nodeIndices, testIndices: testIndices,
                              description: "synthetic: \(nodes) sites x \(imagesPerNode) images (fraction of all per node: \(mixes)), test \(testIndices.count) images")
    }

    /// Without `testDirectory`, 80/20 of `directory` (stratified, groups together); with it, every
    /// image of `directory` is dealt to the nodes and the test set is exactly the images of
    /// `testDirectory` (same label map), the way published splits are compared against.
    static func dataset(directory: String, labelMap: String?, partition: PartitionScheme, nodes: Int, size: Int, seed: UInt64,
                        threads: Int, testDirectory: String? = nil, progress: (String) -> Void) throws -> FederationData {
        let map = try labelMap.map { text throws(DatasetError) in try LabelMap(parsing: text) }
        var dataset = try DatasetScanner.scan(directory: directory, labelMap: map)
        var external: Dataset?
        if let testDirectory {
            let scanned = try DatasetScanner.scan(directory: testDirectory, labelMap: map)
            let classes = Dataset.orderedClasses(Set(dataset.classes + scanned.classes))
            dataset = try FederationClasses.relabel(dataset, to: classes)
            external = try FederationClasses.relabel(scanned, to: classes)
            guard !scanned.samples.isEmpty else {
                throw ExperimentError("the test dataset \(testDirectory) holds no images", hint: "point --test-dataset at a folder of class sub-folders")
            }
        }
        guard dataset.classes.count >= 2 else {
            throw ExperimentError("\(directory) holds \(dataset.classes.count) class(es) (\(dataset.classes.joined(separator: ", "))); a classifier needs two",
                                  hint: "pass --label-map, e.g. Benign=hem,Early=all,Pre=all,Pro=all")
        }
        let split: (train: [DatasetSample], validation: [DatasetSample], test: [DatasetSample])
        if let external {
            let held = Set(dataset.samples.map(\.path))
            if let shared = external.samples.first(where: { held.contains($0.path) }) {
                throw ExperimentError("\(shared.path) is in both --dataset and --test-dataset", hint: "the test set must be disjoint from the training images")
            }
            split = (dataset.samples, [], external.samples)
        } else {
            split = Splitter.split(dataset, fractions: (0.8, 0, 0.2), seed: seed)
        }
        let trainSet = dataset.subset(split.train)
        let shares: [[DatasetSample]]
        switch partition {
        case let .dirichlet(alpha):
            shares = try Partitioner.dirichlet(trainSet, nodes: nodes, alpha: alpha, seed: seed)
        case .oneClassPerNode:
            shares = try oneClassPerNode(trainSet, nodes: nodes, seed: seed)
        case .iid:
            var shuffled = trainSet.samples
            var rng = SeededGenerator(seed: seed ^ 0x11D)
            shuffled.shuffle(using: &rng)
            shares = (0..<nodes).map { node in stride(from: node, to: shuffled.count, by: nodes).map { shuffled[$0] } }
        }
        progress("decoding \(split.train.count + split.test.count) images at \(size)x\(size)...")
        let cache = ImageCache(samples: split.train + split.test, classes: dataset.classes, size: size, threads: max(1, threads))
        var position: [String: Int] = [:]
        for (i, sample) in cache.samples.enumerated() { position[sample.path] = i }
        let nodeIndices = shares.map { $0.compactMap { position[$0.path] } }
        let testIndices = split.test.compactMap { position[$0.path] }
        if let testDirectory, testIndices.count < split.test.count {
            progress("warning: \(split.test.count - testIndices.count) image(s) of \(testDirectory) did not decode and are left out of the test set")
        }
        if let empty = nodeIndices.firstIndex(where: \.isEmpty) {
            throw ExperimentError("node \(empty) received no readable training image", hint: "use fewer nodes or a larger Dirichlet alpha")
        }
        guard !testIndices.isEmpty else { throw ExperimentError("the test split of \(directory) is empty") }
        let counts = nodeIndices.map { indices -> String in
            var perClass = [Int](repeating: 0, count: dataset.classes.count)
            for i in indices { perClass[cache.samples[i].label] += 1 }
            return perClass.map(String.init).joined(separator: "/")
        }
        return FederationData(cache: cache, nodeTrainIndices: nodeIndices, testIndices: testIndices,
                              description: "\(directory): classes \(dataset.classes.joined(separator: "/")), per-node counts \(counts.joined(separator: " ")), test \(testIndices.count) images, \(cache.problems.count) unreadable")
    }

    /// Node `i` gets class `i mod K`; each class's images are dealt evenly over the nodes holding it.
    static func oneClassPerNode(_ dataset: Dataset, nodes: Int, seed: UInt64) throws -> [[DatasetSample]] {
        let k = dataset.classes.count
        guard nodes >= k else {
            throw ExperimentError("one class per node needs at least \(k) nodes (one per class), got \(nodes)")
        }
        var rng = SeededGenerator(seed: seed ^ 0x1C1A55)
        var out = [[DatasetSample]](repeating: [], count: nodes)
        for c in 0..<k {
            let holders = (0..<nodes).filter { $0 % k == c }
            var members = dataset.samples.filter { $0.label == c }
            members.shuffle(using: &rng)
            for (i, sample) in members.enumerated() { out[holders[i % holders.count]].append(sample) }
        }
        return out
    }
}

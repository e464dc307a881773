import LeukData
import Testing

/// A dataset of `groups` groups with varying sizes and two classes (majority by group).
func groupedDataset(groups: Int, seed: Int = 0) -> Dataset {
    var samples: [DatasetSample] = []
    for g in 0..<groups {
        let size = 1 + (g * 7 + seed) % 5
        let label = g % 3 == 0 ? 0 : 1
        for i in 0..<size {
            // One in five groups mixes labels, like a smear with a few normal cells among blasts.
            let l = (g % 5 == 4 && i == 0) ? 1 - label : label
            samples.append(DatasetSample(path: "g\(g)/\(i).png", label: l, group: "Im\(g)"))
        }
    }
    return Dataset(classes: ["hem", "all"], samples: samples)
}

@Suite("Splits and partitions")
struct SplitTests {
    @Test func splitsKeepGroupsTogetherAndAreReproducible() {
        let data = groupedDataset(groups: 120)
        let split = Splitter.split(data, fractions: (0.7, 0.15, 0.15), seed: 7)
        let sides = [split.train, split.validation, split.test]
        #expect(sides.map(\.count).reduce(0, +) == data.samples.count)
        #expect(Set(sides.flatMap { $0 }) == Set(data.samples))
        for a in 0..<3 {
            for b in (a + 1)..<3 {
                #expect(Set(sides[a].map(\.group)).isDisjoint(with: Set(sides[b].map(\.group))))
            }
        }
        // Stratified: each class's share of each side is near the requested fraction.
        for label in 0..<2 {
            let total = Double(data.samples.filter { $0.label == label }.count)
            let trainShare = Double(split.train.filter { $0.label == label }.count) / total
            #expect(abs(trainShare - 0.7) < 0.08, "class \(label) train share \(trainShare)")
            #expect(split.validation.contains { $0.label == label } && split.test.contains { $0.label == label })
        }
        let again = Splitter.split(data, fractions: (0.7, 0.15, 0.15), seed: 7)
        #expect(again.train == split.train && again.validation == split.validation && again.test == split.test)
        let other = Splitter.split(data, fractions: (0.7, 0.15, 0.15), seed: 8)
        #expect(other.test != split.test)
    }

    @Test func zeroFractionLeavesASideEmpty() {
        let split = Splitter.split(groupedDataset(groups: 30), fractions: (0.8, 0, 0.2), seed: 1)
        #expect(split.validation.isEmpty && !split.train.isEmpty && !split.test.isEmpty)
    }

    @Test func dirichletPartitionsAreCompleteReproducibleAndSkewed() throws {
        let data = groupedDataset(groups: 400)
        let a = try Partitioner.dirichlet(data, nodes: 4, alpha: 0.3, seed: 11)
        let b = try Partitioner.dirichlet(data, nodes: 4, alpha: 0.3, seed: 11)
        let c = try Partitioner.dirichlet(data, nodes: 4, alpha: 0.3, seed: 12)
        #expect(a == b)
        #expect(a != c)
        #expect(a.count == 4)
        #expect(a.map(\.count).reduce(0, +) == data.samples.count)
        #expect(Set(a.flatMap { $0 }) == Set(data.samples))
        #expect(a.allSatisfy { $0.count >= 10 })

        // Small alpha skews labels more than large alpha (mean distance of node label mix from the global mix).
        func skew(_ alpha: Double) throws -> Double {
            var total = 0.0
            for seed in 0..<6 {
                let nodes = try Partitioner.dirichlet(data, nodes: 4, alpha: alpha, seed: UInt64(seed))
                let global = Double(data.samples.filter { $0.label == 1 }.count) / Double(data.samples.count)
                for node in nodes { total += abs(Double(node.filter { $0.label == 1 }.count) / Double(node.count) - global) }
            }
            return total / 24
        }
        #expect(try skew(0.1) > 2 * (try skew(100)))
        #expect(throws: DatasetError.self) { try Partitioner.dirichlet(data, nodes: 4, alpha: 0, seed: 1) }
        #expect(throws: DatasetError.self) { try Partitioner.dirichlet(groupedDataset(groups: 1), nodes: 5, alpha: 1, seed: 1) }
    }

    @Test func byGroupNeverSplitsAGroup() throws {
        let data = groupedDataset(groups: 25)
        let nodes = try Partitioner.byGroup(data, nodes: 3, seed: 5)
        #expect(nodes.map(\.count).reduce(0, +) == data.samples.count)
        for a in 0..<3 {
            for b in (a + 1)..<3 { #expect(Set(nodes[a].map(\.group)).isDisjoint(with: Set(nodes[b].map(\.group)))) }
        }
        let sizes = nodes.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 5) // largest group has 5 images
        #expect(try Partitioner.byGroup(data, nodes: 3, seed: 5) == nodes)

        let one = try Partitioner.byGroup(groupedDataset(groups: 4), nodes: 4, seed: 1)
        #expect(one.allSatisfy { Set($0.map(\.group)).count == 1 })
        #expect(throws: DatasetError.self) { try Partitioner.byGroup(groupedDataset(groups: 2), nodes: 3, seed: 1) }
    }

    @Test func partitionWriterCopiesIntoClassFoldersWithAManifest() throws {
        let source = TemporaryDirectory(), out = TemporaryDirectory()
        let png = try ImageEncoder.png(pattern(width: 4, height: 4))
        source.write("Early/x.png", png)
        source.write("Pre/x.png", png)
        source.write("Benign/Im007_0.png", png)
        let data = try DatasetScanner.scan(directory: source.path, labelMap: try LabelMap(parsing: "Benign=hem,Early=all,Pre=all"))
        let counts = try PartitionWriter.write([data.samples], classes: data.classes, to: out.path)
        #expect(counts == [[1, 2]])
        let copy = try DatasetScanner.scan(directory: out.file("node-1"), labelMap: nil)
        #expect(copy.classes == ["hem", "all"] && copy.classCounts == [1, 2])
        #expect(copy.samples.first { $0.label == 0 }?.group == "Im007") // group kept through manifest.csv
        #expect(throws: DatasetError.self) { try PartitionWriter.write([data.samples], classes: data.classes, to: out.path) }
    }
}

@Suite("Duplicates")
struct DuplicateGroupingTests {
    @Test func identicalFilesShareAGroupAndNeverStraddleASplit() throws {
        let dir = TemporaryDirectory()
        let copy = try ImageEncoder.png(pattern(width: 4, height: 4, seed: 99))
        for i in 0..<30 { dir.write("hem/h\(i).png", try ImageEncoder.png(pattern(width: 4, height: 4, seed: i))) }
        for i in 0..<30 { dir.write("all/a\(i).png", try ImageEncoder.png(pattern(width: 4, height: 4, seed: 100 + i))) }
        dir.write("all/dup-1.png", copy)
        dir.write("all/dup-2.png", copy)
        dir.write("all/dup-3.png", copy)
        let data = try DatasetScanner.scan(directory: dir.path, labelMap: nil).groupingExactDuplicates()
        let dupGroups = Set(data.samples.filter { $0.path.contains("dup-") }.map(\.group))
        #expect(dupGroups == ["all/dup-1.png"])
        #expect(Set(data.samples.map(\.group)).count == 61)
        for seed in 0..<5 {
            let split = Splitter.split(data, fractions: (0.5, 0, 0.5), seed: UInt64(seed))
            let trainHasCopy = split.train.contains { $0.path.contains("dup-") }
            let testHasCopy = split.test.contains { $0.path.contains("dup-") }
            #expect(trainHasCopy != testHasCopy)
        }
    }
}

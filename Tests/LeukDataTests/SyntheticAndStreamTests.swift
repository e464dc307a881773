import Foundation
import LeukCore
import LeukData
import Synchronization
import Testing

@Suite("Synthetic cells")
struct SyntheticTests {
    @Test func renderingIsDeterministicPerSeed() {
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3), c = SeededGenerator(seed: 4)
        let x = SyntheticCells.render(label: 1, size: 48, difficulty: 0.5, site: 0, rng: &a)
        #expect(x == SyntheticCells.render(label: 1, size: 48, difficulty: 0.5, site: 0, rng: &b))
        #expect(x != SyntheticCells.render(label: 1, size: 48, difficulty: 0.5, site: 0, rng: &c))
        #expect(x.width == 48 && x.height == 48)
        let first = SyntheticCells.generate(count: 12, seed: 9, size: 32, threads: 2)
        let second = SyntheticCells.generate(count: 12, seed: 9, size: 32, threads: 1)
        #expect(first.images == second.images && first.labels == second.labels)
        #expect(first.labels.filter { $0 == 1 }.count == 6)
    }

    @Test func blastsHaveLargerDarkerAreaThanLymphocytesWhenEasy() {
        // Nucleus + cytoplasm (purple, low green) covers more of a blast image than of a lymphocyte.
        func purpleArea(_ image: RGBImage) -> Int {
            (0..<(image.width * image.height)).filter { i in
                Int(image.pixels[i * 3 + 1]) < 150 && Int(image.pixels[i * 3 + 2]) > Int(image.pixels[i * 3 + 1]) + 30
            }.count
        }
        let data = SyntheticCells.generate(count: 40, seed: 1, size: 64, difficulty: 0)
        let blast = zip(data.images, data.labels).filter { $0.1 == 1 }.map { purpleArea($0.0) }
        let normal = zip(data.images, data.labels).filter { $0.1 == 0 }.map { purpleArea($0.0) }
        #expect(blast.reduce(0, +) / blast.count > normal.reduce(0, +) / normal.count * 5 / 4)
    }

    @Test func sitesLookDifferent() {
        func meanColour(site: Int) -> [Double] {
            let images = SyntheticCells.generate(count: 16, seed: 2, size: 32, site: site).images
            return (0..<3).map { ch in
                images.map { im in stride(from: ch, to: im.pixels.count, by: 3).map { Double(im.pixels[$0]) }.reduce(0, +) }.reduce(0, +)
                    / Double(16 * 32 * 32)
            }
        }
        let s0 = meanColour(site: 0), s1 = meanColour(site: 1), s2 = meanColour(site: 2)
        func distance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { abs($0 - $1) }.reduce(0, +) }
        #expect(distance(s0, s1) > 6)
        #expect(distance(s0, s2) > 6)
        #expect(SiteStain(site: 1) == SiteStain(site: 1))
        #expect(SiteStain(site: 1) != SiteStain(site: 2))
    }

    @Test func writtenDatasetsScanAsClassFolders() throws {
        let dir = TemporaryDirectory()
        let counts = try SyntheticCells.writeDataset(to: dir.path, count: 10, seed: 5, size: 32, difficulty: 0.5, site: 2, classBalance: 0.3)
        #expect(counts == ["all": 3, "hem": 7])
        let data = try DatasetScanner.scan(directory: dir.path, labelMap: nil)
        #expect(data.classes == ["hem", "all"] && data.classCounts == [7, 3])
        let first = try ImageDecoder.decode(path: data.samples[0].path)
        #expect(first.width == 32)
        let federation = TemporaryDirectory()
        let sites = try SyntheticCells.writeFederation(to: federation.path, sites: 3, countPerSite: 8, seed: 1, size: 24)
        #expect(sites.map { $0["all", default: 0] } == [2, 4, 6])
    }
}

@Suite("Cache and batches")
struct StreamTests {
    func cache(count: Int) -> ImageCache {
        let images = (0..<count).map { pattern(width: 8, height: 8, seed: $0) }
        let samples = (0..<count).map { DatasetSample(path: "mem-\($0)", label: $0 % 2, group: "g\($0)") }
        return ImageCache(images: images, samples: samples, classes: ["hem", "all"], size: 4)
    }

    @Test func cacheDecodesGoodFilesAndRecordsBadOnes() throws {
        let dir = TemporaryDirectory()
        dir.write("hem/a.png", try ImageEncoder.png(pattern(width: 10, height: 10)))
        dir.write("all/b.jpg", try ImageEncoder.jpeg(smooth(width: 12, height: 12)))
        dir.write("all/bad.png", Array("nope".utf8))
        let data = try DatasetScanner.scan(directory: dir.path, labelMap: nil)
        let warned = Mutex<[String]>([])
        let cache = ImageCache(dataset: data, size: 6, onProblem: { problem in warned.withLock { $0.append(problem.path) } })
        #expect(cache.count == 2)
        #expect(cache.images.allSatisfy { $0.width == 6 && $0.height == 6 })
        #expect(cache.problems.count == 1 && cache.problems[0].path.hasSuffix("bad.png"))
        #expect(warned.withLock { $0 } == [dir.file("all/bad.png")])
    }

    @Test func evaluationStreamIsInOrderAndNormalised() {
        let cache = cache(count: 10)
        let norm = Normalization(mean: [0.1, 0.2, 0.3], std: [0.5, 0.6, 0.7])
        let batches = Array(BatchStream(cache: cache, normalization: norm, configuration: .evaluation(batchSize: 4)))
        #expect(batches.map(\.count) == [4, 4, 2])
        #expect(batches.flatMap(\.cacheIndices) == Array(0..<10))
        #expect(batches[0].inputs.count == 4 * 3 * 4 * 4)
        #expect(batches[2].labels == [0, 1])
        #expect(Array(batches[1].inputs[48..<96]) == norm.chw(cache.images[5]))
    }

    @Test func trainingStreamShufflesEachEpochReproducibly() {
        let cache = cache(count: 9)
        let config = BatchStream.Configuration(batchSize: 4, epochs: 3, shuffle: true, augmentation: .standard, seed: 5, prefetch: 2)
        let a = Array(BatchStream(cache: cache, normalization: .unit, configuration: config))
        let b = Array(BatchStream(cache: cache, normalization: .unit, configuration: config))
        #expect(a.map(\.inputs) == b.map(\.inputs))
        #expect(a.map(\.epoch) == [0, 0, 0, 1, 1, 1, 2, 2, 2])
        for epoch in 0..<3 {
            let order = a.filter { $0.epoch == epoch }.flatMap(\.cacheIndices)
            #expect(order.sorted() == Array(0..<9))
        }
        #expect(a.filter { $0.epoch == 0 }.flatMap(\.cacheIndices) != a.filter { $0.epoch == 1 }.flatMap(\.cacheIndices))
        for batch in a { #expect(batch.labels == batch.cacheIndices.map { Int32($0 % 2) }) }
        var dropLast = config
        dropLast.dropLast = true
        #expect(Array(BatchStream(cache: cache, normalization: .unit, configuration: dropLast)).map(\.count) == [4, 4, 4, 4, 4, 4])
    }

    @Test func cancellingEndsTheStream() {
        let stream = BatchStream(cache: cache(count: 50), normalization: .unit,
                                 configuration: .init(batchSize: 1, epochs: 100, prefetch: 2))
        #expect(stream.next() != nil)
        stream.cancel()
        #expect(stream.next() == nil)
        #expect(stream.next() == nil)
    }
}

import Foundation
import LeukCore
import LeukData
import Testing

@Suite("Preprocessing")
struct PreprocessingTests {
    @Test func resizeIsANoOpAtTheTargetSize() {
        let image = pattern(width: 8, height: 8)
        #expect(resizeBilinear(image, to: 8) == image)
    }

    @Test func downscaleAveragesNeighboursWithHalfPixelCentres() {
        // Columns 0, 100, 200, 255 in every row and channel. Output x=0 samples source x=0.5
        // (50), x=1 samples source x=2.5 (227.5, rounds to 228).
        let row: [UInt8] = [0, 100, 200, 255]
        var pixels: [UInt8] = []
        for _ in 0..<4 { for v in row { pixels += [v, v, v] } }
        let out = resizeBilinear(RGBImage(width: 4, height: 4, pixels: pixels), to: 2)
        #expect(out.width == 2 && out.height == 2)
        #expect(out.pixels == [50, 50, 50, 228, 228, 228, 50, 50, 50, 228, 228, 228])
    }

    @Test func upscaleInterpolatesAndClampsAtTheEdges() {
        // Source columns 0 and 255; output x samples source x = -0.25 (clamped to 0), 0.25, 0.75,
        // 1.25 (clamped to 1): 0, 63.75 -> 64, 191.25 -> 191, 255.
        let source = RGBImage(width: 2, height: 2, pixels: [0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255])
        let out = resizeBilinear(source, to: 4)
        for y in 0..<4 {
            #expect((0..<4).map { out.pixel(x: $0, y: y).0 } == [0, 64, 191, 255])
        }
    }

    @Test func normalisationFollowsTheContract() {
        // x = (u8 / 255 - mean) / std: R (1 - 0.5) / 0.5 = 1, G (0 - 0.25) / 0.25 = -1, B (0.2 - 0) / 1 = 0.2.
        let norm = Normalization(mean: [0.5, 0.25, 0], std: [0.5, 0.25, 1])
        let image = RGBImage(width: 2, height: 1, pixels: [255, 0, 51, 0, 255, 255])
        let chw = norm.chw(image)
        #expect(chw.count == 6)
        // CHW: plane R = [px0, px1], plane G, plane B.
        #expect(chw[0] == 1 && chw[1] == -1)
        #expect(chw[2] == -1 && chw[3] == 3)
        #expect(abs(chw[4] - 0.2) < 1e-7 && chw[5] == 1)
        for (i, v) in [255, 0, 0, 255, 51, 255].enumerated() {
            let c = i / 2
            #expect(chw[i] == (Float(v) / 255 - norm.mean[c]) / norm.std[c])
        }
    }

    @Test func fitComputesPopulationMeanAndStd() {
        let image = RGBImage(width: 2, height: 1, pixels: [0, 0, 51, 255, 255, 51])
        let norm = Normalization.fit([image])
        #expect(norm.mean == [0.5, 0.5, 0.2])
        #expect(norm.std[0] == 0.5 && norm.std[1] == 0.5)
        #expect(norm.std[2] == 1) // a constant channel must not divide by zero
        // Fitting over two images weighs every pixel equally.
        let two = Normalization.fit([RGBImage(width: 1, height: 1, fill: (0, 0, 0)), RGBImage(width: 3, height: 1, fill: (255, 255, 255))])
        #expect(two.mean == [0.75, 0.75, 0.75])
        #expect(abs(two.std[0] - Float(0.75 * 0.25).squareRoot()) < 1e-6)
    }
}

@Suite("Augmentation")
struct AugmentationTests {
    let image = pattern(width: 7, height: 5)

    @Test func flipsAreInvolutions() {
        #expect(image.flippedHorizontally().flippedHorizontally() == image)
        #expect(image.flippedVertically().flippedVertically() == image)
        #expect(image.flippedHorizontally() != image)
        #expect(image.flippedHorizontally().pixel(x: 0, y: 0) == image.pixel(x: 6, y: 0))
    }

    @Test func quarterTurnsCompose() {
        #expect(image.rotated90(quarterTurns: 4) == image)
        #expect(image.rotated90(quarterTurns: 1).rotated90(quarterTurns: 3) == image)
        #expect(image.rotated90(quarterTurns: 2) == image.flippedHorizontally().flippedVertically())
        let turned = image.rotated90(quarterTurns: 1)
        #expect(turned.width == 5 && turned.height == 7)
        // Clockwise: the top-left pixel moves to the top-right corner.
        #expect(turned.pixel(x: 4, y: 0) == image.pixel(x: 0, y: 0))
        #expect(image.rotated90(quarterTurns: -1) == image.rotated90(quarterTurns: 3))
    }

    @Test func geometricAugmentationPreservesThePixelMultiset() {
        var augmenter = Augmenter(seed: 9, options: .geometric)
        let square = pattern(width: 6, height: 6)
        var seen: Set<[UInt8]> = []
        for _ in 0..<40 {
            let out = augmenter.augment(square)
            #expect(pixelMultiset(out) == pixelMultiset(square))
            seen.insert(out.pixels)
        }
        #expect(seen.count == 8) // all four rotations, with and without a flip
    }

    @Test func anyAngleRotationAgreesWithAQuarterTurnAndZoomKeepsTheCentre() {
        let square = pattern(width: 9, height: 9, seed: 3)
        #expect(square.rotatedAndScaled(radians: 0, scale: 1) == square)
        let turned = square.rotatedAndScaled(radians: Float.pi / 2, scale: 1)
        let exact = square.rotated90(quarterTurns: 1)
        #expect(zip(turned.pixels, exact.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
        // A zoom about the centre leaves the centre pixel where it was.
        let zoomed = square.rotatedAndScaled(radians: 0, scale: 1.1)
        #expect(zoomed.pixel(x: 4, y: 4) == square.pixel(x: 4, y: 4))
        #expect(zoomed != square)
    }

    @Test func blurKeepsAFlatImageAndSmoothsAnEdge() {
        let flat = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 90, count: 8 * 8 * 3))
        #expect(flat.blurred(sigma: 1) == flat)
        var edge = [UInt8](repeating: 0, count: 8 * 8 * 3)
        for y in 0..<8 { for x in 4..<8 { for ch in 0..<3 { edge[(y * 8 + x) * 3 + ch] = 200 } } }
        let blurred = RGBImage(width: 8, height: 8, pixels: edge).blurred(sigma: 1)
        #expect(blurred.pixel(x: 3, y: 4).0 > 0 && blurred.pixel(x: 4, y: 4).0 < 200)
        #expect(blurred.pixel(x: 0, y: 0).0 == 0 && blurred.pixel(x: 7, y: 7).0 == 200)
    }

    @Test func stainJitterIsIdentityAtZeroAndUndoesItself() {
        let cells = SyntheticCells.generate(count: 2, seed: 4, size: 24).images
        for image in cells {
            #expect(image.stainJittered(alpha: [0, 0, 0], beta: [0, 0, 0]) == image)
            let stronger = image.stainJittered(alpha: [0.1, -0.1, 0.05], beta: [0, 0, 0])
            #expect(stronger != image)
            let back = stronger.stainJittered(alpha: [1 / 1.1 - 1, 1 / 0.9 - 1, 1 / 1.05 - 1], beta: [0, 0, 0])
            // Back within the rounding of two passes through 8 bits, except where a channel saturated.
            let close = zip(back.pixels, image.pixels).filter { abs(Int($0) - Int($1)) <= 3 }.count
            #expect(Double(close) / Double(image.pixels.count) > 0.98)
        }
        // A stronger haematoxylin darkens, most of all in red (haematoxylin absorbs red and green).
        let image = cells[0]
        let darker = image.stainJittered(alpha: [0.3, 0, 0], beta: [0, 0, 0])
        let red = { (i: RGBImage) in stride(from: 0, to: i.pixels.count, by: 3).reduce(0) { $0 + Int(i.pixels[$1]) } }
        #expect(red(darker) < red(image))
    }

    @Test func smearAugmentationIsSeededAndKeepsLabelsAndRanges() throws {
        let dir = TemporaryDirectory()
        _ = try SyntheticCells.writeDataset(to: dir.path, count: 12, seed: 2, size: 32)
        let dataset = try DatasetScanner.scan(directory: dir.path, labelMap: nil)
        let cache = ImageCache(samples: dataset.samples, classes: dataset.classes, size: 32)
        func batches(_ options: Augmenter.Options?) -> [([Float], [Int])] {
            let stream = BatchStream(cache: cache, normalization: .unit, configuration: .init(
                batchSize: 4, epochs: 1, shuffle: true, augmentation: options, seed: 11))
            var out: [([Float], [Int])] = []
            for batch in stream {
                let values = Array(batch.inputs.prefix(batch.count * 3 * 32 * 32))
                let labels = batch.labels.prefix(batch.count).map { Int($0) }
                out.append((values, labels))
            }
            return out
        }
        let plain = batches(nil), smeared = batches(.smear), again = batches(.smear)
        #expect(plain.map(\.1) == smeared.map(\.1))
        #expect(smeared.map(\.0) == again.map(\.0))
        #expect(plain.map(\.0) != smeared.map(\.0))
        #expect(smeared.allSatisfy { $0.0.allSatisfy { $0 >= 0 && $0 <= 1 } })
    }

    @Test func jitterIsSmallAndSeeded() {
        let square = smooth(width: 16, height: 16)
        var a = Augmenter(seed: 42), b = Augmenter(seed: 42), c = Augmenter(seed: 43)
        let outA = (0..<5).map { _ in a.augment(square) }
        #expect(outA == (0..<5).map { _ in b.augment(square) })
        #expect(outA != (0..<5).map { _ in c.augment(square) })
        // Colour changes stay small: mean absolute change after undoing geometry is bounded by
        // comparing channel means (geometry does not change them).
        for out in outA {
            for ch in 0..<3 {
                let before = stride(from: ch, to: square.pixels.count, by: 3).map { Double(square.pixels[$0]) }.reduce(0, +) / 256
                let after = stride(from: ch, to: out.pixels.count, by: 3).map { Double(out.pixels[$0]) }.reduce(0, +) / 256
                #expect(abs(before - after) < 40)
            }
        }
    }

    @Test func zeroJitterIsIdentityAndHueKeepsGreyGrey() {
        #expect(image.colorJittered(brightness: 0, contrast: 0, hueTurns: 0) == image)
        let grey = RGBImage(width: 2, height: 1, pixels: [90, 90, 90, 160, 160, 160])
        let rotated = grey.colorJittered(brightness: 0, contrast: 0, hueTurns: 0.1)
        #expect(rotated == grey)
        let brighter = grey.colorJittered(brightness: 0.1, contrast: 0, hueTurns: 0)
        #expect(brighter.pixels == [116, 116, 116, 186, 186, 186]) // + 25.5, rounded
        let contrast = grey.colorJittered(brightness: 0, contrast: 0.5, hueTurns: 0)
        #expect(contrast.pixels == [73, 73, 73, 178, 178, 178]) // mean 125 +/- 35 * 1.5 = 52.5
    }
}

@Suite("Stain normalisation")
struct StainNormalizationTests {
    /// A 48x48 "cell": haematoxylin in a central nucleus, eosin in the cytoplasm ring around it, on white, rendered in
    /// optical density with the given unit stain vectors and strength (Beer-Lambert), with a seeded texture.
    static func cell(haematoxylin: [Float], eosin: [Float], strength: Float, seed: UInt64) -> RGBImage {
        var rng = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 255, count: 48 * 48 * 3)
        for y in 0..<48 {
            for x in 0..<48 {
                let r = (Float((x - 24) * (x - 24) + (y - 24) * (y - 24))).squareRoot()
                let texture = 0.8 + 0.4 * rng.nextUnitFloat()
                let h: Float = r < 10 ? 1.2 * texture : 0
                let e: Float = r >= 10 && r < 20 ? 0.5 * texture : 0
                for c in 0..<3 {
                    let od = strength * (h * haematoxylin[c] + e * eosin[c])
                    pixels[(y * 48 + x) * 3 + c] = UInt8(min(max((256 * Float(exp(-Double(od))) - 1).rounded(), 0), 255))
                }
            }
        }
        return RGBImage(width: 48, height: 48, pixels: pixels)
    }

    static func unit(_ v: [Float]) -> [Float] { let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / n } }
    static func cosine(_ a: ArraySlice<Float>, _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

    let labA = (h: unit([0.65, 0.70, 0.29]), e: unit([0.07, 0.99, 0.11]))
    let labB = (h: unit([0.45, 0.85, 0.30]), e: unit([0.20, 0.90, 0.40]))

    @Test func theEstimateFindsTheStainVectorsAnImageWasRenderedWith() throws {
        let estimate = try #require(StainNormalizer.estimate(Self.cell(haematoxylin: labA.h, eosin: labA.e, strength: 1, seed: 1)))
        #expect(Self.cosine(estimate.stains[0..<3], labA.h) > 0.99)
        #expect(Self.cosine(estimate.stains[3..<6], labA.e) > 0.99)
    }

    @Test func normalisingAnotherLabsImageRecoversTheReferenceLabsRendering() throws {
        let reference = try #require(StainNormalizer.fit((0..<4).map { Self.cell(haematoxylin: labA.h, eosin: labA.e, strength: 1, seed: $0) }))
        let original = Self.cell(haematoxylin: labA.h, eosin: labA.e, strength: 1, seed: 9)
        let otherLab = Self.cell(haematoxylin: labB.h, eosin: labB.e, strength: 1.4, seed: 9)
        let normalised = reference.normalize(otherLab)
        func meanAbsoluteDifference(_ a: RGBImage, _ b: RGBImage) -> Double {
            Double(zip(a.pixels, b.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }) / Double(a.pixels.count)
        }
        let before = meanAbsoluteDifference(otherLab, original), after = meanAbsoluteDifference(normalised, original)
        #expect(after < before / 4, "mean absolute difference to the reference lab's rendering: \(before) before, \(after) after")
        // The reference round-trips through the model file's metadata.
        #expect(StainNormalizer(metadataValue: reference.metadataValue) == reference)
        #expect(StainNormalizer(metadataValue: "macenko:1,2,3") == nil)
    }

    @Test func aBlankImageIsLeftAsItIs() throws {
        let reference = try #require(StainNormalizer.fit([Self.cell(haematoxylin: labA.h, eosin: labA.e, strength: 1, seed: 2)]))
        let blank = RGBImage(width: 16, height: 16, pixels: [UInt8](repeating: 250, count: 16 * 16 * 3))
        #expect(reference.normalize(blank) == blank)
    }
}

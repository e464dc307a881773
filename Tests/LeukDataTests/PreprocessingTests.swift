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

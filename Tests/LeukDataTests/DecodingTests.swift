import Foundation
import LeukData
import Testing

@Suite("Decoding")
struct DecodingTests {
    @Test func pngRoundTripIsExact() throws {
        let image = pattern(width: 13, height: 7)
        let decoded = try ImageDecoder.decode(bytes: try ImageEncoder.png(image), name: "p.png")
        #expect(decoded == image)
    }

    @Test func bmpRoundTripIsExact() throws {
        let image = pattern(width: 9, height: 5)
        #expect(try ImageDecoder.decode(bytes: try ImageEncoder.bmp(image), name: "b.bmp") == image)
    }

    @Test func jpegDecodesCloseToTheOriginal() throws {
        let image = smooth(width: 32, height: 24)
        let bytes = try ImageEncoder.jpeg(image, quality: 95)
        #expect(ImageFormat.sniff(bytes) == .jpeg)
        let decoded = try ImageDecoder.decode(bytes: bytes, name: "j.jpg")
        #expect(decoded.width == 32 && decoded.height == 24)
        let worst = zip(decoded.pixels, image.pixels).map { abs(Int($0) - Int($1)) }.max()!
        #expect(worst <= 12)
    }

    @Test func greyIsReplicatedAndAlphaIsCompositedOverWhite() throws {
        let grey = try ImageEncoder.png(width: 2, height: 1, channels: .grey, samples: [10, 250])
        #expect(try ImageDecoder.decode(bytes: grey, name: "g.png").pixels == [10, 10, 10, 250, 250, 250])
        // (200 * 128 + 255 * 127 + 127) / 255 = 227 (integer division); alpha 255 keeps the value; alpha 0 is white.
        let rgba = try ImageEncoder.png(width: 3, height: 1, channels: .rgba, samples: [200, 0, 255, 128, 7, 8, 9, 255, 1, 2, 3, 0])
        #expect(try ImageDecoder.decode(bytes: rgba, name: "a.png").pixels == [227, 127, 255, 7, 8, 9, 255, 255, 255])
        let greyAlpha = try ImageEncoder.png(width: 1, height: 1, channels: .greyAlpha, samples: [0, 0])
        #expect(try ImageDecoder.decode(bytes: greyAlpha, name: "ga.png").pixels == [255, 255, 255])
    }

    @Test func tiffVariantsDecode() throws {
        let dir = TemporaryDirectory()
        let image = pattern(width: 11, height: 6)
        try ImageEncoder.writeTIFF(image, to: dir.file("plain.tif"))
        try ImageEncoder.writeTIFF(image, to: dir.file("lzw.tiff"), lzw: true)
        #expect(try ImageDecoder.decode(path: dir.file("plain.tif")) == image)
        #expect(try ImageDecoder.decode(path: dir.file("lzw.tiff")) == image)
        try ImageEncoder.writeTIFF(width: 2, height: 1, channels: .grey, samples: [3, 200], to: dir.file("grey.tif"))
        #expect(try ImageDecoder.decode(path: dir.file("grey.tif")).pixels == [3, 3, 3, 200, 200, 200])
        try ImageEncoder.writeTIFF(width: 2, height: 1, channels: .rgba, samples: [9, 8, 7, 255, 1, 1, 1, 0], to: dir.file("rgba.tif"))
        #expect(try ImageDecoder.decode(path: dir.file("rgba.tif")).pixels == [9, 8, 7, 255, 255, 255])
        let header = try ImageDecoder.inspectHeader(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("plain.tif")))), name: "plain.tif")
        #expect(header == ImageHeader(format: .tiff, width: 11, height: 6, channels: 3))
    }

    @Test func emptyAndNonImageFilesGetTypedErrors() throws {
        let dir = TemporaryDirectory()
        let empty = dir.write("empty.png", [])
        #expect(throws: ImageError.empty(file: empty)) { try ImageDecoder.decode(path: empty) }
        let text = dir.write("notes.png", Array("this is not a picture".utf8))
        #expect(throws: ImageError.unsupportedFormat(file: text)) { try ImageDecoder.decode(path: text) }
        let missing = dir.file("missing.png")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(path: missing) }
        do { _ = try ImageDecoder.decode(path: missing); Issue.record("decoded a missing file") } catch {
            #expect(error.file == missing)
            guard case .unreadable = error else { Issue.record("wrong case \(error)"); return }
        }
        do { _ = try ImageDecoder.decode(path: dir.path); Issue.record("decoded a directory") } catch {
            guard case .unreadable = error else { Issue.record("wrong case \(error)"); return }
        }
    }

    @Test func truncatedAndCorruptFilesAreRejectedNamingTheFile() throws {
        let png = try ImageEncoder.png(pattern(width: 40, height: 40))
        for cut in [12, 30, png.count / 2, png.count - 20] {
            do {
                _ = try ImageDecoder.decode(bytes: Array(png.prefix(cut)), name: "cut-\(cut).png")
                Issue.record("truncated PNG (\(cut) bytes) decoded")
            } catch {
                #expect(error.file == "cut-\(cut).png")
                #expect(error.description.contains("cut-\(cut).png"))
            }
        }
        var garbled = png
        for i in 40..<min(png.count, 200) { garbled[i] = 0xAB }
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: garbled, name: "garbled.png") }

        let jpeg = try ImageEncoder.jpeg(smooth(width: 16, height: 16))
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: Array(jpeg.prefix(40)), name: "cut.jpg") }
        // stb_image would pad a JPEG cut inside its scan data with grey; the missing end marker gives it away.
        do { _ = try ImageDecoder.decode(bytes: Array(jpeg.prefix(jpeg.count - 12)), name: "short.jpg"); Issue.record("short JPEG decoded") } catch {
            guard case .corrupt("short.jpg", .jpeg, let reason) = error else { Issue.record("wrong case \(error)"); return }
            #expect(reason.contains("truncated"))
        }
        let bmp = try ImageEncoder.bmp(pattern(width: 16, height: 16))
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: Array(bmp.prefix(30)), name: "cut.bmp") }
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: Array(bmp.prefix(bmp.count - 100)), name: "short.bmp") }

        let dir = TemporaryDirectory()
        try ImageEncoder.writeTIFF(pattern(width: 30, height: 30), to: dir.file("t.tif"))
        let tiff = Array(try Data(contentsOf: URL(fileURLWithPath: dir.file("t.tif"))))
        for cut in [6, 20, tiff.count / 2] {
            do {
                _ = try ImageDecoder.decode(bytes: Array(tiff.prefix(cut)), name: "cut.tif")
                Issue.record("truncated TIFF (\(cut) bytes) decoded")
            } catch {
                guard case .corrupt(let file, .tiff, let reason) = error else { Issue.record("wrong case \(error)"); continue }
                #expect(file == "cut.tif")
                #expect(!reason.isEmpty)
            }
        }
    }

    @Test func oversizedHeadersAreRefusedBeforeDecoding() throws {
        let bomb = pngHeaderClaiming(width: 100_000, height: 100_000)
        #expect(bomb.count < 100)
        #expect(throws: ImageError.dimensionsTooLarge(file: "bomb.png", width: 100_000, height: 100_000, limit: 8192)) {
            try ImageDecoder.decode(bytes: bomb, name: "bomb.png")
        }
        // Within the side limit, but 256 MB of pixels from a few dozen bytes: the ratio guard.
        let ratioBomb = pngHeaderClaiming(width: 8000, height: 8000)
        #expect(throws: ImageError.decompressionBomb(file: "ratio.png", width: 8000, height: 8000, fileBytes: ratioBomb.count)) {
            try ImageDecoder.decode(bytes: ratioBomb, name: "ratio.png")
        }
        let dir = TemporaryDirectory()
        let big = dir.write("big.png", try ImageEncoder.png(pattern(width: 64, height: 64)))
        let limits = DecodeLimits(maxFileBytes: 100)
        do { _ = try ImageDecoder.decode(path: big, limits: limits); Issue.record("oversized file decoded") } catch {
            guard case .fileTooLarge(let file, _, 100) = error else { Issue.record("wrong case \(error)"); return }
            #expect(file == big)
        }
        #expect(throws: ImageError.self) {
            try ImageDecoder.decode(bytes: try ImageEncoder.png(pattern(width: 20, height: 10)), name: "wide.png", limits: DecodeLimits(maxDimension: 16))
        }
    }

    /// Found by fuzzing (Tests/FuzzCorpus/image/regressions): stb_image reserved an IDAT chunk's claimed
    /// length before reading it, so 52 bytes claiming a 1.3 GB chunk cost 1.3 GB. The chunk list is walked
    /// first now, and a chunk that runs past the end of the file is refused without allocating anything.
    @Test func aPNGChunkClaimingMoreThanTheFileIsRefusedBeforeDecoding() throws {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let header = signature + pngChunk("IHDR", bigEndian(6) + bigEndian(4) + [8, 2, 0, 0, 0])
        let lying = header + bigEndian(1_308_622_867) + Array("IDAT".utf8) + [0x78, 0x9C, 0, 0]
        do { _ = try ImageDecoder.decode(bytes: lying, name: "lying.png"); Issue.record("a PNG with a 1.3 GB IDAT claim decoded") } catch {
            guard case .corrupt("lying.png", .png, let reason) = error else { Issue.record("wrong case \(error)"); return }
            #expect(reason.contains("IDAT") && reason.contains("1308622867"))
        }
        // No IEND at all: cut short, whatever stb_image would make of it.
        #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: header, name: "no-iend.png") }
        // Ancillary chunks before and after the data are walked over, not refused.
        let image = pattern(width: 5, height: 3)
        let png = try ImageEncoder.png(image)
        let withText = Array(png[..<33]) + pngChunk("tEXt", Array("Comment\0fuzz".utf8)) + Array(png[33...])
        #expect(try ImageDecoder.decode(bytes: withText, name: "text.png") == image)
    }

    @Test func sniffingUsesMagicBytesNotExtensions() throws {
        let dir = TemporaryDirectory()
        let misnamed = dir.write("really-a-png.jpg", try ImageEncoder.png(pattern(width: 4, height: 4)))
        #expect(try ImageDecoder.decode(path: misnamed) == pattern(width: 4, height: 4))
        #expect(ImageFormat.sniff([0x49, 0x49, 0x2A, 0x00, 1, 2]) == .tiff)
        #expect(ImageFormat.sniff([0x4D, 0x4D, 0x00, 0x2A]) == .tiff)
        #expect(ImageFormat.sniff([0x47, 0x49, 0x46, 0x38]) == nil) // GIF is not accepted
    }
}

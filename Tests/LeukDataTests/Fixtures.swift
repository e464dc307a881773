import Foundation
import LeukData

/// A fresh temporary folder per test, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "leukdata-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ relative: String) -> String { path + "/" + relative }

    /// Writes bytes at a relative path, creating folders.
    @discardableResult
    func write(_ relative: String, _ bytes: [UInt8]) -> String {
        let full = file(relative)
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
        return full
    }
}

/// A deterministic, non-symmetric test pattern (distinct pixels, so transforms are visible).
func pattern(width: Int, height: Int, seed: Int = 0) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8((x * 37 + y * 11 + seed) % 256)
            pixels[i + 1] = UInt8((x * 5 + y * 53 + seed * 3) % 256)
            pixels[i + 2] = UInt8((x * y + 7 + seed * 7) % 256)
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// A smooth image (JPEG-friendly).
func smooth(width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8(40 + x * 150 / max(width - 1, 1))
            pixels[i + 1] = UInt8(60 + y * 120 / max(height - 1, 1))
            pixels[i + 2] = 180
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

/// CRC-32 (PNG chunk checksum), so hand-made PNG headers are well formed.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
}

/// A tiny PNG whose header claims `width` x `height` RGB pixels: a decompression bomb in spirit
/// (a real one would carry a small deflate stream that expands to the claimed size).
func pngHeaderClaiming(width: UInt32, height: UInt32) -> [UInt8] {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let ihdr = bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]
    let idat: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01] // an empty zlib stream
    return signature + pngChunk("IHDR", ihdr) + pngChunk("IDAT", idat) + pngChunk("IEND", [])
}

/// Pixels as a sorted list of (r, g, b) triples: equal for images that are rearrangements.
func pixelMultiset(_ image: RGBImage) -> [UInt32] {
    (0..<(image.width * image.height)).map { i in
        UInt32(image.pixels[i * 3]) << 16 | UInt32(image.pixels[i * 3 + 1]) << 8 | UInt32(image.pixels[i * 3 + 2])
    }.sorted()
}

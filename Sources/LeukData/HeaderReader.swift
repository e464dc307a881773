/// Reads image dimensions straight from the container header, without any decoder. This runs
/// first, so a file that claims absurd dimensions gets a precise typed error from us instead of a
/// generic decoder message, and so structural truncation that stb_image tolerates silently
/// (it pads short BMP and JPEG data with zeros) is caught.
enum HeaderReader {
    struct Facts {
        var width: Int
        var height: Int
    }

    enum Finding {
        case dimensions(Facts)
        case truncated(String)
        case unknown
    }

    static func read(_ bytes: [UInt8], format: ImageFormat) -> Finding {
        switch format {
        case .png: return png(bytes)
        case .bmp: return bmp(bytes)
        case .jpeg: return jpeg(bytes)
        case .tiff: return .unknown // libtiff parses the directory itself; its tags are checked afterwards
        }
    }

    private static func be32(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
    private static func le32(_ b: [UInt8], _ i: Int) -> Int32 { Int32(bitPattern: UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24) }
    private static func le16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    private static func be16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) << 8 | Int(b[i + 1]) }

    /// PNG: the IHDR chunk comes first, width and height as big-endian 32-bit values.
    private static func png(_ b: [UInt8]) -> Finding {
        guard b.count >= 24 else { return .truncated("ends inside the PNG header") }
        guard b[12] == 0x49, b[13] == 0x48, b[14] == 0x44, b[15] == 0x52 else { return .unknown }
        return .dimensions(Facts(width: be32(b, 16), height: be32(b, 20)))
    }

    /// PNG's chunk list, after the dimensions are known to be acceptable: every chunk up to IEND must lie
    /// inside the file. stb_image grows its buffer to an IDAT chunk's claimed length before it reads a byte
    /// of it, so a 52-byte file claiming a 1.3 GB chunk made it allocate 1.3 GB (found by fuzzing; the file
    /// is Tests/FuzzCorpus/image/regressions/oom-10910eed58770eaf07027eed3d2b452d85d6c416). Returns why the
    /// list is cut short, or nil. Reads 12 bytes per chunk, no pixel data.
    static func pngChunksBeyondFile(_ b: [UInt8]) -> String? {
        var i = 8
        while i + 12 <= b.count {
            let length = be32(b, i)
            let type = String(decoding: b[i + 4..<i + 8], as: UTF8.self)
            guard length <= b.count - i - 12 else {
                return "chunk '\(type)' claims \(length) bytes, the file has \(b.count - i - 12) left"
            }
            if type == "IEND" { return nil }
            i += 12 + length
        }
        return "ends before the IEND chunk"
    }

    /// BMP: BITMAPINFOHEADER (or the old 12-byte core header). Uncompressed pixel data must fit in the file.
    private static func bmp(_ b: [UInt8]) -> Finding {
        guard b.count >= 26 else { return .truncated("ends inside the BMP header") }
        let headerSize = Int(le32(b, 14))
        let width: Int, height: Int
        if headerSize == 12 {
            width = le16(b, 18); height = le16(b, 20)
            return .dimensions(Facts(width: width, height: height))
        }
        guard headerSize >= 40, b.count >= 34 else { return .truncated("ends inside the BMP header") }
        width = Int(le32(b, 18)); height = abs(Int(le32(b, 22)))
        let bitsPerPixel = le16(b, 28)
        let compression = Int(le32(b, 30))
        let dataOffset = Int(UInt32(bitPattern: le32(b, 10)))
        if (compression == 0 || compression == 3), [1, 4, 8, 16, 24, 32].contains(bitsPerPixel), width > 0, height > 0,
           width <= 1 << 20, height <= 1 << 20 {
            let stride = ((width * bitsPerPixel + 31) / 32) * 4
            if dataOffset + stride * height > b.count {
                return .truncated("pixel data needs \(dataOffset + stride * height) bytes, file has \(b.count)")
            }
        }
        return .dimensions(Facts(width: width, height: height))
    }

    /// JPEG: walk the markers to the first start-of-frame; a file whose scan data has no
    /// end-of-image marker (FF D9) was cut short.
    private static func jpeg(_ b: [UInt8]) -> Finding {
        var i = 2
        var facts: Facts?
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return facts.map { .dimensions($0) } ?? .unknown }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }                          // fill byte
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue } // no length
            let length = be16(b, i + 2)
            guard length >= 2 else { return .unknown }
            if (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC {
                guard i + 9 <= b.count else { return .truncated("ends inside the frame header") }
                facts = Facts(width: be16(b, i + 7), height: be16(b, i + 5))
            }
            if marker == 0xDA { // start of scan: entropy-coded data follows up to EOI
                guard let facts else { return .unknown }
                var j = b.count - 2
                while j > i { if b[j] == 0xFF && b[j + 1] == 0xD9 { return .dimensions(facts) }; j -= 1 }
                return .truncated("no end-of-image marker after the scan data")
            }
            i += 2 + length
        }
        return .truncated("ends before the image data")
    }
}

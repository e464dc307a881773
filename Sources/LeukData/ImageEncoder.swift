internal import CStbImage
internal import CTIFF

/// Writes images: PNG for synthetic datasets, and every decodable format for tests and benchmarks.
public enum ImageEncoder {
    /// Pixel layouts the encoder can write: the decoder must convert all of them back to RGB.
    public enum Channels: Int, Sendable {
        case grey = 1, greyAlpha = 2, rgb = 3, rgba = 4
    }

    public static func png(_ image: RGBImage) throws(ImageError) -> [UInt8] {
        try png(width: image.width, height: image.height, channels: .rgb, samples: image.pixels)
    }

    /// PNG from raw interleaved samples with the given channel count.
    public static func png(width: Int, height: Int, channels: Channels, samples: [UInt8]) throws(ImageError) -> [UInt8] {
        try validate(width: width, height: height, channels: channels, samples: samples)
        return try collect(name: "PNG") { write, context in
            samples.withUnsafeBytes { stbi_write_png_to_func(write, context, Int32(width), Int32(height), Int32(channels.rawValue), $0.baseAddress, Int32(width * channels.rawValue)) }
        }
    }

    public static func jpeg(_ image: RGBImage, quality: Int = 90) throws(ImageError) -> [UInt8] {
        try validate(width: image.width, height: image.height, channels: .rgb, samples: image.pixels)
        return try collect(name: "JPEG") { write, context in
            image.pixels.withUnsafeBytes { stbi_write_jpg_to_func(write, context, Int32(image.width), Int32(image.height), 3, $0.baseAddress, Int32(quality)) }
        }
    }

    public static func bmp(_ image: RGBImage) throws(ImageError) -> [UInt8] {
        try validate(width: image.width, height: image.height, channels: .rgb, samples: image.pixels)
        return try collect(name: "BMP") { write, context in
            image.pixels.withUnsafeBytes { stbi_write_bmp_to_func(write, context, Int32(image.width), Int32(image.height), 3, $0.baseAddress) }
        }
    }

    /// Writes a file in any of the four formats (JPEG at quality 90, TIFF uncompressed).
    public static func write(_ image: RGBImage, to path: String, format: ImageFormat) throws(ImageError) {
        switch format {
        case .png: try FileBytes.write(try png(image), to: path)
        case .jpeg: try FileBytes.write(try jpeg(image), to: path)
        case .bmp: try FileBytes.write(try bmp(image), to: path)
        case .tiff: try writeTIFF(image, to: path)
        }
    }

    /// Writes a PNG file.
    public static func writePNG(_ image: RGBImage, to path: String) throws(ImageError) {
        try FileBytes.write(try png(image), to: path)
    }

    /// Writes an uncompressed or LZW-compressed, strip-organised TIFF (8 bits per sample).
    public static func writeTIFF(width: Int, height: Int, channels: Channels, samples: [UInt8], to path: String,
                                 lzw: Bool = false) throws(ImageError) {
        try validate(width: width, height: height, channels: channels, samples: samples)
        let state = UnsafeMutablePointer<leuk_tiff_memory>.allocate(capacity: 1)
        state.initialize(to: leuk_tiff_memory())
        defer { state.deallocate() }
        func failure(_ fallback: String) -> ImageError {
            let message = String(cString: leuk_tiff_memory_message(state))
            return .writeFailed(file: path, reason: message.isEmpty ? fallback : message)
        }
        guard let tif = leuk_tiff_open_write(path, state) else { throw failure("libtiff could not create the file") }
        defer { TIFFClose(tif) }
        let spp = channels.rawValue
        var ok = leuk_tiff_set_uint32(tif, UInt32(TIFFTAG_IMAGEWIDTH), UInt32(width)) == 1
        ok = ok && leuk_tiff_set_uint32(tif, UInt32(TIFFTAG_IMAGELENGTH), UInt32(height)) == 1
        ok = ok && leuk_tiff_set_uint16(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), UInt16(spp)) == 1
        ok = ok && leuk_tiff_set_uint16(tif, UInt32(TIFFTAG_BITSPERSAMPLE), 8) == 1
        ok = ok && leuk_tiff_set_uint16(tif, UInt32(TIFFTAG_PLANARCONFIG), UInt16(PLANARCONFIG_CONTIG)) == 1
        let photometric = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK
        ok = ok && leuk_tiff_set_uint16(tif, UInt32(TIFFTAG_PHOTOMETRIC), UInt16(photometric)) == 1
        ok = ok && leuk_tiff_set_uint16(tif, UInt32(TIFFTAG_COMPRESSION), UInt16(lzw ? COMPRESSION_LZW : COMPRESSION_NONE)) == 1
        ok = ok && leuk_tiff_set_uint32(tif, UInt32(TIFFTAG_ROWSPERSTRIP), UInt32(max(1, 8192 / max(1, width * spp)))) == 1
        if channels == .greyAlpha || channels == .rgba {
            var kind = UInt16(EXTRASAMPLE_UNASSALPHA)
            ok = ok && leuk_tiff_set_extra_samples(tif, 1, &kind) == 1
        }
        guard ok else { throw failure("libtiff rejected a tag") }
        let rowBytes = width * spp
        var row = [UInt8](repeating: 0, count: rowBytes)
        for y in 0..<height {
            row.withUnsafeMutableBufferPointer { out in
                for i in 0..<rowBytes { out[i] = samples[y * rowBytes + i] }
            }
            let written = row.withUnsafeMutableBytes { TIFFWriteScanline(tif, $0.baseAddress, UInt32(y), 0) }
            guard written == 1 else { throw failure("writing row \(y) failed") }
        }
    }

    public static func writeTIFF(_ image: RGBImage, to path: String, lzw: Bool = false) throws(ImageError) {
        try writeTIFF(width: image.width, height: image.height, channels: .rgb, samples: image.pixels, to: path, lzw: lzw)
    }

    // MARK: helpers

    private static func validate(width: Int, height: Int, channels: Channels, samples: [UInt8]) throws(ImageError) {
        guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16, samples.count == width * height * channels.rawValue else {
            throw .writeFailed(file: "<memory>", reason: "\(width)x\(height)x\(channels.rawValue) does not match \(samples.count) samples")
        }
    }

    /// Accumulates stb_image_write's output callback into an array.
    private final class Sink { var bytes: [UInt8] = [] }

    private static func collect(name: String,
                                _ body: (@convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int32) -> Void, UnsafeMutableRawPointer) -> Int32) throws(ImageError) -> [UInt8] {
        let sink = Sink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        let status = withExtendedLifetime(sink) {
            body({ context, data, size in
                guard let context, let data, size > 0 else { return }
                let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: Int(size)))
            }, context)
        }
        guard status != 0 else { throw .writeFailed(file: "<memory>", reason: "stb_image_write could not encode \(name)") }
        return sink.bytes
    }
}

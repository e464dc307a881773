internal import CStbImage
internal import CTIFF

/// Decodes PNG, JPEG and BMP (stb_image) and TIFF (libtiff) into 8-bit RGB. Grey is expanded,
/// alpha is composited over white (smear backgrounds are light). The header is read and checked
/// against `DecodeLimits` before any pixel buffer exists.
///
/// Safe to call from several threads at once: Debian's libstb.so keeps stb_image's failure reason
/// in thread-local storage (`.tbss`), we never touch its global flip setting, and every libtiff
/// handle has its own error sink (`leuk_tiff_memory`) instead of the process-wide handler.
public enum ImageDecoder {
    /// Reads and decodes a file. Errors name `path`.
    public static func decode(path: String, limits: DecodeLimits = .standard) throws(ImageError) -> RGBImage {
        let bytes = try FileBytes.read(path: path, limit: limits.maxFileBytes)
        return try decode(bytes: bytes, name: path, limits: limits)
    }

    /// Decodes bytes already in memory; `name` is used in errors.
    public static func decode(bytes: [UInt8], name: String, limits: DecodeLimits = .standard) throws(ImageError) -> RGBImage {
        let header = try inspectHeader(bytes: bytes, name: name, limits: limits)
        switch header.format {
        case .png, .jpeg, .bmp: return try decodeWithStb(bytes: bytes, name: name, header: header)
        case .tiff: return try decodeTIFF(bytes: bytes, name: name, header: header)
        }
    }

    /// Format and dimensions from the header alone, after the size, dimension and bomb checks.
    /// Reads no pixel data, so it is cheap enough to run over a whole dataset.
    public static func inspectHeader(bytes: [UInt8], name: String, limits: DecodeLimits = .standard) throws(ImageError) -> ImageHeader {
        if bytes.isEmpty { throw .empty(file: name) }
        if bytes.count > limits.maxFileBytes { throw .fileTooLarge(file: name, bytes: bytes.count, limit: limits.maxFileBytes) }
        guard let format = ImageFormat.sniff(bytes) else { throw .unsupportedFormat(file: name) }
        // Our own header read first: precise limits errors, and truncation stb would pad with zeros.
        switch HeaderReader.read(bytes, format: format) {
        case .truncated(let why): throw .corrupt(file: name, format: format, reason: "truncated: \(why)")
        case .dimensions(let facts): try checkDimensions(width: facts.width, height: facts.height, bytes: bytes.count, name: name, limits: limits)
        case .unknown: break
        }
        if format == .png, let why = HeaderReader.pngChunksBeyondFile(bytes) {
            throw .corrupt(file: name, format: format, reason: "truncated: \(why)")
        }
        let (width, height, channels): (Int, Int, Int)
        switch format {
        case .png, .jpeg, .bmp: (width, height, channels) = try stbInfo(bytes: bytes, name: name, format: format)
        case .tiff: (width, height, channels) = try tiffInfo(bytes: bytes, name: name)
        }
        guard width > 0, height > 0 else {
            throw .corrupt(file: name, format: format, reason: "header claims \(width)x\(height) pixels")
        }
        try checkDimensions(width: width, height: height, bytes: bytes.count, name: name, limits: limits)
        return ImageHeader(format: format, width: width, height: height, channels: channels)
    }

    private static func checkDimensions(width: Int, height: Int, bytes: Int, name: String, limits: DecodeLimits) throws(ImageError) {
        if width > limits.maxDimension || height > limits.maxDimension {
            throw .dimensionsTooLarge(file: name, width: width, height: height, limit: limits.maxDimension)
        }
        let decodedBytes = width * height * 4
        if decodedBytes > limits.bombCheckAboveBytes && decodedBytes / max(bytes, 1) > limits.maxExpansionRatio {
            throw .decompressionBomb(file: name, width: width, height: height, fileBytes: bytes)
        }
    }

    // MARK: stb_image

    private static func stbInfo(bytes: [UInt8], name: String, format: ImageFormat) throws(ImageError) -> (Int, Int, Int) {
        guard bytes.count <= Int(Int32.max) else { throw .fileTooLarge(file: name, bytes: bytes.count, limit: Int(Int32.max)) }
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        let ok = bytes.withUnsafeBufferPointer { stbi_info_from_memory($0.baseAddress, Int32($0.count), &w, &h, &c) }
        guard ok != 0 else { throw .corrupt(file: name, format: format, reason: stbReason()) }
        return (Int(w), Int(h), Int(c))
    }

    private static func stbReason() -> String {
        guard let reason = stbi_failure_reason() else { return "unknown decoder error" }
        return String(cString: reason)
    }

    private static func decodeWithStb(bytes: [UInt8], name: String, header: ImageHeader) throws(ImageError) -> RGBImage {
        let hasAlpha = header.channels == 2 || header.channels == 4
        let wanted: Int32 = hasAlpha ? 4 : 3
        var w: Int32 = 0, h: Int32 = 0, c: Int32 = 0
        let decoded = bytes.withUnsafeBufferPointer { stbi_load_from_memory($0.baseAddress, Int32($0.count), &w, &h, &c, wanted) }
        guard let decoded else { throw .corrupt(file: name, format: header.format, reason: stbReason()) }
        defer { stbi_image_free(decoded) }
        guard Int(w) == header.width, Int(h) == header.height else {
            throw .corrupt(file: name, format: header.format, reason: "decoded size differs from header")
        }
        let count = header.width * header.height
        let pixels: [UInt8]
        if hasAlpha {
            pixels = [UInt8](unsafeUninitializedCapacity: count * 3) { out, initialized in
                for i in 0..<count {
                    let a = UInt32(decoded[i * 4 + 3])
                    for ch in 0..<3 { out[i * 3 + ch] = compositeOverWhite(UInt32(decoded[i * 4 + ch]), alpha: a) }
                }
                initialized = count * 3
            }
        } else {
            pixels = Array(UnsafeBufferPointer(start: decoded, count: count * 3))
        }
        return RGBImage(width: header.width, height: header.height, pixels: pixels)
    }

    @inline(__always) static func compositeOverWhite(_ value: UInt32, alpha: UInt32) -> UInt8 {
        UInt8((value * alpha + 255 * (255 - alpha) + 127) / 255)
    }

    // MARK: libtiff

    /// An open in-memory TIFF; closes the handle and frees the reader state on every path.
    private final class TIFFReader {
        let state: UnsafeMutablePointer<leuk_tiff_memory>
        let handle: OpaquePointer?
        let base: UnsafeMutablePointer<UInt8>

        init(bytes: [UInt8], maxAllocation: Int) {
            base = .allocate(capacity: bytes.count)
            base.initialize(from: bytes, count: bytes.count)
            state = .allocate(capacity: 1)
            state.initialize(to: leuk_tiff_memory())
            state.pointee.data = UnsafePointer(base)
            state.pointee.size = UInt64(bytes.count)
            handle = leuk_tiff_open_memory(state, Int64(maxAllocation))
        }

        var message: String {
            let text = String(cString: leuk_tiff_memory_message(state))
            return text.isEmpty ? "libtiff could not read it" : text
        }

        deinit {
            if let handle { TIFFClose(handle) }
            state.deallocate()
            base.deallocate()
        }
    }

    private static func tiffInfo(bytes: [UInt8], name: String) throws(ImageError) -> (Int, Int, Int) {
        let reader = TIFFReader(bytes: bytes, maxAllocation: 64 << 20)
        guard let tif = reader.handle else { throw .corrupt(file: name, format: .tiff, reason: reader.message) }
        var w: UInt32 = 0, h: UInt32 = 0, spp: UInt16 = 0
        guard leuk_tiff_get_uint32(tif, UInt32(TIFFTAG_IMAGEWIDTH), &w) == 1,
              leuk_tiff_get_uint32(tif, UInt32(TIFFTAG_IMAGELENGTH), &h) == 1 else {
            throw .corrupt(file: name, format: .tiff, reason: "missing image width or length")
        }
        _ = leuk_tiff_get_uint16_defaulted(tif, UInt32(TIFFTAG_SAMPLESPERPIXEL), &spp)
        return (Int(w), Int(h), Int(spp))
    }

    private static func decodeTIFF(bytes: [UInt8], name: String, header: ImageHeader) throws(ImageError) -> RGBImage {
        // Dimensions were checked by inspectHeader; the raster libtiff fills is ours, sized from them.
        let reader = TIFFReader(bytes: bytes, maxAllocation: max(64 << 20, header.width * header.height * 8))
        guard let tif = reader.handle else { throw .corrupt(file: name, format: .tiff, reason: reader.message) }
        let count = header.width * header.height
        var raster = [UInt32](repeating: 0, count: count)
        let ok = raster.withUnsafeMutableBufferPointer {
            TIFFReadRGBAImageOriented(tif, UInt32(header.width), UInt32(header.height), $0.baseAddress,
                                      Int32(ORIENTATION_TOPLEFT), 0)
        }
        guard ok == 1 else { throw .corrupt(file: name, format: .tiff, reason: reader.message) }
        let pixels = [UInt8](unsafeUninitializedCapacity: count * 3) { out, initialized in
            for i in 0..<count {
                let v = raster[i]
                let a = UInt32(leuk_tiff_a(v))
                out[i * 3] = compositeOverWhite(UInt32(leuk_tiff_r(v)), alpha: a)
                out[i * 3 + 1] = compositeOverWhite(UInt32(leuk_tiff_g(v)), alpha: a)
                out[i * 3 + 2] = compositeOverWhite(UInt32(leuk_tiff_b(v)), alpha: a)
            }
            initialized = count * 3
        }
        return RGBImage(width: header.width, height: header.height, pixels: pixels)
    }
}

/// What a header says about an image, before decoding.
public struct ImageHeader: Sendable, Equatable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// Channels in the file (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; TIFF reports samples per pixel).
    public var channels: Int

    public init(format: ImageFormat, width: Int, height: Int, channels: Int) {
        self.format = format; self.width = width; self.height = height; self.channels = channels
    }
}

// LeukData: image decoding (stb, libtiff), preprocessing, dataset layouts, splits, augmentation and
// synthetic cells. Nothing here touches the network or a model; the CNN consumes `BatchStream`.

/// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC): `pixels[(y * width + x) * 3 + c]`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3, "RGBImage: pixel count must be width*height*3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniformly coloured image.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[i * 3] = fill.0; pixels[i * 3 + 1] = fill.1; pixels[i * 3 + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The (r, g, b) triple at a pixel.
    public func pixel(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * width + x) * 3
        return (pixels[i], pixels[i + 1], pixels[i + 2])
    }
}

/// The container formats the decoder accepts, recognised by their magic bytes (never by extension).
public enum ImageFormat: String, Sendable, Codable, CaseIterable {
    case png = "PNG"
    case jpeg = "JPEG"
    case bmp = "BMP"
    case tiff = "TIFF"

    /// The usual file extension for files written in this format.
    public var fileExtension: String {
        switch self {
        case .png: return "png"
        case .jpeg: return "jpg"
        case .bmp: return "bmp"
        case .tiff: return "tif"
        }
    }

    /// File extensions (lower case) that the dataset scanner treats as images.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "bmp", "tif", "tiff"]

    /// Recognises a format from the first bytes of a file, or `nil` when it is none of the four.
    public static func sniff(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        let head = Array(bytes.prefix(8))
        if head.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if head.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if head.starts(with: [0x42, 0x4D]) { return .bmp }
        if head.starts(with: [0x49, 0x49, 0x2A, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2A])
            || head.starts(with: [0x49, 0x49, 0x2B, 0x00]) || head.starts(with: [0x4D, 0x4D, 0x00, 0x2B]) {
            return .tiff
        }
        return nil
    }
}

/// Bounds checked before any pixel memory is allocated. stb_image and libtiff are not hardened
/// against hostile files, so nothing reaches them that could make them allocate without bound.
public struct DecodeLimits: Sendable, Equatable {
    /// Largest file accepted, in bytes.
    public var maxFileBytes: Int
    /// Largest width and height accepted, in pixels.
    public var maxDimension: Int
    /// Largest decoded size relative to the file size (decompression-bomb guard), applied once the
    /// decoded image would exceed `bombCheckAboveBytes`; small images are always cheap to decode.
    public var maxExpansionRatio: Int
    public var bombCheckAboveBytes: Int

    public init(maxFileBytes: Int = 64 << 20, maxDimension: Int = 8192, maxExpansionRatio: Int = 1024,
                bombCheckAboveBytes: Int = 16 << 20) {
        self.maxFileBytes = maxFileBytes
        self.maxDimension = maxDimension
        self.maxExpansionRatio = maxExpansionRatio
        self.bombCheckAboveBytes = bombCheckAboveBytes
    }

    public static let standard = DecodeLimits()
}

public import LeukCore

/// Why an image file could not be turned into pixels. Every case names the file, so a warning in a
/// long training log or an `inspect` report points at the culprit.
public enum ImageError: LeukUserFacingError, Equatable {
    /// The file could not be opened or read (missing, permissions, a directory).
    case unreadable(file: String, reason: String)
    /// The file has zero bytes.
    case empty(file: String)
    /// The file is larger than the configured limit.
    case fileTooLarge(file: String, bytes: Int, limit: Int)
    /// The bytes are not PNG, JPEG, BMP or TIFF.
    case unsupportedFormat(file: String)
    /// The header claims more pixels than allowed along one side.
    case dimensionsTooLarge(file: String, width: Int, height: Int, limit: Int)
    /// The header claims a decoded size out of proportion to the file size.
    case decompressionBomb(file: String, width: Int, height: Int, fileBytes: Int)
    /// The header or the pixel data is damaged or truncated; `reason` is the decoder's own message.
    case corrupt(file: String, format: ImageFormat, reason: String)
    /// An image could not be written (synthetic data, test fixtures).
    case writeFailed(file: String, reason: String)

    public var file: String {
        switch self {
        case .unreadable(let file, _), .empty(let file), .fileTooLarge(let file, _, _), .unsupportedFormat(let file),
             .dimensionsTooLarge(let file, _, _, _), .decompressionBomb(let file, _, _, _), .corrupt(let file, _, _),
             .writeFailed(let file, _):
            return file
        }
    }

    /// The reason without the file name, for tables that already show the file.
    public var reason: String {
        switch self {
        case .unreadable(_, let reason): return "cannot be read: \(reason)"
        case .empty: return "is empty (0 bytes)"
        case .fileTooLarge(_, let bytes, let limit): return "is \(bytes) bytes, more than the \(limit)-byte limit"
        case .unsupportedFormat: return "is not a PNG, JPEG, BMP or TIFF image"
        case .dimensionsTooLarge(_, let w, let h, let limit):
            return "claims \(w)x\(h) pixels, more than the \(limit)x\(limit) limit"
        case .decompressionBomb(_, let w, let h, let bytes):
            return "claims \(w)x\(h) pixels from only \(bytes) bytes (decompression-bomb guard)"
        case .corrupt(_, let format, let reason): return "is a damaged \(format.rawValue) file: \(reason)"
        case .writeFailed(_, let reason): return "could not be written: \(reason)"
        }
    }

    public var description: String { "image '\(file)' \(reason)" }

    public var hint: String? {
        switch self {
        case .fileTooLarge, .dimensionsTooLarge, .decompressionBomb:
            return "cell crops are normally a few hundred pixels wide; crop or downscale the image, or remove it"
        case .unsupportedFormat: return "convert it to PNG, JPEG, BMP or TIFF, or move it out of the dataset folder"
        case .empty, .corrupt: return "re-export or re-copy the file, or remove it from the dataset"
        case .unreadable, .writeFailed: return "check that the path exists and is readable/writable"
        }
    }
}

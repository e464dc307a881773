#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads whole files with the size checked from `fstat` first, so an oversized file is refused
/// before its bytes are read into memory.
enum FileBytes {
    static func read(path: String, limit: Int) throws(ImageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(file: path, reason: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .unreadable(file: path, reason: "not a regular file") }
        let size = Int(info.st_size)
        if size == 0 { throw .empty(file: path) }
        if size > limit { throw .fileTooLarge(file: path, bytes: size, limit: limit) }
        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        let failure: String? = bytes.withUnsafeMutableBytes { buffer in
            while filled < size {
                let n = Glibc.read(fd, buffer.baseAddress! + filled, size - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                if n == 0 { return "file shrank while being read" }
                filled += n
            }
            return nil
        }
        if let failure { throw .unreadable(file: path, reason: failure) }
        return bytes
    }

    /// Writes bytes to a file, replacing it.
    static func write(_ bytes: [UInt8], to path: String) throws(ImageError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var written = 0
        let failure: String? = bytes.withUnsafeBytes { buffer in
            while written < bytes.count {
                let n = Glibc.write(fd, buffer.baseAddress! + written, bytes.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                written += n
            }
            return nil
        }
        if let failure { throw .writeFailed(file: path, reason: failure) }
    }
}

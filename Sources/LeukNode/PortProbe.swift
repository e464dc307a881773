#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a TCP port can be bound now, so `leuknode init` can give a second node on the same machine
/// its own ports instead of one that fails only later, at `start`. A probe, not a reservation: it
/// binds and closes at once.
///
/// The probe sets `SO_REUSEADDR`, as the node's own servers do, so it asks the question the server's
/// bind will ask: is something *listening* there? Without it, the connections a node closed just
/// before a restart (TIME_WAIT on its API port) made a free port look taken and the restart refused.
public enum PortProbe {
    /// True when `host:port` (an IPv4 literal or `localhost`) can be bound right now.
    public static func isFree(host: String, port: Int) -> Bool {
        guard (1...65535).contains(port) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var reuse: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size)) == 0 else { return false }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let literal = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, literal, &address.sin_addr) == 1 else { return true }  // not IPv4: cannot probe, assume free
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return bound == 0
    }

    /// The first free port from `port` upwards (at most `span` tried), skipping `taken`; nil if none.
    public static func firstFree(host: String, from port: Int, span: Int = 100, excluding taken: Set<Int> = []) -> Int? {
        for candidate in port..<min(port + span, 65536) where !taken.contains(candidate) && isFree(host: host, port: candidate) {
            return candidate
        }
        return nil
    }
}

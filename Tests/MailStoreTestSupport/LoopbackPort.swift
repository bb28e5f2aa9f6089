import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// TCP ports on 127.0.0.1 for servers a test must name before they start (two agents that
/// each name the other).
///
/// A port the kernel hands out for `bind` to port 0 lies in its ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`, 32768–60999 by default), the range it also
/// takes the local port of every outgoing connection from. Between the moment a test learns
/// such a port and the moment its server listens, any connection another test opens may get
/// it, and the server then fails to bind. So ports come from below that range, where the
/// kernel never picks on its own; each is checked free by binding it, and none is handed
/// out twice by one test process.
public enum LoopbackPort {
    /// Ports already handed out by this process.
    private static let given = Mutex<Set<Int>>([])

    /// A TCP port on 127.0.0.1 below the kernel's ephemeral range that was free a moment ago
    /// and that this process has not handed out before.
    ///
    /// - Throws: ``DovecotTestError/io(_:)`` when no socket can be made, or no port of the
    ///   range was free in 200 tries.
    public static func free() throws -> Int {
        let range = candidates()
        for _ in 0..<200 {
            let port = Int.random(in: range)
            guard given.withLock({ $0.insert(port).inserted }) else { continue }
            if try isFree(port) { return port }
        }
        throw DovecotTestError.io("no free TCP port on 127.0.0.1 in \(range) after 200 tries")
    }

    /// 20000 up to the start of the ephemeral range (at least 2000 ports).
    private static func candidates() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
        let lowest = low > 12000 ? 10000 : 1024
        return max(lowest, min(20000, low - 2000))...max(lowest + 1000, low - 1)
    }

    /// Whether `port` on 127.0.0.1 can be bound now (without SO_REUSEADDR, so a port a
    /// closing connection still holds counts as taken).
    private static func isFree(_ port: Int) throws -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DovecotTestError.io("socket: \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 }
        }
    }
}

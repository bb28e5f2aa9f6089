import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// TCP ports on 127.0.0.1 for servers a test must name before they start (two agents that
/// each name the other).
public enum LoopbackPort {
    /// A TCP port on 127.0.0.1 that was free a moment ago.
    ///
    /// - Throws: ``DovecotTestError/io(_:)`` when no socket could be bound.
    public static func free() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw DovecotTestError.io("socket: \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { throw DovecotTestError.io("bind: \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Free TCP ports on 127.0.0.1, taken from the kernel (bind to port 0) and held until the
/// fleet is about to listen on them.
///
/// The fleet's parts must know each other's ports before any of them runs (each agent dials
/// its peer, the coordinator stores the pairs' endpoints, every agent dials the
/// coordinator), so the ports are chosen first. Held sockets are bound but never listen, so
/// releasing one leaves nothing in TIME_WAIT; the servers bind with SO_REUSEADDR.
final class DemoPorts {
    private var descriptors: [Int32] = []
    /// The reserved ports, in the order asked for.
    private(set) var ports: [Int] = []

    /// Reserves `count` distinct ports.
    ///
    /// - Throws: ``DemoError`` when a socket cannot be made or bound.
    init(count: Int) throws {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw DemoError("cannot make a socket to reserve a port: \(String(cString: strerror(errno)))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                    bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
                }
            }
            guard bound else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw DemoError("cannot reserve a port on 127.0.0.1: \(reason)")
            }
            descriptors.append(fd)
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
    }

    /// Gives the ports back to the kernel for the fleet's servers to bind.
    func release() {
        for fd in descriptors { close(fd) }
        descriptors = []
    }

    deinit {
        for fd in descriptors { close(fd) }
    }
}

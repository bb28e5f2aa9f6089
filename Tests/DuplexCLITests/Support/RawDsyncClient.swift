import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Clients that do not do what `duplex sync` does, to show what the agent gives them.
enum RawDsyncClient {
    /// A dsync hello frame for protocol 1.0, encoded here by hand from the documented format
    /// (`DsyncHello`, `DsyncFrame+Payload.swift`) rather than by the product's encoder: a
    /// 4-byte big-endian length of what follows, type `0x01`, major, minor, sync kind, the
    /// user as a length-prefixed string, no capabilities.
    static func helloFrame(user: String) -> [UInt8] {
        func bigEndian16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        let payload = bigEndian16(1) + bigEndian16(0) + [0] + bigEndian16(user.utf8.count) + Array(user.utf8) + bigEndian16(0)
        let length = payload.count + 1
        return [24, 16, 8, 0].map { UInt8(length >> $0 & 0xff) } + [0x01] + payload
    }

    /// What a plaintext TCP client sending `bytes` to 127.0.0.1:`port` gets back.
    struct Exchange {
        /// Everything received before the end.
        var received: [UInt8]
        /// Whether the agent closed the connection (rather than the wait timing out).
        var closedByPeer: Bool
    }

    /// Connects over plain TCP, sends `bytes`, and reads until the agent closes the
    /// connection or nothing comes for `timeout` seconds.
    static func exchangePlaintext(port: Int, sending bytes: [UInt8], timeout: Int = 10) throws -> Exchange {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        var wait = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED) }
        guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 {
                received += buffer[..<count]
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                // 0: closed; ECONNRESET: closed with unread data; EAGAIN: the timeout.
                let closed = count == 0 || errno == ECONNRESET
                return Exchange(received: received, closedByPeer: closed)
            }
        }
    }

    /// A TLS client without a certificate, in Python's `ssl` module: it trusts `ca`, sends
    /// the hex-encoded frame after the handshake and reads until the end. Prints one JSON
    /// object: `handshake` (whether this side finished it), `received` (the hex of the
    /// application data that came) and `error`.
    static let pythonClientWithoutCertificate = """
        import json, socket, ssl, sys
        port, ca, frame = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(ca)
        result = {"handshake": False, "received": "", "error": ""}
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw) as tls:
                    result["handshake"] = True
                    tls.sendall(frame)
                    while True:
                        data = tls.recv(65536)
                        if not data:
                            break
                        result["received"] += data.hex()
        except Exception as error:
            result["error"] = f"{type(error).__name__}: {error}"
        print(json.dumps(result))
        """
}

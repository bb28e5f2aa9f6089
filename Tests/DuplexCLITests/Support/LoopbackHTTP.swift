import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain HTTP/1.1 GET to a server on 127.0.0.1, for reading an agent's `/metrics` and
/// `/v1/status` without any client library: one request, `Connection: close`, the whole
/// answer read until the server closes.
enum LoopbackHTTP {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The body of `GET path` on `127.0.0.1:port` when the status is 200.
    ///
    /// - Throws: ``Failure`` naming the step and errno, or the status line of another answer.
    static func get(port: Int, path: String) throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(descriptor) }
        // A hang guard for a wedged agent; a passing test never waits this long.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw Failure(description: "connect to 127.0.0.1:\(port): errno \(errno)") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send to 127.0.0.1:\(port): errno \(errno)") }
            sent += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "recv from 127.0.0.1:\(port): errno \(errno)") }
            answer.append(contentsOf: buffer[..<n])
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw Failure(description: "GET \(path): no complete header in \(text.prefix(200))") }
        let head = text[..<end.lowerBound]
        guard head.hasPrefix("HTTP/1.1 200") else { throw Failure(description: "GET \(path): \(head.prefix(while: { $0 != "\r" }))") }
        var body = String(text[end.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") { body = try dechunk(body) }
        return body
    }

    /// The payload of a chunked body (RFC 9112 §7.1), trailers ignored.
    private static func dechunk(_ body: String) throws -> String {
        var bytes = Substring(body).utf8[...]
        var payload: [UInt8] = []
        while true {
            guard let lineEnd = bytes.firstRange(of: "\r\n".utf8) else { throw Failure(description: "chunked body cut short") }
            let sizeText = String(decoding: bytes[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw Failure(description: "bad chunk size \(sizeText)")
            }
            bytes = bytes[lineEnd.upperBound...]
            if size == 0 { return String(decoding: payload, as: UTF8.self) }
            guard bytes.count >= size + 2 else { throw Failure(description: "chunk cut short") }
            payload.append(contentsOf: bytes.prefix(size))
            bytes = bytes.dropFirst(size + 2)
        }
    }
}

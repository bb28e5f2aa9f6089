import Foundation
import MailStoreTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Stand-ins for the agent's `replication-notify-fifo` and `replication-notify` socket in a
/// directory, owned by the mail user with mode 0600 as the agent makes them, so a test can
/// see exactly what Dovecot's replication plugin writes to them.
///
/// Everything is non-blocking and polled with a generous deadline; ``close()`` releases the
/// descriptors.
final class NotifyEndpoints {
    let fifoPath: String
    let socketPath: String
    private let fifo: Int32
    private let listener: Int32

    /// How long to wait for Dovecot: generous, a passing test never waits this long.
    static let patience = Duration.seconds(180)

    init(in directory: String) throws {
        fifoPath = directory + "/replication-notify-fifo"
        socketPath = directory + "/replication-notify"
        guard mkfifo(fifoPath, 0o600) == 0 else { throw Self.failure("mkfifo \(fifoPath)") }
        // A reader must be there for the plugin's non-blocking open for writing to succeed.
        fifo = open(fifoPath, O_RDONLY | O_NONBLOCK)
        guard fifo >= 0 else { throw Self.failure("open \(fifoPath)") }

        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { closeDescriptor(fifo); throw Self.failure("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw DovecotTestError.io("socket path too long: \(socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 4) == 0, fcntl(listener, F_SETFL, O_NONBLOCK) == 0 else {
            throw Self.failure("bind/listen \(socketPath)")
        }
        guard chmod(socketPath, 0o600) == 0 else { throw Self.failure("chmod \(socketPath)") }
        try SystemAccounts.chownToVmail(path: fifoPath)
        try SystemAccounts.chownToVmail(path: socketPath)
    }

    func close() {
        closeDescriptor(fifo)
        closeDescriptor(listener)
    }

    /// Accepts one connection on the socket while `process` runs, reads its request line and
    /// answers `answer`.
    ///
    /// - Returns: the request line, with its line feed.
    /// - Throws: when nobody connects before `process` exits or the deadline passes.
    func answerOneSyncRequest(with answer: String, while process: BackgroundCommand) async throws -> String {
        let deadline = ContinuousClock.now + Self.patience
        var connection: Int32 = -1
        while connection < 0 {
            connection = accept(listener, nil, nil)
            if connection >= 0 { break }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { throw Self.failure("accept") }
            guard process.exitStatus() == nil, ContinuousClock.now < deadline else {
                throw DovecotTestError.io("nobody connected to \(socketPath); \(process.command.last ?? ""): \(process.stderr)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        defer { closeDescriptor(connection) }
        _ = fcntl(connection, F_SETFL, O_NONBLOCK)
        var request: [UInt8] = []
        while !request.contains(UInt8(ascii: "\n")) {
            var buffer = [UInt8](repeating: 0, count: 1024)
            let count = read(connection, &buffer, buffer.count)
            if count > 0 {
                request += buffer[0..<count]
            } else if count == 0 || !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) || ContinuousClock.now >= deadline {
                break
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        _ = Array(answer.utf8).withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
        return String(decoding: request, as: UTF8.self)
    }

    /// Reads the fifo until `done` holds for the lines read so far or the deadline passes.
    func fifoLines(until done: ([String]) -> Bool) async throws -> [String] {
        let deadline = ContinuousClock.now + Self.patience
        var text: [UInt8] = []
        var lines: [String] { String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init) }
        while !done(lines), ContinuousClock.now < deadline {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = read(fifo, &buffer, buffer.count)
            if count > 0 {
                text += buffer[0..<count]
            } else {
                // 0: no writer at the moment; -1 EAGAIN: a writer, nothing written yet.
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        return lines
    }

    private static func failure(_ what: String) -> DovecotTestError {
        DovecotTestError.io("\(what): \(String(cString: strerror(errno)))")
    }
}

/// `close(2)`, callable where a method named `close` hides it.
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

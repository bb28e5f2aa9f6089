#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import NIOCore
import NIOPosix

/// The admin socket's file: taking the path over from a dead server, creating the socket
/// with mode 0600 from the start, and removing it only while it is still this server's.
struct AdminSocketFile: Sendable {
    /// The socket's path.
    let path: String
    /// The socket file's identity once in place, so that a socket another server has put
    /// at the path since is never removed.
    private let device: UInt64
    private let inode: UInt64

    /// The longest path a Unix socket address holds (`sun_path` less its terminating NUL).
    static let maximumPathLength = 107

    /// Binds a listener to `path` through `bind`, with no moment at which the socket is
    /// reachable with a wider mode than 0600: `bind` gets a temporary name beside `path`,
    /// which is made 0600 and then renamed over `path`.
    ///
    /// A socket file already at `path` is replaced only when nothing accepts connections
    /// on it (a server that died without cleaning up).
    ///
    /// - Throws: ``ReplicatorAdminError`` `cannotListen` when the path is too long, exists
    ///   and is not a socket, is served by another process, or cannot be bound, secured or
    ///   renamed.
    static func bind<Listener>(
        _ path: String, _ bind: (String) async throws -> Listener, close: (Listener) async -> Void
    ) async throws -> (AdminSocketFile, Listener) {
        let temporary = path + ".\(getpid()).new"
        guard temporary.utf8.count <= maximumPathLength else {
            throw failure("the socket path is too long (at most \(maximumPathLength - (temporary.utf8.count - path.utf8.count)) bytes)", path)
        }
        try await takeOver(path)
        unlink(temporary)
        let listener: Listener
        do {
            listener = try await bind(temporary)
        } catch {
            throw failure("cannot listen: \(describe(error))", path)
        }
        do {
            guard chmod(temporary, 0o600) == 0 else { throw failure("cannot make the socket mode 0600: \(errnoText())", path) }
            guard rename(temporary, path) == 0 else { throw failure("cannot move the socket into place: \(errnoText())", path) }
            var status = stat()
            guard lstat(path, &status) == 0 else { throw failure("cannot stat the socket: \(errnoText())", path) }
            return (AdminSocketFile(path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino)), listener)
        } catch {
            await close(listener)
            unlink(temporary)
            throw error
        }
    }

    /// Removes the socket file if it is still the one this server created.
    func remove() {
        var status = stat()
        guard lstat(path, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode else { return }
        unlink(path)
    }

    /// Removes a stale socket at `path`; fails when the path is no socket or is served.
    private static func takeOver(_ path: String) async throws {
        var status = stat()
        guard lstat(path, &status) == 0 else {
            guard errno == ENOENT else { throw failure("cannot stat: \(errnoText())", path) }
            return
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw failure("exists and is not a socket; not replacing it", path)
        }
        do {
            let probe = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(2))
                .connect(unixDomainSocketPath: path).get()
            try? await probe.close()
            throw failure("another process is serving this socket", path)
        } catch let error as IOError where error.errnoCode == ECONNREFUSED || error.errnoCode == ENOENT {
            // Nobody listens: a socket left behind by a server that died.
            guard unlink(path) == 0 || errno == ENOENT else { throw failure("cannot remove the stale socket: \(errnoText())", path) }
        } catch let error as ReplicatorAdminError {
            throw error
        } catch {
            throw failure("cannot tell whether another process serves this socket: \(describe(error))", path)
        }
    }

    private static func failure(_ message: String, _ path: String) -> ReplicatorAdminError {
        ReplicatorAdminError(.cannotListen, message, socketPath: path)
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }

    /// A NIO error in words: the system's text for an errno, else the error itself.
    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}

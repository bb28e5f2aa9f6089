#if canImport(Glibc)
@preconcurrency import Glibc
#endif

import NIOCore
import NIOPosix

/// Words for why a connection could not be made, for messages: the system's text for an
/// `errno` (`connection refused`), a resolver failure naming the host, or a connect timeout,
/// instead of NIO's debug descriptions.
public enum ConnectionFailure {
    /// A short text for a connect or TLS error.
    public static func describe(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return describe(first.error) }
            if let dns = error.dnsAAAAError ?? error.dnsAError { return "cannot resolve \(error.host): \(dns)" }
            return "cannot connect to \(error.host):\(error.port)"
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        if let error = error as? ChannelError, case .connectTimeout(let amount) = error {
            return "no connection within \(amount.nanoseconds / 1_000_000_000) s"
        }
        return String(describing: error)
    }
}

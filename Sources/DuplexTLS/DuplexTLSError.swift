#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error from making, loading or writing development TLS credentials, with a stable
/// code and the context needed to act on it.
///
/// The `description` names the file or the host concerned and never contains key
/// material. `code` maps to the sysexits-style exit codes the `duplex` commands use
/// (see ``DuplexTLSError/Code/exitCode``).
public struct DuplexTLSError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable {
        /// A host name is neither a valid DNS name nor an IPv4/IPv6 address, or is reserved.
        case invalidHostName
        /// Another caller-supplied value is invalid (CA name, validity, duplicate host).
        case invalidArgument
        /// A PEM file does not hold what it should (unparsable, key not matching the
        /// certificate, not a CA, expired).
        case badData
        /// A file or directory does not exist.
        case notFound
        /// A key or certificate file exists and overwriting was not asked for.
        case alreadyExists
        /// The operating system refused access.
        case permissionDenied
        /// A file or directory could not be created (no space, quota).
        case cannotCreate
        /// Any other I/O failure.
        case io
        /// Generating a key or signing a certificate failed (a bug or a broken crypto backend).
        case signingFailed

        /// The exit code `duplex tls` uses for this code (sysexits.h).
        public var exitCode: Int32 {
            switch self {
            case .invalidHostName, .invalidArgument: 64
            case .badData: 65
            case .notFound: 68
            case .signingFailed: 70
            case .alreadyExists, .cannotCreate: 73
            case .io: 74
            case .permissionDenied: 77
            }
        }
    }

    /// The stable failure code.
    public var code: Code
    /// A human-readable explanation, without the path (see ``path``).
    public var message: String
    /// The file or directory concerned, when known.
    public var path: String?
    /// The host name concerned, exactly as given, when known.
    public var host: String?
    /// The `errno` value behind an operating-system failure.
    public var errno: Int32?
    /// The lower-level error (X509, ASN.1, Crypto) behind this one, when there is one.
    public var cause: (any Error)?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The stable failure code.
    ///   - message: What went wrong, naming the host when there is one; no key material.
    ///   - path: The file or directory concerned.
    ///   - host: The host name concerned, as given.
    ///   - errno: The `errno` of a failed system call.
    ///   - cause: The lower-level error.
    public init(
        _ code: Code, _ message: String, path: String? = nil, host: String? = nil,
        errno: Int32? = nil, cause: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.host = host
        self.errno = errno
        self.cause = cause
    }

    /// `PATH: MESSAGE (strerror)`, with control characters escaped.
    public var description: String {
        var text = ""
        if let path { text += Self.printable(path) + ": " }
        text += Self.printable(message)
        if let errno { text += " (\(String(cString: strerror(errno))))" }
        return text
    }

    /// `text` with control characters written as `\u{..}`, so a hostile host or file name
    /// cannot break a log line or a terminal.
    static func printable(_ text: String) -> String {
        text.unicodeScalars.map { scalar in
            scalar.properties.generalCategory == .control
                ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
    }

    /// Runs `body`, setting ``path`` on a ``DuplexTLSError`` it throws that names no file yet.
    static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as DuplexTLSError {
            if error.path == nil { error.path = path }
            throw error
        }
    }

    /// Makes an error from a failed system call, classifying `errno`.
    static func system(_ operation: String, path: String, errno code: Int32) -> DuplexTLSError {
        let kind: Code
        switch code {
        case ENOENT, ENOTDIR: kind = .notFound
        case EACCES, EPERM, EROFS: kind = .permissionDenied
        case EEXIST: kind = .alreadyExists
        case ENOSPC, EDQUOT: kind = .cannotCreate
        default: kind = .io
        }
        return DuplexTLSError(kind, "\(operation) failed", path: path, errno: code)
    }
}

/// An error from the Maildir store, with a stable code and the context needed to act on it.
///
/// The `description` names the file (and line, for parsed files) and never contains
/// message bodies. `code` maps to the sysexits-style exit codes doveadm uses
/// (see ``MailStoreError/Code/exitCode``).
public struct MailStoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; stable across releases.
    public enum Code: String, Sendable {
        /// A file's content or name is malformed (uidlist, keywords, subscriptions, file name).
        case badData
        /// A caller-supplied value is invalid (mailbox name, flag, keyword, UID).
        case invalidArgument
        /// The mailbox, message or file does not exist.
        case notFound
        /// The mailbox or message already exists.
        case alreadyExists
        /// The UID asked for is already used or below the mailbox's next UID (UIDs are never reused).
        case uidNotAvailable
        /// A lock could not be taken within the timeout; safe to retry.
        case lockTimeout
        /// The operating system refused access.
        case permissionDenied
        /// A file or directory could not be created or written.
        case cannotCreate
        /// Any other I/O failure.
        case io

        /// The exit code doveadm-style commands use for this code (sysexits.h).
        public var exitCode: Int32 {
            switch self {
            case .badData: 65
            case .invalidArgument: 64
            case .notFound: 68
            case .alreadyExists: 73
            case .uidNotAvailable: 65
            case .lockTimeout: 75
            case .permissionDenied: 77
            case .cannotCreate: 73
            case .io: 74
            }
        }
    }

    /// The stable failure code.
    public var code: Code
    /// A human-readable explanation, without the path (see ``path``).
    public var message: String
    /// The file or directory concerned, when known.
    public var path: String?
    /// The 1-based line in ``path``, for parsed text files.
    public var line: Int?
    /// The `errno` value behind an operating-system failure.
    public var errno: Int32?

    public init(_ code: Code, _ message: String, path: String? = nil, line: Int? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.line = line
        self.errno = errno
    }

    public var description: String {
        var text = ""
        if let path {
            text += Self.printable(path)
            if let line { text += ":\(line)" }
            text += ": "
        }
        text += Self.printable(message)
        if let errno {
            text += " (\(String(cString: strerror(errno))))"
        }
        return text
    }

    /// `text` with control characters written as `\u{..}`, so a hostile file name cannot
    /// break a log line or a terminal.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Makes an error from a failed system call, classifying `errno`.
    static func system(_ operation: String, path: String, errno code: Int32) -> MailStoreError {
        let kind: Code
        switch code {
        case ENOENT, ENOTDIR: kind = .notFound
        case EACCES, EPERM, EROFS: kind = .permissionDenied
        case EEXIST, ENOTEMPTY: kind = .alreadyExists
        case ENOSPC, EDQUOT: kind = .cannotCreate
        default: kind = .io
        }
        return MailStoreError(kind, "\(operation) failed", path: path, errno: code)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

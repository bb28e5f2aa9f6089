import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A 128-bit mailbox GUID, written as 32 lowercase hex digits.
///
/// New GUIDs are made the way Dovecot's `guid_128_generate` makes them: bytes 0–3 the
/// wall clock's nanoseconds (little-endian), 4–7 Unix seconds, 8–11 the process id,
/// 12–15 the last four bytes of SHA-1(host name); the nanoseconds are bumped so that
/// one process never makes the same GUID twice.
public struct MailboxGUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes.
    public let bytes: [UInt8]

    /// Parses 32 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 32 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 {
            guard let high = Self.nibble(digits[2 * index]), let low = Self.nibble(digits[2 * index + 1]) else { return nil }
            bytes[index] = high << 4 | low
        }
        self.bytes = bytes
    }

    /// Wraps 16 bytes; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// 32 lowercase hex digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(32)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let hostHash: [UInt8] = Array(Insecure.SHA1.hash(data: Array(POSIX.hostName.utf8)).suffix(4))
    private static let last = Mutex<(seconds: Int64, nanoseconds: Int64)>((0, 0))

    /// Makes a new, unique GUID.
    public static func generate() -> MailboxGUID {
        var (seconds, nanoseconds) = POSIX.wallClock()
        last.withLock { last in
            if seconds < last.seconds || (seconds == last.seconds && nanoseconds <= last.nanoseconds) {
                seconds = last.seconds
                nanoseconds = last.nanoseconds + 1
                if nanoseconds >= 1_000_000_000 { seconds += 1; nanoseconds = 0 }
            }
            last = (seconds, nanoseconds)
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        func appendLittleEndian(_ value: UInt32) {
            bytes.append(UInt8(value & 0xff)); bytes.append(UInt8(value >> 8 & 0xff))
            bytes.append(UInt8(value >> 16 & 0xff)); bytes.append(UInt8(value >> 24))
        }
        appendLittleEndian(UInt32(truncatingIfNeeded: nanoseconds))
        appendLittleEndian(UInt32(truncatingIfNeeded: seconds))
        appendLittleEndian(UInt32(truncatingIfNeeded: getpid()))
        bytes.append(contentsOf: hostHash)
        return MailboxGUID(bytes: bytes)!
    }
}

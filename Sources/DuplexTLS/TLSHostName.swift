#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A name a development certificate can be issued for: a DNS host name or an IP address,
/// validated and in canonical form.
///
/// DNS names follow RFC 1123: 1 to 253 characters, labels of 1 to 63 letters, digits and
/// hyphens that neither start nor end with a hyphen, no trailing dot, and a last label that
/// is not all digits (so a mistyped address such as `10.0.0.256` is refused rather than
/// taken for a name). Letters are lowercased. Wildcards, underscores, brackets and IPv6
/// zone suffixes (`%eth0`) are refused. Addresses are what `inet_pton(3)` accepts, written
/// back in canonical form (`::1`, not `0:0::1`).
public struct TLSHostName: Sendable, Hashable, CustomStringConvertible {
    /// Which kind of name this is; it decides the subject alternative name's type.
    public enum Kind: String, Sendable, Hashable {
        /// A DNS host name; certified as a `dNSName`.
        case dnsName
        /// An IPv4 address; certified as a 4-byte `iPAddress`.
        case ipv4Address
        /// An IPv6 address; certified as a 16-byte `iPAddress`.
        case ipv6Address
    }

    /// The canonical text: the lowercased DNS name or the address as `inet_ntop(3)` writes it.
    public let name: String
    /// Which kind of name ``name`` is.
    public let kind: Kind
    /// The address in network byte order (4 or 16 bytes); empty for a DNS name.
    public let addressBytes: [UInt8]

    /// Validates `text` as a DNS name or an IP address.
    ///
    /// - Parameter text: The name as a person typed it, e.g. `mx1.example.com`, `10.0.0.5`, `::1`.
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/invalidHostName`` whose
    ///   message names `text` and says what is wrong with it.
    public init(_ text: String) throws {
        if let bytes = Self.address(text, family: AF_INET, size: 4) {
            self.init(name: Self.presentation(bytes, family: AF_INET), kind: .ipv4Address, addressBytes: bytes)
        } else if let bytes = Self.address(text, family: AF_INET6, size: 16) {
            self.init(name: Self.presentation(bytes, family: AF_INET6), kind: .ipv6Address, addressBytes: bytes)
        } else {
            if let problem = Self.dnsNameProblem(text) {
                throw DuplexTLSError(
                    .invalidHostName,
                    "\"\(text)\" is not a valid host name: \(problem)", host: text)
            }
            self.init(name: text.lowercased(), kind: .dnsName, addressBytes: [])
        }
    }

    private init(name: String, kind: Kind, addressBytes: [UInt8]) {
        self.name = name
        self.kind = kind
        self.addressBytes = addressBytes
    }

    public var description: String { name }

    /// Why `text` is not an RFC 1123 host name, or `nil` when it is one.
    static func dnsNameProblem(_ text: String) -> String? {
        if text.isEmpty { return "it is empty" }
        if let bad = text.unicodeScalars.first(where: { !($0.isASCII && (Self.isLabelCharacter($0) || $0 == ".")) }) {
            return "\(String(bad).debugDescription) is not allowed "
                + "(only letters, digits, '-' and '.'; write international names in punycode)"
        }
        if text.utf8.count > 253 { return "it is longer than 253 characters" }
        if text.hasSuffix(".") { return "it ends with a dot" }
        let labels = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            if label.isEmpty { return "it has an empty label (a leading dot or two dots in a row)" }
            if label.count > 63 { return "a label is longer than 63 characters" }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") {
                return "a label starts or ends with '-'"
            }
        }
        if let last = labels.last, last.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return "it is all digits and dots but not an IP address"
        }
        return nil
    }

    private static func isLabelCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "-": true
        default: false
        }
    }

    /// The address bytes of `text` in `family`, or `nil` when it is not such an address.
    private static func address(_ text: String, family: Int32, size: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: size)
        let converted = bytes.withUnsafeMutableBytes { buffer in
            text.withCString { inet_pton(family, $0, buffer.baseAddress) }
        }
        return converted == 1 ? bytes : nil
    }

    private static func presentation(_ bytes: [UInt8], family: Int32) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { buffer in
            inet_ntop(family, buffer.baseAddress, &text, socklen_t(text.count))
        }
        // inet_ntop cannot fail here: the bytes came from inet_pton and the buffer fits any address.
        precondition(written != nil, "inet_ntop failed for a parsed address")
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A validated name of a tenant, a pair, a host or a user, as the coordinator stores and routes it.
///
/// Names are what operators type and what proxies look up, so they are checked once, at the
/// edge (CLI arguments, HTTP bodies and paths, database rows read back), and carried as this
/// type afterwards.
///
/// - Tenant, pair and host names: 1–63 bytes of `a-z`, `0-9`, `-`, `_` and `.`, starting with a
///   letter or digit (they appear in URLs, metrics labels and file names).
/// - User names: 1–255 bytes of UTF-8 without control characters, spaces, `/`, `\`, `%`
///   or `*`/`?` (the last two are mask wildcards of `doveadm replicator` and Duplex's
///   replicator; `%` is a variable in Dovecot's and Duplex's mail root templates), and
///   either USER or USER@DOMAIN with one `@` and neither part empty, `.` or `..` (mail root
///   templates use the name, `%u`, and its parts, `%n` and `%d`). Dovecot itself limits user
///   names only by its own 255-byte auth limit.
public struct CoordinatorName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// What the name names: it decides the rules.
    public enum Kind: String, Sendable, CaseIterable {
        case tenant
        case pair
        /// A host of a pair, as its agent identifies itself (usually its short host name).
        case host
        case user
    }

    /// The name, exactly as given.
    public let value: String
    /// Which rules it passed.
    public let kind: Kind

    /// Checks `value` against the rules of `kind`.
    ///
    /// - Throws: ``CoordinatorNameError`` naming the kind, the name (escaped) and the rule broken.
    public init(_ value: String, kind: Kind) throws(CoordinatorNameError) {
        try Self.check(value, kind: kind)
        self.value = value
        self.kind = kind
    }

    public var description: String { value }

    public static func < (lhs: CoordinatorName, rhs: CoordinatorName) -> Bool { lhs.value < rhs.value }

    /// The longest name of each kind, in UTF-8 bytes.
    public static func maximumLength(of kind: Kind) -> Int {
        switch kind {
        case .tenant, .pair, .host: 63
        case .user: 255
        }
    }

    private static func check(_ value: String, kind: Kind) throws(CoordinatorNameError) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw CoordinatorNameError(kind: kind, name: value, reason: .empty) }
        guard bytes.count <= maximumLength(of: kind) else {
            throw CoordinatorNameError(kind: kind, name: value, reason: .tooLong(bytes.count, maximum: maximumLength(of: kind)))
        }
        switch kind {
        case .tenant, .pair, .host:
            for (offset, byte) in bytes.enumerated() {
                let isAlphanumeric = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                let isPunctuation = byte == 0x2D || byte == 0x5F || byte == 0x2E
                if offset == 0 && !isAlphanumeric {
                    throw CoordinatorNameError(kind: kind, name: value, reason: .badFirstCharacter)
                }
                if !isAlphanumeric && !isPunctuation {
                    throw CoordinatorNameError(kind: kind, name: value, reason: .forbiddenCharacter(offset: offset))
                }
            }
        case .user:
            for (offset, scalar) in zip(value.unicodeScalars.indices, value.unicodeScalars) {
                let forbidden: Bool =
                    switch scalar.value {
                    case 0..<0x21, 0x7F: true
                    case 0x80..<0xA0: true
                    case 0x2F, 0x5C, 0x25, 0x2A, 0x3F: true
                    // The rest of ASCII is printable and in none of the categories below;
                    // skipping their lookup matters, names are checked on every request.
                    case 0x21..<0x7F: false
                    default: scalar.properties.generalCategory == .lineSeparator
                        || scalar.properties.generalCategory == .paragraphSeparator
                        || scalar.properties.generalCategory == .spaceSeparator
                        || scalar.properties.generalCategory == .format
                    }
                if forbidden {
                    let byteOffset = value.utf8.distance(from: value.utf8.startIndex, to: offset)
                    throw CoordinatorNameError(kind: kind, name: value, reason: .forbiddenCharacter(offset: byteOffset))
                }
            }
            // Mail roots are made from the name (%u) or its parts around the @ (%n, %d), as
            // Dovecot makes them: none of them may be empty or a path's "." or "..".
            let parts = bytes.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
            let isDots = { (part: ArraySlice<UInt8>) in part.elementsEqual([0x2E]) || part.elementsEqual([0x2E, 0x2E]) }
            if parts.count > 2 || parts.contains(where: { $0.isEmpty || isDots($0) }) {
                throw CoordinatorNameError(kind: kind, name: value, reason: .badParts)
            }
        }
    }
}

/// A name refused by ``CoordinatorName``: which kind, which name, and why.
public struct CoordinatorNameError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Why a name was refused.
    public enum Reason: Hashable, Sendable {
        case empty
        /// Its length in UTF-8 bytes, and the limit.
        case tooLong(Int, maximum: Int)
        /// Tenant and pair names start with a letter or digit.
        case badFirstCharacter
        /// The byte offset of the first character outside the rules.
        case forbiddenCharacter(offset: Int)
        /// A user name that is `.` or `..`, or has more than one `@` or an empty, `.` or `..`
        /// part before or after its `@`.
        case badParts
    }

    public let kind: CoordinatorName.Kind
    /// The refused name (printed escaped: it may hold control characters).
    public let name: String
    public let reason: Reason

    public var description: String {
        let shown = name.unicodeScalars.count > 80
            ? String(String.UnicodeScalarView(name.unicodeScalars.prefix(80))).debugDescription + "…"
            : name.debugDescription
        switch reason {
        case .empty:
            return "\(kind.rawValue) name is empty"
        case .tooLong(let length, let maximum):
            return "\(kind.rawValue) name \(shown) is \(length) bytes long; the limit is \(maximum)"
        case .badFirstCharacter:
            return "\(kind.rawValue) name \(shown) must start with a lower-case letter or a digit"
        case .forbiddenCharacter(let offset):
            let allowed = kind == .user
                ? "no spaces, control characters, '/', '\\', '%', '*' or '?'"
                : "only a-z, 0-9, '-', '_' and '.'"
            return "\(kind.rawValue) name \(shown) has a forbidden character at byte \(offset) (\(allowed))"
        case .badParts:
            return "\(kind.rawValue) name \(shown) must be USER or USER@DOMAIN with one '@', neither part empty, '.' or '..' (mail roots are made from them)"
        }
    }
}

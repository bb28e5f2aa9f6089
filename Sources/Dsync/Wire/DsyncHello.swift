/// The first frame of a connection, sent by the side that starts the sync (the client).
///
/// Wire payload (big-endian):
///
/// | Field | Type |
/// | --- | --- |
/// | major | `UInt16` |
/// | minor | `UInt16` |
/// | sync kind | `UInt8` (0 incremental, 1 full) |
/// | user | string |
/// | capabilities | `UInt16` count, then that many strings |
///
/// A string is a `UInt16` byte count followed by that many bytes of UTF-8. Bytes after the
/// last field are ignored, so a later minor version may append fields; the first two fields
/// keep their place in every major version, so a peer can always tell a version it does
/// not speak and say so.
public struct DsyncHello: Sendable, Hashable {
    /// The protocol version the client speaks (its highest minor of that major).
    public var version: DsyncProtocolVersion
    /// Optional features the client can use, e.g. `"pipelining"`; unknown names are ignored.
    public var capabilities: [String]
    /// The user to sync, as the server's mail root template expects it (`user@domain`).
    public var user: String
    /// Whether the client asks for a full or an incremental sync.
    public var syncKind: DsyncSyncKind

    /// Makes a hello.
    ///
    /// - Parameters:
    ///   - version: the version the client speaks.
    ///   - capabilities: the features it offers, in order of preference.
    ///   - user: the user to sync.
    ///   - syncKind: full or incremental.
    public init(version: DsyncProtocolVersion, capabilities: [String], user: String, syncKind: DsyncSyncKind) {
        self.version = version
        self.capabilities = capabilities
        self.user = user
        self.syncKind = syncKind
    }
}

/// Whether a sync compares everything or starts from the saved state.
public enum DsyncSyncKind: UInt8, Sendable, Hashable, CaseIterable {
    /// A fast sync: mailboxes whose stamps did not change since the saved state are not read.
    case incremental = 0
    /// A full sync: every mailbox is read and compared.
    case full = 1
}

/// A version of the dsync wire protocol: peers with different majors cannot talk; within a
/// major, the lower minor is used.
public struct DsyncProtocolVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Incompatible changes raise it.
    public var major: UInt16
    /// Compatible additions raise it.
    public var minor: UInt16

    /// Makes a version.
    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }

    /// The version this build speaks.
    public static let current = DsyncProtocolVersion(major: 1, minor: 0)

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { "\(major).\(minor)" }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may write to a notification fifo or connect to a notification socket: its owner,
/// group and mode.
///
/// Dovecot's mail processes (IMAP, LMTP, `doveadm`) run as the mail user (`vmail`), not as
/// the agent's user, and both the fifo and the socket need write permission to be used.
/// As Dovecot's own listeners do (`replication-notify`, `replication-notify-fifo`:
/// `mode = 0600`, `user =` set by the operator), the default is mode 0600 owned by the
/// agent's user; an agent running as root is given the mail user as ``owner`` (or a shared
/// ``group`` and mode 0660). Setting an owner or group other than the agent's own needs root.
public struct NotifyPathAccess: Sendable, Equatable {
    /// The permission bits (0 to 0o777), set exactly (the umask does not apply).
    public var mode: mode_t
    /// The owner's uid; nil keeps the agent's user.
    public var owner: uid_t?
    /// The group's gid; nil keeps the agent's group.
    public var group: gid_t?

    /// Read and write for the owner only.
    public static let defaultMode: mode_t = 0o600

    public init(mode: mode_t = NotifyPathAccess.defaultMode, owner: uid_t? = nil, group: gid_t? = nil) {
        precondition(mode & ~0o777 == 0, "only permission bits")
        self.mode = mode
        self.owner = owner
        self.group = group
    }

    /// Sets the owner, group and mode of the open file `descriptor` (`path` is for messages).
    func apply(toDescriptor descriptor: CInt, path: String) throws(NotifyInputError) {
        if owner != nil || group != nil {
            guard fchown(descriptor, owner ?? uid_t.max, group ?? gid_t.max) == 0 else {
                throw .system(.cannotSetAccess, path: path, "setting the owner to \(ownerDescription)")
            }
        }
        guard fchmod(descriptor, mode) == 0 else {
            throw .system(.cannotSetAccess, path: path, "setting the mode to \(modeDescription)")
        }
    }

    /// Sets the owner, group and mode of the file at `path`, not following a symbolic link.
    func apply(toPath path: String) throws(NotifyInputError) {
        if owner != nil || group != nil {
            guard lchown(path, owner ?? uid_t.max, group ?? gid_t.max) == 0 else {
                throw .system(.cannotSetAccess, path: path, "setting the owner to \(ownerDescription)")
            }
        }
        guard chmod(path, mode) == 0 else {
            throw .system(.cannotSetAccess, path: path, "setting the mode to \(modeDescription)")
        }
    }

    /// `0600`.
    var modeDescription: String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// `uid 105, gid 110`, for messages.
    private var ownerDescription: String {
        [owner.map { "uid \($0)" }, group.map { "gid \($0)" }].compactMap { $0 }.joined(separator: ", ")
    }
}

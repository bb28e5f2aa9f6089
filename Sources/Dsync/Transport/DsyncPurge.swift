import Foundation

/// The coordinator's order to delete this host's copy of a user who has moved to another
/// pair (`duplex user purge-old`), sent over the dsync port instead of a sync.
///
/// Wire: the client's hello offers the capability ``DsyncPurge/capability``; a server that
/// serves purges agrees to it, and the connection then carries one `request` frame whose
/// JSON is this order and one `response` whose result is a ``DsyncPurgeResult`` (or the
/// error that refused it), then `goodbye`. A server that does not serve purges leaves the
/// capability out of its welcome and the client stops there, having changed nothing.
public struct DsyncPurgeOrder: Codable, Sendable, Hashable {
    /// The user whose mail root goes, as the mail root template expects it (`user@domain`);
    /// the same as the hello's user.
    public var user: String
    /// The user's immutable id in the coordinator.
    public var userID: Int64
    /// The user's epoch after the move (it increases on every move).
    public var epoch: Int64
    /// The pair whose copy goes: the serving host's pair, which the user left.
    public var pair: String
    /// The finished move that took the user off `pair`.
    public var move: Int64
    /// The pair the user lives on now.
    public var currentPair: String

    public init(user: String, userID: Int64, epoch: Int64, pair: String, move: Int64, currentPair: String) {
        self.user = user
        self.userID = userID
        self.epoch = epoch
        self.pair = pair
        self.move = move
        self.currentPair = currentPair
    }
}

/// What a host did with a ``DsyncPurgeOrder``.
public struct DsyncPurgeResult: Codable, Sendable, Hashable {
    /// Whether the user's mail root was there to delete (false when an earlier purge already
    /// deleted it: purging again changes nothing).
    public var existed: Bool
    /// The mail root's path on that host.
    public var mailRoot: String

    public init(existed: Bool, mailRoot: String) {
        self.existed = existed
        self.mailRoot = mailRoot
    }
}

/// Decides, on the host, whether a purge order may be carried out: the coordinator's own
/// record of the user, as this host knows it, must say the user is no longer on this pair.
///
/// The agent implements it with the pair's user list it pulls from the coordinator: a user
/// still on the list (by name: mail roots are named after users) keeps its mail.
public protocol DsyncPurgeAuthority: Sendable {
    /// Returns when this host may delete the order's user's mail root.
    ///
    /// - Throws: a ``DsyncError`` (usually `usage`) saying why the mail stays; the host
    ///   answers the order with it and deletes nothing.
    func confirmPurge(_ order: DsyncPurgeOrder) async throws
}

/// How a host serves purge orders: which pair it is of, which certificate identities may
/// order a purge (the coordinators', never the peer host's) and who confirms each order.
public struct DsyncPurgeService: Sendable {
    /// The serving host's pair: an order for another pair is refused.
    public var pair: String
    /// The DNS names (in the client certificate) allowed to order purges, compared without
    /// regard to case. They must also be among the dsync server's allowed peers.
    public var identities: [String]
    /// Confirms each order against the coordinator's record.
    public var authority: any DsyncPurgeAuthority

    public init(pair: String, identities: [String], authority: any DsyncPurgeAuthority) {
        self.pair = pair
        self.identities = identities
        self.authority = authority
    }

    /// Whether `identity` (a client certificate's allowed name) may order purges.
    func allows(_ identity: String) -> Bool {
        identities.contains { $0.lowercased() == identity.lowercased() }
    }
}

/// Names shared by the purge's client and server.
public enum DsyncPurge {
    /// The hello capability that makes a connection a purge order instead of a sync.
    public static let capability = "purge-user"

    /// Where a mail root is moved before it is deleted, so that an interrupted deletion never
    /// leaves a half-deleted mail root that a later sync would take for a mass expunge.
    package static func trashPath(of root: String) -> String {
        root.hasSuffix("/") ? String(root.dropLast()) + ".duplex-purging" : root + ".duplex-purging"
    }

    /// Deletes `root` holding the user's sync lock (no sync of the user runs meanwhile),
    /// first renaming it aside; also finishes an earlier purge interrupted after the rename.
    ///
    /// - Returns: whether the mail root existed.
    /// - Throws: ``DsyncError`` `lockTimeout` when a sync holds the lock past `lockTimeout`,
    ///   `io` naming the path that cannot be renamed or deleted.
    static func deleteMailRoot(_ root: String, replica: LocalReplica, lockTimeout: Duration) async throws -> Bool {
        let trash = trashPath(of: root)
        guard FileManager.default.fileExists(atPath: root) || FileManager.default.fileExists(atPath: trash) else { return false }
        return try await replica.withUserLock(timeout: lockTimeout) {
            let files = FileManager.default
            let existed = files.fileExists(atPath: root)
            do {
                if existed {
                    if files.fileExists(atPath: trash) { try files.removeItem(atPath: trash) }
                    try files.moveItem(atPath: root, toPath: trash)
                }
                if files.fileExists(atPath: trash) { try files.removeItem(atPath: trash) }
            } catch {
                throw DsyncError(.io, "cannot delete the mail root \(root): \(error.localizedDescription)")
            }
            return existed
        }
    }
}

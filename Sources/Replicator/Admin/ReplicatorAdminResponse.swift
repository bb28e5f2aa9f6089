/// The answer to one ``ReplicatorAdminRequest``, sent as a JSON object on one line:
/// `{"ok":true,…}` with the fields of the command, or `{"ok":false,"error":"…"}`.
public struct ReplicatorAdminResponse: Sendable, Equatable, Codable {
    /// Whether the request was carried out.
    public var ok: Bool
    /// Why not, when ``ok`` is false: a bad request, or the replicator's refusal
    /// (`User not found`).
    public var error: String?
    /// The replicator's clock when it answered, Unix seconds: the times in ``users`` are
    /// elapsed against it.
    public var now: Int64?
    /// `status`: the overview counters.
    public var statistics: ReplicatorStatistics?
    /// `status MASK`: the matching users, by name.
    public var users: [ReplicatorAdminUserStatus]?
    /// `dsync-status`: the running syncs, by user.
    public var syncs: [SyncSlotStatus]?
    /// `dsync-status`: how many syncs may run at once.
    public var slots: Int?
    /// `replicate`: the users updated; `add`: the users that were new.
    public var count: Int?

    public init(
        ok: Bool, error: String? = nil, now: Int64? = nil, statistics: ReplicatorStatistics? = nil,
        users: [ReplicatorAdminUserStatus]? = nil, syncs: [SyncSlotStatus]? = nil, slots: Int? = nil, count: Int? = nil
    ) {
        self.ok = ok
        self.error = error
        self.now = now
        self.statistics = statistics
        self.users = users
        self.syncs = syncs
        self.slots = slots
        self.count = count
    }

    /// A refusal or a bad request, with its reason.
    public static func failure(_ message: String) -> Self {
        Self(ok: false, error: message)
    }
}

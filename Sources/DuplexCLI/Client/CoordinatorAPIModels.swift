/// The coordinator's JSON shapes as docs/coordinator-api.md defines them, decoded for
/// the tables (`--json` prints the server's body itself). Unknown fields are ignored:
/// the API may add fields within v1.

/// A host of a pair as the API shows it.
struct APIHost: Codable, Equatable {
    var name: String
    var dsync: String
    var admin: String
    /// `up`, `down` or `unknown`; absent in request bodies.
    var health: String?
}

/// `tenant`.
struct APITenant: Codable, Equatable {
    var id: Int64
    var name: String
    var allowedPairs: [String]?
    var userQuota: Int?
    var users: Int
    var createdAt: String
}

/// `{"tenants": [tenant]}`.
struct APITenantList: Codable, Equatable {
    var tenants: [APITenant]
}

/// `pair`.
struct APIPair: Codable, Equatable {
    var id: Int64
    var name: String
    var state: String
    var capacity: Int
    var weight: Int
    var users: Int
    var hostA: APIHost
    var hostB: APIHost
    var createdAt: String
}

/// `{"pairs": [pair]}`.
struct APIPairList: Codable, Equatable {
    var pairs: [APIPair]
}

/// `report`: one host's last status report about a user.
struct APIReport: Codable, Equatable {
    var host: String
    /// `none`, `low`, `high`, `sync`; nil when not queued.
    var priority: String?
    var lastFastSync: String?
    var lastFullSync: String?
    var lastSuccessfulSync: String?
    var failed: Bool
    var held: Bool
    var lastError: String?
    var reportedAt: String
}

/// `user`, with `status` when it is one user's own answer.
struct APIUser: Codable, Equatable {
    var id: Int64
    var name: String
    var tenant: String
    /// Nil for a removed user.
    var pair: String?
    /// `a` or `b`.
    var preferredHost: String?
    var state: String
    var noreplicate: Bool
    var epoch: Int64
    var createdAt: String
    var updatedAt: String
    var status: [APIReport]?
}

/// `{"users": [user], "next": ID or null}`.
struct APIUserPage: Codable, Equatable {
    var users: [APIUser]
    var next: Int64?
}

/// `route`.
struct APIRoute: Codable, Equatable {
    var user: String
    var tenant: String
    var pair: String
    var epoch: Int64
    var host: APIHost
    var preferredHost: APIHost
    var otherHost: APIHost
}

/// `move`.
struct APIMove: Codable, Equatable {
    var id: Int64
    var user: String
    var from: String
    var to: String
    /// `created`, `copying`, `final_sync`, `finished`, `rolled_back`.
    var phase: String
    var startedAt: String
    var updatedAt: String
    var error: String?
    /// When the catch-up sync after the switch ran, for a finished move.
    var caughtUpAt: String?
    /// When the old pair's copy was purged (`duplex user purge-old`).
    var purgedAt: String?
    /// The leading coordinator's progress of the move, when this coordinator runs it.
    var progress: APIMoveProgress?

    /// Whether the move has ended (one way or the other).
    var isOver: Bool { phase == "finished" || phase == "rolled_back" }
}

/// The answer to `POST /v1/users/{user}/purge-old` (docs/coordinator-api.md).
struct APIPurge: Codable, Equatable {
    /// One host of the old pair.
    struct Host: Codable, Equatable {
        var host: String
        /// Whether the user's mail root was there to delete.
        var existed: Bool
        var mailRoot: String
    }

    var move: APIMove
    /// The pair whose copy was purged.
    var pair: String
    /// Whether an earlier purge had done it already (nothing was done this time).
    var alreadyPurged: Bool
    var hosts: [Host]
}

/// `progress` of a move (docs/coordinator-api.md).
struct APIMoveProgress: Codable, Equatable {
    var phase: String
    var round: Int
    var syncs: Int
    var messagesCopied: Int
    var bytesCopied: Int64
    var currentSync: String?
    var catchUpPending: Bool
    var lastError: String?
}

/// `{"sync", "high", "low"}`: users queued per priority.
struct APIQueued: Codable, Equatable {
    var sync: Int
    var high: Int
    var low: Int
}

/// `summary`: one pair in `GET /v1/status`.
struct APIPairSummary: Codable, Equatable {
    var pair: String
    var state: String
    var hostA: APIHost
    var hostB: APIHost
    var capacity: Int
    var users: Int
    var queued: APIQueued
    var failed: Int
    var held: Int
    /// Users whose periodic full sync is due and not started (absent from older coordinators).
    var fullResyncsDue: Int?
    var oldestSuccessfulSync: String?
}

/// One user and host whose last sync failed.
struct APIFailedUser: Codable, Equatable {
    var user: String
    var pair: String
    var host: String
    var error: String?
    var since: String?
}

/// `GET /v1/status`. The totals are recomputed from the pairs for the table, so only
/// the pairs and the failed users are read.
struct APIStatus: Codable, Equatable {
    var pairs: [APIPairSummary]
    var failedUsers: [APIFailedUser]
}

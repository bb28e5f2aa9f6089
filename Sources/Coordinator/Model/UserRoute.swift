/// Where a user's connections go now: the user's pair, its preferred and other host, and the
/// host to use (the preferred one unless it is down).
///
/// The same answer as the `duplex_user_route` SQL view gives proxies.
public struct UserRoute: Hashable, Sendable {
    public var userID: UserID
    public var user: CoordinatorName
    public var tenant: CoordinatorName
    public var pair: CoordinatorName
    public var epoch: Int64
    /// The side proxies prefer while its host is up.
    public var preferredSide: HostSide
    public var preferredHost: PairHost
    public var otherHost: PairHost

    public init(
        userID: UserID, user: CoordinatorName, tenant: CoordinatorName, pair: CoordinatorName, epoch: Int64,
        preferredSide: HostSide, preferredHost: PairHost, otherHost: PairHost
    ) {
        self.userID = userID
        self.user = user
        self.tenant = tenant
        self.pair = pair
        self.epoch = epoch
        self.preferredSide = preferredSide
        self.preferredHost = preferredHost
        self.otherHost = otherHost
    }

    /// The side to use now: the preferred side unless its host is down and the other is not.
    public var currentSide: HostSide {
        preferredHost.health == .down && otherHost.health != .down ? preferredSide.other : preferredSide
    }

    /// The host to use now.
    public var currentHost: PairHost {
        currentSide == preferredSide ? preferredHost : otherHost
    }
}

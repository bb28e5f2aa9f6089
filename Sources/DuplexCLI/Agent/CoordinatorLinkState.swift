import Foundation

/// Whether the agent reaches its coordinator, as its log shows it: a line when the state
/// changes, never one per attempt.
enum CoordinatorLinkState: Sendable, Equatable {
    /// Nothing tried yet.
    case starting
    /// The last request succeeded.
    case connected(since: Date)
    /// Requests fail since `since`; `reason` is the first failure's.
    case unreachable(since: Date, reason: String)

    /// What the agent should log about a state change.
    enum Transition: Sendable, Equatable {
        case connected
        /// Unreachable; `reason` is the failure's.
        case lost(reason: String)
        /// Reachable again after an outage that began at `since`.
        case recovered(since: Date)
    }

    /// A request succeeded at `now`; returns the transition to log, nil when already connected.
    mutating func requestSucceeded(at now: Date) -> Transition? {
        switch self {
        case .connected: return nil
        case .starting:
            self = .connected(since: now)
            return .connected
        case .unreachable(let since, _):
            self = .connected(since: now)
            return .recovered(since: since)
        }
    }

    /// A request failed at `now` with `reason`; returns the transition to log, nil when
    /// already unreachable (later failures are not logged one by one).
    mutating func requestFailed(at now: Date, reason: String) -> Transition? {
        if case .unreachable = self { return nil }
        self = .unreachable(since: now, reason: reason)
        return .lost(reason: reason)
    }
}

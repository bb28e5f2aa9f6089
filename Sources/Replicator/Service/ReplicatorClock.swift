import Foundation

/// The replicator's wall clock in Unix seconds, injected so that tests move time by hand.
public protocol ReplicatorClock: Sendable {
    /// The current time, Unix seconds.
    var now: Int64 { get }
    /// Suspends until `now` is at least `deadline` (or the task is cancelled).
    func sleep(until deadline: Int64) async throws
}

/// The system clock.
public struct SystemReplicatorClock: ReplicatorClock {
    public init() {}

    public var now: Int64 { Int64(Date().timeIntervalSince1970) }

    public func sleep(until deadline: Int64) async throws {
        let seconds = Double(deadline) - Date().timeIntervalSince1970
        if seconds > 0 { try await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
    }
}

/// The wait before the next attempt to reach the coordinator after a failure: doubling from
/// ``first`` up to ``cap``, each wait drawn between half and all of its step ("equal
/// jitter"), so that the agents of a fleet do not retry in step after the coordinator comes
/// back.
struct CoordinatorBackoff: Sendable, Equatable {
    /// The first wait's step.
    let first: Duration
    /// The largest step.
    let cap: Duration
    /// Failures since the last success.
    private(set) var failures = 0

    init(first: Duration = .seconds(1), cap: Duration = .seconds(60)) {
        self.first = first
        self.cap = max(cap, first)
    }

    /// Records a failure and returns the wait before the next attempt.
    ///
    /// - Parameter random: draws a number in `0..<1` (tests pass their own).
    mutating func failed(random: () -> Double = { Double.random(in: 0..<1) }) -> Duration {
        failures += 1
        var step = first
        for _ in 1..<min(failures, 32) where step < cap { step *= 2 }
        step = min(step, cap)
        let fraction = min(max(random(), 0), 1)
        return step / 2 + (step / 2) * fraction
    }

    /// Records a success: the next failure starts from ``first`` again.
    mutating func succeeded() {
        failures = 0
    }
}

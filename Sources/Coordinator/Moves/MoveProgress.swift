import Foundation

/// How far a running move has got, as the leading coordinator saw it: what
/// `GET /v1/moves/{id}` adds as `progress` and `duplex user move --wait` shows.
///
/// Counts add up every sync the move ran, in both directions (a copy into the new pair
/// counts once per host it reached, so a move of N messages to both new hosts counts 2N).
public struct MoveProgress: Hashable, Sendable {
    /// The phase the leader is working on.
    public var phase: MovePhase
    /// Copy rounds started (the final sync counts as one more).
    public var round: Int = 0
    /// Syncs completed.
    public var syncs: Int = 0
    /// Messages copied by those syncs.
    public var messagesCopied: Int = 0
    /// Bytes of message bodies copied by those syncs.
    public var bytesCopied: Int64 = 0
    /// The sync running now (`tls://HOST:PORT ↔ tls://HOST:PORT`), if any.
    public var currentSync: String?
    /// Whether the catch-up sync from the old pair is still to run after the switch.
    public var catchUpPending = false
    /// The last error of a step that will be tried again.
    public var lastError: String?
    /// When the leader last changed this.
    public var updatedAt: Date

    public init(phase: MovePhase, updatedAt: Date = Date()) {
        self.phase = phase
        self.updatedAt = updatedAt
    }
}

/// The progress of the moves this coordinator runs, kept in memory while it leads.
///
/// Only the leader has entries; another coordinator answers `GET /v1/moves/{id}` without
/// progress. Entries of moves that ended stay until ``forget(_:)`` (a bounded number of them).
public actor MoveProgressBoard {
    private var entries: [MoveID: MoveProgress] = [:]
    /// Moves that ended, oldest first: their entries are dropped beyond ``keptEnded``.
    private var endedOrder: [MoveID] = []
    /// Entries of ended moves kept for `--wait` clients to read their last counts.
    static let keptEnded = 256

    public init() {}

    /// The progress of move `id`, if this coordinator ran it.
    public func progress(of id: MoveID) -> MoveProgress? { entries[id] }

    /// Changes the progress of `id` (starting it at `phase` if there is none).
    func update(_ id: MoveID, phase: MovePhase, _ change: @Sendable (inout MoveProgress) -> Void = { _ in }) {
        var entry = entries[id] ?? MoveProgress(phase: phase)
        entry.phase = phase
        change(&entry)
        entry.updatedAt = Date()
        entries[id] = entry
    }

    /// Notes that move `id` ended; its entry stays readable for a while.
    func ended(_ id: MoveID) {
        guard !endedOrder.contains(id) else { return }
        endedOrder.append(id)
        while endedOrder.count > Self.keptEnded { entries[endedOrder.removeFirst()] = nil }
    }

    /// Drops the entry of `id`.
    public func forget(_ id: MoveID) {
        entries[id] = nil
        endedOrder.removeAll { $0 == id }
    }
}

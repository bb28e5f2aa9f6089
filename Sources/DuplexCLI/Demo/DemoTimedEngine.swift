import Dsync
import Replicator

/// Wraps a host's sync engine to tell the demo's recorder when each sync started and
/// ended, and what it did; the sync itself is the wrapped engine's.
struct DemoTimedEngine: SyncEngine {
    let base: any SyncEngine
    let pair: String
    let recorder: DemoRecorder

    var name: String { base.name }

    func sync(user: String, full: Bool) async -> SyncResult {
        await sync(user: user, full: full, massExpunge: .hold)
    }

    func sync(user: String, full: Bool, massExpunge: MassExpungeResolution) async -> SyncResult {
        let clock = ContinuousClock()
        let start = clock.now
        let result = await base.sync(user: user, full: full, massExpunge: massExpunge)
        let end = clock.now
        var tally: SyncTally
        switch result.outcome {
        case .success:
            tally = SyncTally(kind: .succeeded)
            tally.messages = result.messagesSent + result.messagesReceived
            tally.bytes = result.bytesSent + result.bytesReceived
            tally.uidConflicts = result.uidConflicts
            tally.nameConflicts = result.nameConflicts
        case .changedDuringSync:
            tally = SyncTally(kind: .retried)
        case .failure(let reason), .held(let reason), .noSuchUser(let reason):
            tally = SyncTally(kind: .failed(reason))
        }
        await recorder.finished(pair: pair, user: user, start: start, end: end, result: tally)
        return result
    }
}

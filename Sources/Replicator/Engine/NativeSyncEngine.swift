import Dsync
import MailStore

/// The Duplex engine: a two-way dsync of the user's local mail root with the peer agent
/// over mutual TLS (``RemoteReplica``), the state kept in the state directory. A first sync
/// creates the side that has no mail yet.
public struct NativeSyncEngine: SyncEngine {
    public var name: String { "native" }
    /// Where this host keeps a user's mail.
    public let mailRoot: MailRootTemplate
    /// How the local mail is written.
    public let store: MailStoreConfiguration
    /// The peer agent, `tls://HOST:PORT`.
    public let peer: String
    /// This host's TLS identity and whom it accepts.
    public let tls: DsyncTLSFiles
    /// Where the sync states are kept.
    public let stateDirectory: String
    /// How long to wait for each side's user lock.
    public let lockTimeout: Duration
    /// With nothing from the peer for this long the sync fails.
    public let readTimeout: Duration

    public init(
        mailRoot: MailRootTemplate, store: MailStoreConfiguration = MailStoreConfiguration(), peer: String, tls: DsyncTLSFiles,
        stateDirectory: String, lockTimeout: Duration = .seconds(30), readTimeout: Duration = .seconds(120)
    ) {
        self.mailRoot = mailRoot
        self.store = store
        self.peer = peer
        self.tls = tls
        self.stateDirectory = stateDirectory
        self.lockTimeout = lockTimeout
        self.readTimeout = readTimeout
    }

    public func sync(user: String, full: Bool) async -> SyncResult {
        await sync(user: user, full: full, massExpunge: .hold)
    }

    /// Syncs `user`; `massExpunge` is an operator's decision about a held user (`accept` or
    /// `restore`), which only the common state can carry out: it tells what vanished.
    ///
    /// A full sync reads every mailbox of both sides again but still plans against the
    /// common state (``SyncOptions/rereadAll``): what either side expunged since the last
    /// sync stays expunged. Both hosts of the pair sync the user, so each sync starts from
    /// the later of the two hosts' states (``SyncOptions/usesPairState``).
    public func sync(user: String, full: Bool, massExpunge: MassExpungeResolution) async -> SyncResult {
        do {
            let root = try mailRoot.mailRoot(for: user)
            let local = LocalReplica(store: MailStore(root: root, configuration: store), createsParents: true)
            let remote = try RemoteReplica(endpoint: peer, user: user, tls: tls, full: full, readTimeout: readTimeout, asksPairState: true)
            var options = SyncOptions(user: user)
            options.rereadAll = full
            options.usesPairState = true
            options.massExpungeResolution = massExpunge
            options.stateDirectory = stateDirectory
            options.lockTimeout = lockTimeout
            options.createMissing = true
            let report = try await SyncSession(a: local, b: remote, options: options).run()
            if report.changedDuringSync { return SyncResult(.changedDuringSync) }
            var result = SyncResult(.success(
                messages: report.appliedA.messagesCopied + report.appliedB.messagesCopied,
                bytes: report.appliedA.bytesCopied + report.appliedB.bytesCopied))
            result.messagesSent = report.appliedB.messagesCopied
            result.bytesSent = report.appliedB.bytesCopied
            result.messagesReceived = report.appliedA.messagesCopied
            result.bytesReceived = report.appliedA.bytesCopied
            result.uidConflicts = report.uidConflicts
            result.nameConflicts = report.nameConflicts
            return result
        } catch let error as DsyncError {
            return SyncResult(Self.outcome(of: error))
        } catch {
            return SyncResult(.failure("\(error)"))
        }
    }

    /// The queue's view of a sync error.
    static func outcome(of error: DsyncError) -> SyncOutcome {
        switch error.code {
        case .changedDuringSync: .changedDuringSync
        case .massLoss: .held(error.message)
        case .noSuchUser: .noSuchUser(error.message)
        default: .failure("\(error.code.rawValue): \(error.message)")
        }
    }
}

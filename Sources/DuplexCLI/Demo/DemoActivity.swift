import Dsync
import Foundation
import Logging
import MailStore
import Replicator

/// Live activity on both hosts of every pair at once, as IMAP and LMTP would make it:
/// deliveries, flag and keyword changes, expunges, mailboxes created, renamed and deleted,
/// and, once per pair, a UID clash. Each change is written with MailStore into the host's
/// Maildirs and then reported to that host's replicator as Dovecot's replication plugin
/// reports it (`high` for new mail and expunges, `low` for flags and mailboxes).
///
/// Each host only renames and deletes mailboxes it created itself, so the activity never
/// asks two hosts to rename one mailbox two ways; everything else (flags on a message the
/// other host expunges, deliveries to the same mailbox) meets freely, as in real life.
struct DemoActivity: Sendable {
    let fleet: DemoFleet
    let replicators: [String: Replicator]
    let recorder: DemoRecorder
    let factory: DemoMessageFactory
    let seed: UInt64
    let configuration: MailStoreConfiguration
    let logger: Logger

    /// What the rounds did, for the summary.
    struct Tally: Sendable, Codable {
        var rounds = 0
        var deliveries = 0
        var flagChanges = 0
        var expunges = 0
        var mailboxesCreated = 0
        var mailboxesRenamed = 0
        var mailboxesDeleted = 0
        var uidClashes = 0
        /// Changes that could not be made (a message expunged meanwhile by a sync, a lock):
        /// logged, not fatal.
        var skipped = 0

        mutating func add(_ other: Tally) {
            deliveries += other.deliveries
            flagChanges += other.flagChanges
            expunges += other.expunges
            mailboxesCreated += other.mailboxesCreated
            mailboxesRenamed += other.mailboxesRenamed
            mailboxesDeleted += other.mailboxesDeleted
            uidClashes += other.uidClashes
            skipped += other.skipped
        }
    }

    /// Runs round `round` of `rounds` on every host at once.
    func round(_ round: Int, of rounds: Int) async -> Tally {
        await withTaskGroup(of: Tally.self) { group in
            for pair in fleet.pairs {
                for host in pair.hosts {
                    group.addTask { await self.round(round, on: host, pair: pair) }
                }
                // In the second round (the first when there is one), once the first
                // changes are on both hosts.
                if round == min(2, rounds), let user = pair.users.first {
                    group.addTask { await self.uidClash(user: user, pair: pair) }
                }
            }
            var total = Tally()
            for await tally in group { total.add(tally) }
            return total
        }
    }

    /// One host's changes in one round: a few changes per user.
    private func round(_ round: Int, on host: DemoHost, pair: DemoPair) async -> Tally {
        var tally = Tally()
        let side = host.name == pair.a.name ? "a" : "b"
        // Each host goes through the users in its own order, as mail arrives at random.
        var order = DemoRandom(seed: seed, stream: "order/\(round)/\(host.name)")
        for user in pair.users.shuffled(using: &order) {
            var random = DemoRandom(seed: seed, stream: "activity/\(round)/\(host.name)/\(user)")
            guard let root = try? host.mailRoot(for: user) else { continue }
            let store = MailStore(root: root, configuration: configuration)
            let changes: [(kind: Int, priority: ReplicationPriority)] = [(0, .high), (1, .low), (2, .high), (3, .low)]
            for (kind, priority) in changes where random.chance(0.7) {
                do {
                    switch kind {
                    case 0: try deliver(to: store, user: user, round: round, using: &random, tally: &tally)
                    case 1: try changeFlags(in: store, using: &random, tally: &tally)
                    case 2: try expunge(in: store, using: &random, tally: &tally)
                    default: try changeMailboxes(in: store, side: side, round: round, using: &random, tally: &tally)
                    }
                } catch {
                    tally.skipped += 1
                    logger.info("demo change skipped", metadata: ["host": "\(host.name)", "user": "\(user)", "error": "\(error)"])
                    continue
                }
                await recorder.changed(user, at: .now)
                await replicators[host.name]?.notify(user, priority: priority)
            }
        }
        return tally
    }

    private func deliver(to store: MailStore, user: String, round: Int, using random: inout DemoRandom, tally: inout Tally) throws {
        let mailbox = random.chance(0.8) ? "INBOX" : "Archive/2025"
        for _ in 0..<Int.random(in: 1...2, using: &random) {
            let message = factory.make(user: user, mailbox: mailbox, index: 1_000_000 + round * 1000 + tally.deliveries, using: &random)
            try store.saveMessage(in: try store.mailboxName(mailbox), bytes: message.bytes, options: SaveOptions(receivedDate: message.date))
            tally.deliveries += 1
        }
    }

    private func changeFlags(in store: MailStore, using random: inout DemoRandom, tally: inout Tally) throws {
        let mailbox = try store.mailboxName(random.pick(["INBOX", "INBOX", "Archive/2024", "Sent", "Projekte/Übersicht"]))
        let messages = try store.listMessages(in: mailbox)
        guard !messages.isEmpty else { return }
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let message = random.pick(messages)
            let keyword = random.pick(DemoMailboxes.keywords)
            let (action, flags): (FlagUpdateAction, MessageFlags) =
                switch Int.random(in: 0..<4, using: &random) {
                case 0: (.add, MessageFlags(system: [.seen]))
                case 1: (.remove, MessageFlags(system: [.seen]))
                case 2: (.add, MessageFlags(system: [.flagged], keywords: [keyword]))
                default: (.remove, MessageFlags(system: [.flagged], keywords: [keyword]))
                }
            _ = try store.updateFlags(in: mailbox, uids: [message.uid], action, flags)
            tally.flagChanges += 1
        }
    }

    private func expunge(in store: MailStore, using random: inout DemoRandom, tally: inout Tally) throws {
        let mailbox = try store.mailboxName(random.pick(["INBOX", "Trash", "Junk"]))
        let messages = try store.listMessages(in: mailbox)
        guard !messages.isEmpty else { return }
        tally.expunges += try store.expunge(in: mailbox, uids: [random.pick(messages).uid]).count
    }

    /// Creates a mailbox under `Projekte/` with a message in it, or renames or deletes one
    /// this host created in an earlier round.
    private func changeMailboxes(in store: MailStore, side: String, round: Int, using random: inout DemoRandom, tally: inout Tally) throws {
        let own = try store.listMailboxes().map { store.displayName($0.name) }.filter {
            $0.hasPrefix("Projekte/\(side)-") || $0.hasPrefix("Projekte/Erledigt/\(side)-")
        }
        let movable = own.filter { $0.hasPrefix("Projekte/\(side)-") }
        if own.isEmpty || random.chance(0.5) {
            let name = try store.mailboxName("Projekte/\(side)-\(round)-\(random.next() % 1000)")
            guard try !store.mailboxExists(name) else { return }
            _ = try store.createMailbox(name)
            try store.subscribe(name)
            let message = factory.make(user: "demo@\(factory.domain)", mailbox: "INBOX", index: 2_000_000 + round, using: &random)
            try store.saveMessage(in: name, bytes: message.bytes, options: SaveOptions(flags: MessageFlags(system: [.seen])))
            tally.mailboxesCreated += 1
        } else if !movable.isEmpty && random.chance(0.6) {
            let old = random.pick(movable)
            let new = "Projekte/Erledigt/" + old.dropFirst("Projekte/".count)
            guard try !store.mailboxExists(try store.mailboxName(new)) else { return }
            try store.renameMailbox(try store.mailboxName(old), to: try store.mailboxName(new))
            tally.mailboxesRenamed += 1
        } else {
            let name = try store.mailboxName(random.pick(own))
            try? store.unsubscribe(name)
            _ = try store.deleteMailbox(name)
            tally.mailboxesDeleted += 1
        }
    }

    /// Delivers a different message into `user`'s INBOX on both hosts of the pair while no
    /// sync can run for the user (both user locks held), so that both hosts give the same
    /// next UID to different messages: the next sync keeps both under fresh UIDs.
    private func uidClash(user: String, pair: DemoPair) async -> Tally {
        var tally = Tally()
        do {
            let storeA = MailStore(root: try pair.a.mailRoot(for: user), configuration: configuration)
            let storeB = MailStore(root: try pair.b.mailRoot(for: user), configuration: configuration)
            var random = DemoRandom(seed: seed, stream: "clash/\(user)")
            let messageA = factory.make(user: user, mailbox: "INBOX", index: 3_000_001, using: &random)
            let messageB = factory.make(user: user, mailbox: "INBOX", index: 3_000_002, using: &random)
            let inbox = try storeA.mailboxName("INBOX")
            // Both locks or neither: a sync holding B's lock waits for A's, so B is only
            // tried briefly and both are let go and taken again when it is busy.
            for _ in 0..<200 {
                let saved: (UInt32, UInt32)? = try await LocalReplica(store: storeA).withUserLock(timeout: .seconds(30)) {
                    do {
                        return try await LocalReplica(store: storeB).withUserLock(timeout: .milliseconds(200)) {
                            // The same UID on both: the higher of the two next UIDs.
                            let uid = max(try storeA.status(of: inbox).uidNext, try storeB.status(of: inbox).uidNext)
                            let uidA = try storeA.saveMessage(in: inbox, bytes: messageA.bytes, options: SaveOptions(uid: uid)).uid
                            let uidB = try storeB.saveMessage(in: inbox, bytes: messageB.bytes, options: SaveOptions(uid: uid)).uid
                            return (uidA, uidB)
                        }
                    } catch let error as DsyncError where error.code == .lockTimeout {
                        return nil
                    }
                }
                if let (uidA, uidB) = saved {
                    logger.info(
                        "UID clash made", metadata: ["user": "\(user)", "uid_a": "\(uidA)", "uid_b": "\(uidB)"])
                    tally.uidClashes += uidA == uidB ? 1 : 0
                    tally.deliveries += 2
                    await recorder.changed(user, at: .now)
                    await replicators[pair.a.name]?.notify(user, priority: .high)
                    await replicators[pair.b.name]?.notify(user, priority: .high)
                    return tally
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...120)))
            }
            logger.warning("no UID clash made: the user's locks stayed busy", metadata: ["user": "\(user)"])
        } catch {
            logger.warning("no UID clash made", metadata: ["user": "\(user)", "error": "\(error)"])
        }
        tally.skipped += 1
        return tally
    }
}

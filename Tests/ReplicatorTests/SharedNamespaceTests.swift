import Testing

@testable import Replicator

/// Shared mailboxes are synced as their owner's: a change another user makes in one queues
/// (and so locks) the owner, never the user who made it.
@Suite struct SharedNamespaceTests {
    let t0: Int64 = 1_800_000_000

    // MARK: The prefix template

    @Test(arguments: [
        ("shared/$user/", "shared/alice@example.com/Projects", "bob@example.com", "alice@example.com"),
        ("shared/$user/", "shared/alice@example.com/Projects/2025", "bob@example.com", "alice@example.com"),
        ("shared/$user/", "shared/alice@example.com", "bob@example.com", "alice@example.com"),
        ("shared/%%u/", "shared/alice@example.com/INBOX", "bob@example.com", "alice@example.com"),
        ("shared.%u.", "shared.alice.INBOX", "bob", "alice"),
        ("Shared/$username/", "Shared/alice/INBOX", "bob@example.com", "alice@example.com"),
        ("Shared/%n/", "Shared/alice/INBOX", "bob", "alice"),
        ("shared/$domain/$username/", "shared/example.org/alice/Sent", "bob@example.com", "alice@example.org"),
    ] as [(String, String, String, String?)])
    func aMailboxInTheSharedNamespace_namesItsOwner(prefix: String, mailbox: String, user: String, owner: String?) throws {
        let namespace = try SharedNamespace(prefix: prefix)
        #expect(namespace.owner(ofMailbox: mailbox, changedBy: user) == owner)
    }

    @Test(arguments: ["INBOX", "Projects/shared/alice/x", "shared", "sharedalice/INBOX", "Shared/alice/INBOX", ""])
    func aMailboxOutsideTheSharedNamespace_hasNoOtherOwner(mailbox: String) throws {
        #expect(SharedNamespace.dovecotDefault.owner(ofMailbox: mailbox, changedBy: "bob@example.com") == nil)
    }

    @Test(arguments: [
        ("shared/", "names no owner"),
        ("shared/$domain/", "names no owner"),
        ("shared/$user", "must end with the namespace separator"),
        ("$user", "must end with the namespace separator"),
        ("shared/$username$domain/", "two variables side by side"),
        ("shared/%x/", "unknown variable at \"%x/\""),
        ("shared/$owner/", "unknown variable"),
    ])
    func aBadPrefix_isRefused_sayingWhy(prefix: String, reason: String) {
        #expect {
            try SharedNamespace(prefix: prefix)
        } throws: { error in
            let description = "\(error)"
            return description.contains(reason) && description.contains(String(reflecting: prefix))
        }
    }

    // MARK: The queue

    func queue() -> UserQueue {
        UserQueue(settings: ReplicatorSettings())
    }

    @Test func aChangeByBobInAlicesSharedMailbox_queuesAlice_notBob() {
        var q = queue()
        for name in ["alice@example.com", "bob@example.com"] { q.notify(name, priority: .low, now: t0 - 10) }
        #expect(Set(q.start(now: t0 - 10).map(\.user)) == ["alice@example.com", "bob@example.com"])
        for name in ["alice@example.com", "bob@example.com"] { q.finished(name, .success(), now: t0 - 5) }

        let queued = q.notify("bob@example.com", mailbox: "shared/alice@example.com/Projects", priority: .low, now: t0)
        #expect(queued == "alice@example.com")
        #expect(q.user("alice@example.com")?.priority == .low)
        #expect(q.user("bob@example.com")?.priority == ReplicationPriority.none)
        #expect(q.start(now: t0).map(\.user) == ["alice@example.com"])

        // Bob's own mailboxes stay bob's.
        #expect(q.notify("bob@example.com", mailbox: "INBOX", priority: .high, now: t0 + 1) == "bob@example.com")
        // An owner part that names nobody leaves the change with who made it.
        #expect(q.syncedUser(forChangeBy: "bob@example.com", in: "shared//x") == "bob@example.com")
        // Without a shared namespace, every mailbox is the changing user's.
        var settings = ReplicatorSettings()
        settings.sharedNamespace = nil
        #expect(UserQueue(settings: settings).syncedUser(forChangeBy: "bob@example.com", in: "shared/alice/x") == "bob@example.com")
    }

    @Test func changesInAlicesSharedMailboxWhileHerSyncRuns_makeExactlyOneMoreSyncOfAlice() {
        var q = queue()
        q.notify("alice@example.com", priority: .low, now: t0)
        #expect(q.start(now: t0).map(\.user) == ["alice@example.com"])
        // Bob, then carol, change alice's shared mailbox while her sync runs.
        q.notify("bob@example.com", mailbox: "shared/alice@example.com/Projects", priority: .high, now: t0 + 1)
        q.notify("carol@example.com", mailbox: "shared/alice@example.com/Projects", priority: .low, now: t0 + 2)
        #expect(q.start(now: t0 + 2).isEmpty, "never two syncs of alice at once, and no sync of bob or carol")
        #expect(q.user("bob@example.com") == nil && q.user("carol@example.com") == nil)
        q.finished("alice@example.com", .success(), now: t0 + 3)
        #expect(q.start(now: t0 + 3).map(\.user) == ["alice@example.com"], "exactly one more")
        q.finished("alice@example.com", .success(), now: t0 + 4)
        #expect(q.start(now: t0 + 5).isEmpty)
    }

    // MARK: The replicator

    @Test func theReplicator_syncsTheOwnerOnce_forChangesFromOtherUsersDuringHerSync() async throws {
        let clock = ManualClock(now: t0)
        let engine = ScriptedEngine()
        let replicator = Replicator(queue: queue(), engine: engine, clock: clock, logger: silent)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await replicator.run() }
            let first = await replicator.notify("bob@example.com", mailbox: "shared/alice@example.com/Projects", priority: .high)
            #expect(first == "alice@example.com")
            await eventually("alice's first sync") { engine.started.count == 1 }
            #expect(engine.started == ["alice@example.com full"], "the owner syncs (a first sync is a full one), not bob")

            // More changes in her shared mailbox while it runs, by bob and by dave.
            await replicator.notify("bob@example.com", mailbox: "shared/alice@example.com/Projects", priority: .low)
            await replicator.notify("dave@example.com", mailbox: "shared/alice@example.com/Projects/Q3", priority: .high)
            clock.advance(by: 1)
            #expect(await startsAfterAPass(replicator, engine, barrier: "zed@example.com") == 2, "never two syncs of alice at once")
            await eventually("only alice's sync runs") { await replicator.syncStatus().map(\.username) == ["alice@example.com"] }

            let alices = { engine.started.filter { $0.hasPrefix("alice@") } }
            await eventually("first sync ended") { engine.end("alice@example.com") }
            await eventually("exactly one more sync of alice") { alices().count == 2 }
            #expect(alices().last == "alice@example.com")
            await eventually("second sync ended") { engine.end("alice@example.com") }
            clock.advance(by: 1)
            #expect(await startsAfterAPass(replicator, engine, barrier: "yan@example.com") == 4, "no sync of alice after the second")
            #expect(alices() == ["alice@example.com full", "alice@example.com"])
            #expect(await replicator.queue.user("bob@example.com") == nil, "bob was never queued")
            #expect(await replicator.queue.user("dave@example.com") == nil)
            await replicator.stop()
        }
    }

    // MARK: Dovecot 2.4 events

    @Test func anExpungeByBobInAlicesSharedMailbox_queuesAlice_throughTheEventEndpoint() async throws {
        let fixture = EventEndpointFixture()
        let body = #"""
            {"event":"mail_expunged","hostname":"mail1.example.com","categories":["mailbox"],"fields":{"user":"bob@example.com","mailbox":"shared/alice@example.com/Projects","uid":12}}
            """#
        let response = try await fixture.post(body)
        #expect(response.status == .ok)
        #expect(await fixture.priority("alice@example.com") == .low)
        #expect(await fixture.priority("bob@example.com") == nil)
        #expect(await fixture.queuedUsers == 1)
    }

    @Test(arguments: [
        (#""mailbox":"shared//Projects""#, "its owner is empty", "invalidUser"),
        (#""mailbox":7"#, "\"fields.mailbox\" must be a string", "wrongType"),
    ])
    func anEventWhoseSharedMailboxNamesNoUsableOwner_isRefused_andQueuesNothing(field: String, message: String, code: String) async throws {
        let fixture = EventEndpointFixture()
        let good = #"{"event":"mail_expunged","fields":{"user":"carol@example.com","mailbox":"INBOX"}}"#
        let bad = #"{"event":"mail_expunged","fields":{"user":"bob@example.com",\#(field)}}"#
        let response = try await fixture.post("[\(good),\(bad)]")
        #expect(response.status == .badRequest)
        let refusal = try response.decoded(as: DovecotEventEndpoint.Refusal.self)
        #expect(refusal.error.code == code && refusal.error.event == 2 && refusal.error.field == "fields.mailbox")
        #expect(refusal.error.message.contains(message), "\(refusal.error.message)")
        #expect(await fixture.queuedUsers == 0, "nothing queued, not even the good event")
    }
}

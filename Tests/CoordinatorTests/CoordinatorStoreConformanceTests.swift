import Coordinator
import Foundation
import Testing

/// One behaviour, two stores: every scenario runs on PostgreSQL and on SQLite.
@Suite struct CoordinatorStoreConformanceTests {
    let example = name("example", .tenant)
    let other = name("other", .tenant)

    @Test(arguments: StoreDriver.allCases)
    func migrate_isIdempotent(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let first = try await store.migrate()
            let second = try await store.migrate()
            #expect(first == 5 && second == 5)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func tenants_addListShowUpdate(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            let added = try await store.addTenant(example, allowedPairs: [name("p1", .pair)], userQuota: 5)
            #expect(added.allowedPairs == [name("p1", .pair)])
            #expect(added.userQuota == 5)
            _ = try await store.addTenant(other, allowedPairs: nil, userQuota: nil)
            #expect(try await store.listTenants().map(\.name) == [example, other])
            #expect(try await store.tenant(example) == added)

            let lifted = try await store.updateTenant(example, TenantUpdate(allowedPairs: .some(nil), userQuota: .some(nil)))
            #expect(lifted.allowedPairs == nil)
            #expect(lifted.userQuota == nil)
            #expect(lifted.id == added.id)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func tenants_badInput_refusedAndNothingChanged(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            await expectStoreError(.conflict) { try await store.addTenant(example, allowedPairs: nil, userQuota: nil) }
            let unknownPair = await expectStoreError(.notFound) {
                try await store.addTenant(other, allowedPairs: [name("nope", .pair)], userQuota: nil)
            }
            #expect(unknownPair?.context.pair == "nope")
            #expect(unknownPair?.description.contains("nope") == true)
            await expectStoreError(.invalid) { try await store.addTenant(other, allowedPairs: nil, userQuota: -1) }
            await expectStoreError(.notFound) { try await store.tenant(other) }
            await expectStoreError(.notFound) { try await store.updateTenant(other, TenantUpdate(userQuota: 3)) }
            await expectStoreError(.notFound) {
                try await store.updateTenant(example, TenantUpdate(allowedPairs: [name("nope", .pair)], userQuota: 3))
            }
            let unchanged = try await store.tenant(example)
            #expect(unchanged.allowedPairs == nil && unchanged.userQuota == nil)
            #expect(try await store.listTenants().count == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func pairs_addListGetUpdateHealthRemove(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let added = try await store.addPair(try pairSpecification("p1", capacity: 100, weight: 3))
            #expect(added.hostA.name == name("p1-a", .host))
            #expect(added.hostB.dsyncEndpoint.description == "tls://p1-b.example.net:7445")
            #expect(added.hostA.health == .unknown)
            #expect(added.capacity == 100 && added.weight == 3 && added.userCount == 0 && added.state == .active)
            _ = try await store.addPair(try pairSpecification("p0", capacity: 1))
            #expect(try await store.listPairs().map(\.name.value) == ["p0", "p1"])
            #expect(try await store.pair(name("p1", .pair)) == added)

            let drained = try await store.updatePair(name("p1", .pair), PairUpdate(state: .draining, capacity: 50))
            #expect(drained.state == .draining && drained.capacity == 50 && drained.weight == 3)
            let down = try await store.setHostHealth(pair: name("p1", .pair), side: .b, health: .down)
            #expect(down.hostB.health == .down && down.hostA.health == .unknown)

            try await store.removePair(added.id)
            await expectStoreError(.notFound) { try await store.pair(name("p1", .pair)) }
            await expectStoreError(.notFound) { try await store.removePair(added.id) }
            // The name is free again and the new pair has a new id.
            let again = try await store.addPair(try pairSpecification("p1", capacity: 1))
            #expect(again.id != added.id)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func pairs_badInput_refusedAndNothingChanged(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            await expectStoreError(.conflict) { try await store.addPair(try pairSpecification("p1", capacity: 10)) }
            var reusedHost = try pairSpecification("p2", capacity: 10)
            reusedHost.hostB.name = name("p1-a", .host)
            let reused = await expectStoreError(.conflict) { try await store.addPair(reusedHost) }
            #expect(reused?.context.host == "p1-a")
            var sameHosts = try pairSpecification("p2", capacity: 10)
            sameHosts.hostB.name = sameHosts.hostA.name
            await expectStoreError(.conflict) { try await store.addPair(sameHosts) }
            var plainDsync = try pairSpecification("p2", capacity: 10)
            plainDsync.hostA.dsyncEndpoint = try ServiceEndpoint("http://x:1", allowed: [.http])
            await expectStoreError(.invalid) { try await store.addPair(plainDsync) }
            await expectStoreError(.invalid) { try await store.addPair(try pairSpecification("p2", capacity: -1)) }
            await expectStoreError(.invalid) { try await store.addPair(try pairSpecification("p2", capacity: 1, weight: 0)) }
            await expectStoreError(.invalid) { try await store.updatePair(name("p1", .pair), PairUpdate(weight: 1001)) }
            await expectStoreError(.notFound) { try await store.updatePair(name("p9", .pair), PairUpdate(capacity: 1)) }
            await expectStoreError(.notFound) { try await store.setHostHealth(pair: name("p9", .pair), side: .a, health: .up) }
            #expect(try await store.listPairs().map(\.name.value) == ["p1"])
            #expect(try await store.pair(name("p1", .pair)).weight == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func assign_isIdempotentAndStable(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addPair(try pairSpecification("p2", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let alice = name("alice@example.com", .user)
            let first = try await store.assign(user: alice, tenant: example)
            #expect(first.isNew)
            #expect(first.user.preferredHost == HostSide.preferred(for: alice))
            #expect(first.user.state == .active && first.user.epoch == 1 && !first.user.noreplicate)
            let second = try await store.assign(user: alice, tenant: example)
            #expect(!second.isNew)
            #expect(second.user == first.user)
            #expect(try await store.user(alice) == first.user)
            #expect(try await store.user(id: first.user.id) == first.user)
            let pairs = try await store.listPairs()
            #expect(pairs.map(\.userCount).reduce(0, +) == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func assign_spreadsByLoadRelativeToCapacityTimesWeight(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("small", capacity: 100, weight: 1))
            _ = try await store.addPair(try pairSpecification("big", capacity: 100, weight: 3))
            _ = try await store.addPair(try pairSpecification("off", capacity: 100, state: .draining))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            for index in 0..<40 {
                _ = try await store.assign(user: name("u\(index)", .user), tenant: example)
            }
            let counts = Dictionary(uniqueKeysWithValues: try await store.listPairs().map { ($0.name.value, $0.userCount) })
            // Loads are compared in steps of 1/1000 of capacity × weight: within one user of 10/30.
            #expect((9...11).contains(counts["small"] ?? 0))
            #expect(counts["small", default: 0] + counts["big", default: 0] == 40)
            #expect(counts["off"] == 0)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func assign_refusals_changeNothing(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 2))
            _ = try await store.addPair(try pairSpecification("p2", capacity: 5))
            _ = try await store.addTenant(example, allowedPairs: [name("p1", .pair)], userQuota: nil)
            _ = try await store.addTenant(other, allowedPairs: nil, userQuota: 1)
            _ = try await store.assign(user: name("a1", .user), tenant: example)
            _ = try await store.assign(user: name("a2", .user), tenant: example)
            // The shard group is full although p2 has room.
            let full = await expectStoreError(.capacityExhausted) {
                try await store.assign(user: name("a3", .user), tenant: example)
            }
            #expect(full?.context.user == "a3" && full?.context.tenant == "example")
            _ = try await store.assign(user: name("o1", .user), tenant: other)
            await expectStoreError(.quotaExceeded) { try await store.assign(user: name("o2", .user), tenant: other) }
            await expectStoreError(.conflict) { try await store.assign(user: name("a1", .user), tenant: other) }
            await expectStoreError(.notFound) { try await store.assign(user: name("x", .user), tenant: name("nope", .tenant)) }
            for missing in ["a3", "o2", "x"] {
                await expectStoreError(.notFound) { try await store.user(name(missing, .user)) }
            }
            let counts = try await store.listPairs().map(\.userCount)
            #expect(counts == [2, 1])
            #expect(try await store.tenant(other).userCount == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func removedName_reassigned_getsNewID_andOldIDNeverTouchesIt(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let bob = name("bob", .user)
            let old = try await store.assign(user: bob, tenant: example).user
            let removed = try await store.removeUser(old.id)
            #expect(removed.state == .removed && removed.id == old.id)
            await expectStoreError(.notFound) { try await store.user(bob) }
            await expectStoreError(.notFound) { try await store.route(user: bob) }

            let new = try await store.assign(user: bob, tenant: example)
            #expect(new.isNew && new.user.id != old.id)
            await expectStoreError(.notFound) { try await store.removeUser(old.id) }
            await expectStoreError(.notFound) { try await store.setNoreplicate(old.id, true) }
            #expect(try await store.user(bob) == new.user)
            #expect(try await store.user(id: old.id).state == .removed)
            #expect(try await store.pair(name("p1", .pair)).userCount == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func listUsers_byTenantPairMask_paged(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 100))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            _ = try await store.addTenant(other, allowedPairs: nil, userQuota: nil)
            for index in 0..<7 { _ = try await store.assign(user: name("user\(index)@example.com", .user), tenant: example) }
            _ = try await store.assign(user: name("a_b@other.org", .user), tenant: other)
            _ = try await store.assign(user: name("axb@other.org", .user), tenant: other)
            let gone = try await store.assign(user: name("gone@other.org", .user), tenant: other)
            _ = try await store.removeUser(gone.user.id)

            var seen: [String] = []
            var query = UserQuery(tenant: example, limit: 3)
            while true {
                let page = try await store.listUsers(query)
                seen += page.users.map(\.name.value)
                guard let next = page.next else { break }
                query.after = next
            }
            #expect(seen == (0..<7).map { "user\($0)@example.com" })
            #expect(try await store.listUsers(UserQuery(pair: name("p1", .pair))).users.count == 9)
            #expect(try await store.listUsers(UserQuery(includeRemoved: true)).users.count == 10)
            // `_` is literal in a mask; only `*` and `?` are wildcards.
            #expect(try await store.listUsers(UserQuery(mask: "a_b@*")).users.map(\.name.value) == ["a_b@other.org"])
            #expect(try await store.listUsers(UserQuery(mask: "a?b@*")).users.count == 2)
            #expect(try await store.listUsers(UserQuery(mask: "USER*")).users.isEmpty)
            await expectStoreError(.notFound) { try await store.listUsers(UserQuery(tenant: name("nope", .tenant))) }
            await expectStoreError(.notFound) { try await store.listUsers(UserQuery(pair: name("nope", .pair))) }
            await expectStoreError(.invalid) { try await store.listUsers(UserQuery(limit: 0)) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func route_followsHostHealth(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("carol", .user), tenant: example).user
            let preferred = user.preferredHost
            var route = try await store.route(user: name("carol", .user))
            #expect(route.pair == name("p1", .pair) && route.tenant == example && route.userID == user.id)
            #expect(route.preferredSide == preferred)
            #expect(route.preferredHost.name.value == "p1-\(preferred.rawValue)")
            #expect(route.otherHost.name.value == "p1-\(preferred.other.rawValue)")
            #expect(route.currentSide == preferred)

            _ = try await store.setHostHealth(pair: name("p1", .pair), side: preferred, health: .down)
            route = try await store.route(user: name("carol", .user))
            #expect(route.preferredHost.health == .down)
            #expect(route.currentSide == preferred.other)
            #expect(route.currentHost.name.value == "p1-\(preferred.other.rawValue)")

            _ = try await store.setHostHealth(pair: name("p1", .pair), side: preferred.other, health: .down)
            #expect(try await store.route(user: name("carol", .user)).currentSide == preferred)
            await expectStoreError(.notFound) { try await store.route(user: name("nobody", .user)) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func userChanges_incrementalIncludingRemovals(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let p1 = name("p1", .pair)
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let a = try await store.assign(user: name("a", .user), tenant: example).user
            let b = try await store.assign(user: name("b", .user), tenant: example).user
            let c = try await store.assign(user: name("c", .user), tenant: example).user

            let firstPage = try await store.userChanges(pair: p1, since: 0, limit: 2)
            #expect(firstPage.changes.map(\.userID) == [a.id, b.id])
            #expect(firstPage.hasMore)
            let secondPage = try await store.userChanges(pair: p1, since: firstPage.version, limit: 2)
            #expect(secondPage.changes.map(\.userID) == [c.id] && !secondPage.hasMore)
            #expect(secondPage.changes.first?.kind == .present(c))

            _ = try await store.removeUser(b.id)
            _ = try await store.setNoreplicate(a.id, true)
            let later = try await store.userChanges(pair: p1, since: secondPage.version, limit: 100)
            #expect(later.changes.map(\.userID) == [b.id, a.id])
            #expect(later.changes[0].kind == .gone)
            guard case .present(let changedA) = later.changes[1].kind else {
                Issue.record("a should be present")
                return
            }
            #expect(changedA.noreplicate)
            let none = try await store.userChanges(pair: p1, since: later.version, limit: 100)
            #expect(none.changes.isEmpty && none.version == later.version && !none.hasMore)
            await expectStoreError(.notFound) { try await store.userChanges(pair: name("nope", .pair), since: 0, limit: 1) }
            await expectStoreError(.invalid) { try await store.userChanges(pair: p1, since: -1, limit: 1) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func agents_registerHeartbeatList(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let p1 = name("p1", .pair)
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            let agent = try await store.registerAgent(host: name("p1-b", .host), pair: p1, version: "0.6.0")
            #expect(agent.side == .b && agent.pair == p1 && agent.version == "0.6.0")
            let again = try await store.registerAgent(host: name("p1-b", .host), pair: p1, version: "0.6.1")
            #expect(again.version == "0.6.1" && again.registeredAt == agent.registeredAt)
            let beat = try await store.heartbeat(host: name("p1-b", .host))
            #expect(beat.lastHeartbeat >= again.lastHeartbeat)
            #expect(try await store.listAgents().map(\.host.value) == ["p1-b"])

            await expectStoreError(.invalid) { try await store.registerAgent(host: name("stranger", .host), pair: p1, version: "1") }
            await expectStoreError(.invalid) {
                try await store.registerAgent(host: name("p1-a", .host), pair: p1, version: String(repeating: "9", count: 65))
            }
            await expectStoreError(.notFound) { try await store.registerAgent(host: name("p1-a", .host), pair: name("p9", .pair), version: "1") }
            await expectStoreError(.notFound) { try await store.heartbeat(host: name("p1-a", .host)) }
            #expect(try await store.listAgents().count == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func status_batchesAndFleetSummary(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let p1 = name("p1", .pair)
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addPair(try pairSpecification("p2", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: [p1], userQuota: nil)
            _ = try await store.addTenant(other, allowedPairs: [name("p2", .pair)], userQuota: nil)
            let users = try await (0..<3).asyncMap { try await store.assign(user: name("u\($0)", .user), tenant: example).user }
            let stranger = try await store.assign(user: name("s", .user), tenant: other).user
            let old = Date(timeIntervalSince1970: 1_700_000_000)
            let reports = [
                UserStatusReport(userID: users[0].id, queuedPriority: .high, lastSuccessfulSync: old),
                UserStatusReport(userID: users[1].id, queuedPriority: .low, failed: true, lastError: String(repeating: "é", count: 900)),
                UserStatusReport(userID: users[2].id, held: true),
                UserStatusReport(userID: stranger.id, queuedPriority: .sync),
            ]
            let result = try await store.recordStatus(reports, pair: p1, host: name("p1-a", .host))
            #expect(result.accepted == 3 && result.ignored == [stranger.id])
            _ = try await store.recordStatus(
                [UserStatusReport(userID: users[1].id, queuedPriority: .high, failed: true), UserStatusReport(userID: users[0].id, fullSyncDue: true)],
                pair: p1, host: name("p1-b", .host))

            let stored = try await store.status(user: users[1].id)
            #expect(stored.map(\.host.value) == ["p1-a", "p1-b"])
            #expect(stored[0].report.lastError?.utf8.count ?? 0 <= UserStatusReport.maximumErrorLength)
            #expect(try await store.status(user: stranger.id).isEmpty)

            let summary = try await store.fleetSummary(tenant: nil)
            #expect(summary.map(\.pair.value) == ["p1", "p2"])
            let first = summary[0]
            #expect(first.users == 3)
            #expect(first.queued == [.none: 0, .low: 1, .high: 2, .sync: 0])
            #expect(first.failed == 1 && first.held == 1)
            #expect(first.fullResyncsDue == 1)
            #expect(try await store.status(user: users[0].id).map(\.report.fullSyncDue) == [false, true])
            #expect(first.oldestSuccessfulSync == old)
            #expect(summary[1].users == 1 && summary[1].failed == 0 && summary[1].fullResyncsDue == 0 && summary[1].oldestSuccessfulSync == nil)
            #expect(try await store.fleetSummary(tenant: other).map(\.pair.value) == ["p2"])

            await expectStoreError(.invalid) { try await store.recordStatus([], pair: p1, host: name("p2-a", .host)) }
            await expectStoreError(.notFound) { try await store.fleetSummary(tenant: name("nope", .tenant)) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func failedUsers_oldestReportFirst_currentUsersOfTheTenantOnly(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let p1 = name("p1", .pair)
            let p2 = name("p2", .pair)
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addPair(try pairSpecification("p2", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: [p1], userQuota: nil)
            _ = try await store.addTenant(other, allowedPairs: [p2], userQuota: nil)
            let users = try await (0..<4).asyncMap { try await store.assign(user: name("u\($0)", .user), tenant: example).user }
            let stranger = try await store.assign(user: name("s", .user), tenant: other).user
            #expect(try await store.failedUsers(tenant: nil, limit: 100).isEmpty)
            // Reported one after the other, so each report is newer than the one before.
            _ = try await store.recordStatus(
                [UserStatusReport(userID: users[2].id, failed: true, lastError: "first")], pair: p1, host: name("p1-a", .host))
            _ = try await store.recordStatus(
                [UserStatusReport(userID: users[0].id, failed: true, lastError: "second")], pair: p1, host: name("p1-b", .host))
            _ = try await store.recordStatus(
                [UserStatusReport(userID: stranger.id, failed: true, lastError: "third")], pair: p2, host: name("p2-a", .host))
            _ = try await store.recordStatus(
                [UserStatusReport(userID: users[1].id, failed: true), UserStatusReport(userID: users[3].id)], pair: p1,
                host: name("p1-a", .host))
            // A user that failed and then synced, and a removed user, are not listed.
            _ = try await store.recordStatus([UserStatusReport(userID: users[1].id)], pair: p1, host: name("p1-a", .host))
            _ = try await store.recordStatus(
                [UserStatusReport(userID: users[3].id, failed: true)], pair: p1, host: name("p1-b", .host))
            _ = try await store.removeUser(users[3].id)

            let all = try await store.failedUsers(tenant: nil, limit: 100)
            #expect(all.map { "\($0.user)@\($0.host)" } == ["u2@p1-a", "u0@p1-b", "s@p2-a"])
            #expect(all.map(\.report.lastError) == ["first", "second", "third"])
            #expect(all.map(\.pair) == [p1, p1, p2])
            #expect(all.allSatisfy { $0.report.failed })
            #expect(try await store.failedUsers(tenant: example, limit: 100).map(\.user.value) == ["u2", "u0"])
            #expect(try await store.failedUsers(tenant: other, limit: 100).map(\.user.value) == ["s"])
            #expect(try await store.failedUsers(tenant: nil, limit: 1).map(\.user.value) == ["u2"])

            await expectStoreError(.invalid) { try await store.failedUsers(tenant: nil, limit: 0) }
            await expectStoreError(.invalid) { try await store.failedUsers(tenant: nil, limit: 10_001) }
            await expectStoreError(.notFound) { try await store.failedUsers(tenant: name("nope", .tenant), limit: 10) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func move_finish_switchesPairAndEpochInOneStep(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let (p1, p2) = (name("p1", .pair), name("p2", .pair))
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("dave", .user), tenant: example).user
            _ = try await store.addPair(try pairSpecification("p2", capacity: 1))
            let sinceTarget = try await store.pair(p2).changeVersion

            let move = try await store.createMove(user: user.id, to: p2)
            #expect(move.phase == .created && move.fromPair == p1 && move.toPair == p2)
            #expect(try await store.user(id: user.id).state == .moving)
            #expect(try await store.pair(p2).userCount == 1)
            #expect(try await store.unfinishedMoves().map(\.id) == [move.id])
            let incoming = try await store.userChanges(pair: p2, since: sinceTarget, limit: 10)
            #expect(incoming.changes.map(\.userID) == [user.id])
            #expect(incoming.changes.first.map { if case .present = $0.kind { true } else { false } } == true)
            await expectStoreError(.conflict) { try await store.createMove(user: user.id, to: p2) }

            _ = try await store.advanceMove(move.id, to: .copying, error: nil)
            let progressed = try await store.advanceMove(move.id, to: .finalSync, error: "retrying after a timeout")
            #expect(progressed.error == "retrying after a timeout")
            await expectStoreError(.conflict) { try await store.advanceMove(move.id, to: .copying, error: nil) }

            let sinceSource = try await store.pair(p1).changeVersion
            let finished = try await store.finishMove(move.id)
            #expect(finished.phase == .finished)
            let moved = try await store.user(id: user.id)
            #expect(moved.pair == p2 && moved.epoch == 2 && moved.state == .active)
            #expect(try await store.route(user: user.name).pair == p2)
            #expect(try await store.pair(p1).userCount == 0)
            #expect(try await store.pair(p2).userCount == 1)
            let departed = try await store.userChanges(pair: p1, since: sinceSource, limit: 10)
            #expect(departed.changes.map(\.kind) == [.gone])
            await expectStoreError(.conflict) { try await store.finishMove(move.id) }
            await expectStoreError(.conflict) { try await store.rollBackMove(move.id, error: nil) }
            #expect(try await store.unfinishedMoves().isEmpty)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func movePurge_recordedOnlyAfterTheCatchUpAndOffTheCurrentPair_once(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let (p1, p2) = (name("p1", .pair), name("p2", .pair))
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("fay", .user), tenant: example).user
            _ = try await store.addPair(try pairSpecification("p2", capacity: 10))
            #expect(try await store.moves(user: user.id).isEmpty)
            await expectStoreError(.notFound) { try await store.moves(user: UserID(999_999)) }

            let away = try await store.createMove(user: user.id, to: p2)
            await expectStoreError(.conflict) { try await store.markMoveCaughtUp(away.id) }
            _ = try await store.finishMove(away.id)
            // Not caught up yet: the old copy may hold mail the new pair lacks.
            await expectStoreError(.conflict) { try await store.recordPurge(away.id) }
            let caughtUp = try await store.markMoveCaughtUp(away.id)
            #expect(caughtUp.caughtUpAt != nil && caughtUp.purgedAt == nil)
            #expect(try await store.markMoveCaughtUp(away.id) == caughtUp)

            // A move heading back to p1 keeps p1's copy.
            let back = try await store.createMove(user: user.id, to: p1)
            let heading = await expectStoreError(.conflict) { try await store.recordPurge(away.id) }
            #expect(heading?.description.contains("back to pair p1") == true, "\(String(describing: heading))")
            _ = try await store.finishMove(back.id)
            _ = try await store.markMoveCaughtUp(back.id)
            #expect(try await store.moves(user: user.id).map(\.id) == [away.id, back.id])
            let current = await expectStoreError(.conflict) { try await store.recordPurge(away.id) }
            #expect(current?.description.contains("current pair") == true, "\(String(describing: current))")
            #expect(try await store.move(away.id).purgedAt == nil)

            let purged = try await store.recordPurge(back.id)
            #expect(purged.purgedAt != nil && purged.fromPair == p2)
            #expect(try await store.recordPurge(back.id) == purged)
            await expectStoreError(.notFound) { try await store.recordPurge(MoveID(999_999)) }
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func move_rollBackAndRefusals_leaveTheUserWhereItWas(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let (p1, p2, p3) = (name("p1", .pair), name("p2", .pair), name("p3", .pair))
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let user = try await store.assign(user: name("erin", .user), tenant: example).user
            _ = try await store.addPair(try pairSpecification("p2", capacity: 5))
            _ = try await store.addPair(try pairSpecification("p3", capacity: 0))

            await expectStoreError(.conflict) { try await store.createMove(user: user.id, to: p1) }
            await expectStoreError(.capacityExhausted) { try await store.createMove(user: user.id, to: p3) }
            await expectStoreError(.notFound) { try await store.createMove(user: user.id, to: name("p9", .pair)) }
            await expectStoreError(.notFound) { try await store.createMove(user: UserID(999_999), to: p2) }
            #expect(try await store.user(id: user.id).state == .active)

            let move = try await store.createMove(user: user.id, to: p2)
            let rolledBack = try await store.rollBackMove(move.id, error: "copy failed")
            #expect(rolledBack.phase == .rolledBack && rolledBack.error == "copy failed")
            let after = try await store.user(id: user.id)
            #expect(after.pair == p1 && after.epoch == 1 && after.state == .active)
            #expect(try await store.pair(p2).userCount == 0)
            #expect(try await store.pair(p1).userCount == 1)

            // Removing a user mid-move frees both places.
            _ = try await store.createMove(user: user.id, to: p2)
            await expectStoreError(.conflict) { try await store.removePair(try await store.pair(p2).id) }
            _ = try await store.removeUser(user.id)
            #expect(try await store.pair(p2).userCount == 0)
            #expect(try await store.pair(p1).userCount == 0)
            #expect(try await store.unfinishedMoves().isEmpty)
            try await store.removePair(try await store.pair(p2).id)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func removePair_refusedWhileUsersAreAssigned(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let pair = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: [pair.name], userQuota: nil)
            let user = try await store.assign(user: name("frank", .user), tenant: example).user
            let refused = await expectStoreError(.conflict) { try await store.removePair(pair.id) }
            #expect(refused?.context.pair == "p1")
            #expect(try await store.pair(pair.name).userCount == 1)
            _ = try await store.removeUser(user.id)
            try await store.removePair(pair.id)
            #expect(try await store.tenant(example).allowedPairs == [])
            #expect(try await store.user(id: user.id).pair == nil)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func tokens_createVerifyListRevoke(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            _ = try await store.addPair(try pairSpecification("p1", capacity: 10))
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let admin = try await store.createToken(label: "ops", role: .admin)
            let tenant = try await store.createToken(label: "portal", role: .tenant(example))
            let agent = try await store.createToken(label: "p1 agents", role: .agent(pair: name("p1", .pair)))
            #expect(admin.secret.hasPrefix("dpx_") && admin.secret.count == 47)
            #expect(admin.secret != tenant.secret)
            #expect(try await store.verifyToken(secret: tenant.secret) == tenant.record)
            #expect(try await store.verifyToken(secret: agent.secret)?.role == .agent(pair: name("p1", .pair)))
            #expect(try await store.verifyToken(secret: admin.secret + "x") == nil)
            #expect(try await store.verifyToken(secret: "Bearer nonsense") == nil)

            let revoked = try await store.revokeToken(tenant.record.id)
            #expect(revoked.revokedAt != nil)
            #expect(try await store.verifyToken(secret: tenant.secret) == nil)
            #expect(try await store.revokeToken(tenant.record.id).revokedAt == revoked.revokedAt)
            #expect(try await store.listTokens().map(\.label) == ["ops", "portal", "p1 agents"])

            await expectStoreError(.notFound) { try await store.createToken(label: "x", role: .tenant(name("nope", .tenant))) }
            await expectStoreError(.notFound) { try await store.createToken(label: "x", role: .agent(pair: name("nope", .pair))) }
            await expectStoreError(.invalid) { try await store.createToken(label: String(repeating: "l", count: 201), role: .admin) }
            await expectStoreError(.notFound) { try await store.revokeToken(TokenID(424_242)) }
            #expect(try await store.listTokens().count == 3)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func leaderLock_heldOnceAtATime(_ driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let inner = try await store.withLeaderLock("moves") {
                try await store.withLeaderLock("moves") { "second holder" }
            }
            #expect(inner == .some(nil))
            let other = try await store.withLeaderLock("moves") {
                try await store.withLeaderLock("health") { "a different lock" }
            }
            #expect(other == .some("a different lock"))
            #expect(try await store.withLeaderLock("moves") { 42 } == 42)
            // Released when the body throws, too.
            struct Failure: Error {}
            await #expect(throws: Failure.self) { try await store.withLeaderLock("moves") { throw Failure() } }
            #expect(try await store.withLeaderLock("moves") { 7 } == 7)
        }
    }
}

extension Sequence {
    /// The elements mapped one after the other.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

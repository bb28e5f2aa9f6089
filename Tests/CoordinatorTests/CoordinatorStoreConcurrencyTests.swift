import Coordinator
import Foundation
import Testing

/// The acceptance 2, on both stores: racing assigns never split a user or overfill a pair.
@Suite(.serialized) struct CoordinatorStoreConcurrencyTests {
    let example = name("example", .tenant)

    @Test(arguments: StoreDriver.allCases)
    func sixtyFourConcurrentAssignsOfOneUser_yieldOnePair(_ driver: StoreDriver) async throws {
        try await driver.withStore(connections: 32) { store in
            for index in 0..<4 { _ = try await store.addPair(try pairSpecification("p\(index)", capacity: 100)) }
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let user = name("contended@example.com", .user)
            let answers = try await withThrowingTaskGroup(of: Assignment.self) { group in
                for _ in 0..<64 { group.addTask { try await store.assign(user: user, tenant: example) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == 64)
            #expect(Set(answers.map(\.user.id)).count == 1)
            #expect(Set(answers.map(\.user.pair)).count == 1)
            #expect(answers.filter(\.isNew).count == 1)
            #expect(try await store.listPairs().map(\.userCount).reduce(0, +) == 1)
            #expect(try await store.listUsers(UserQuery(includeRemoved: true)).users.count == 1)
        }
    }

    @Test(arguments: StoreDriver.allCases)
    func tenThousandUsersBy32Clients_fillExactCapacities_neverMore(_ driver: StoreDriver) async throws {
        let capacities = [2500, 2000, 1500, 1500, 1000, 1000, 400, 100]
        let total = capacities.reduce(0, +)
        #expect(total == 10_000)
        try await driver.withStore(connections: 32) { store in
            for (index, capacity) in capacities.enumerated() {
                _ = try await store.addPair(try pairSpecification("p\(index)", capacity: capacity, weight: 1 + index % 3))
            }
            _ = try await store.addTenant(example, allowedPairs: nil, userQuota: nil)
            let clients = 32
            let placed = try await withThrowingTaskGroup(of: [String: Int].self) { group in
                for client in 0..<clients {
                    group.addTask {
                        var counts: [String: Int] = [:]
                        for index in stride(from: client, to: total, by: clients) {
                            let assignment = try await store.assign(user: name("user\(index)@example.com", .user), tenant: example)
                            counts[assignment.user.pair?.value ?? "none", default: 0] += 1
                        }
                        return counts
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0.merge($1, uniquingKeysWith: +) }
            }
            let expected = Dictionary(uniqueKeysWithValues: capacities.enumerated().map { ("p\($0.offset)", $0.element) })
            #expect(placed == expected)
            let pairs = try await store.listPairs()
            for pair in pairs {
                #expect(pair.userCount == pair.capacity, "\(pair.name)")
                var stored = 0
                var query = UserQuery(pair: pair.name, limit: UserQuery.maximumLimit)
                while true {
                    let page = try await store.listUsers(query)
                    stored += page.users.count
                    guard let next = page.next else { break }
                    query.after = next
                }
                #expect(stored == pair.capacity, "\(pair.name)")
            }
            await expectStoreError(.capacityExhausted) { try await store.assign(user: name("one-too-many", .user), tenant: example) }
        }
    }
}

import Coordinator
import Foundation
import MailStoreTestSupport
import Testing

/// What only the embedded store has: a database file that outlives the process's store.
@Suite struct SQLiteStoreTests {
    @Test func databaseFile_keepsEverythingAcrossReopening() async throws {
        let directory = try TemporaryDirectory(prefix: "duplex-sqlite", mode: 0o700)
        defer { directory.cleanup() }
        let path = directory.appending("coordinator.sqlite")
        let first = try await SQLiteCoordinatorStore(path: path)
        try await first.migrate()
        _ = try await first.addPair(try pairSpecification("p1", capacity: 10))
        _ = try await first.addTenant(name("example", .tenant), allowedPairs: nil, userQuota: nil)
        let assigned = try await first.assign(user: name("hank", .user), tenant: name("example", .tenant))
        await first.close()

        let second = try await SQLiteCoordinatorStore(path: path)
        #expect(try await second.migrate() == 5)
        let again = try await second.assign(user: name("hank", .user), tenant: name("example", .tenant))
        #expect(!again.isNew && again.user == assigned.user)
        await second.close()
    }

    @Test func unopenableFile_isUnavailableAndNamesThePath() async throws {
        let path = "/nonexistent-duplex-directory/coordinator.sqlite"
        let error = await expectStoreError(.unavailable) { try await SQLiteCoordinatorStore(path: path) }
        #expect(error?.description.contains(path) == true)
    }
}

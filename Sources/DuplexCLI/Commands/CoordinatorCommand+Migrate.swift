import ArgumentParser
import Coordinator

/// `duplex coordinator migrate --config FILE`: creates or upgrades the store's schema and
/// prints its version.
struct CoordinatorMigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the coordinator's database schema and print its version.",
        discussion: """
            Applies each missing migration in order, each in its own transaction; safe to run \
            again and from several hosts at once. Prints "schema version N". Exits 65 when the \
            database has a newer schema than this build knows, 69 when it cannot be reached.
            """
    )

    @OptionGroup var options: CoordinatorConfigOptions

    func run() async throws {
        let configuration = try await options.load()
        let version = try await options.withStore(configuration) { store in try await store.migrate() }
        Output.write("schema version \(version)\n")
    }
}

import ArgumentParser
import Replicator

/// `duplex replicator dsync-status`: the sync slots, as `doveadm replicator dsync-status`.
struct ReplicatorDsyncStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsync-status",
        abstract: "Show the running syncs, one row per sync slot.",
        discussion: """
            Columns username, type (full or incremental), status: "Waiting for dsync to \
            finish" with how long the sync has run (HH:MM:SS, and ", stuck" past \
            failure_retry_interval) for a running sync, "Not connected" for a free slot \
            (as Dovecot shows one). --json prints \
            {"slots": N, "syncs": [{"username", "type", "seconds", "stuck"}]}.
            """
    )

    @OptionGroup var options: ReplicatorSocketOptions

    struct Report: Encodable {
        var slots: Int
        var syncs: [SyncSlotStatus]
    }

    func run() async throws {
        let response = try await options.send(.dsyncStatus)
        guard let syncs = response.syncs, let slots = response.slots else { throw options.missingField("syncs") }
        if options.json { return try Output.json(Report(slots: slots, syncs: syncs)) }
        Output.write(ReplicatorTables.syncs(syncs, slots: slots, width: ReplicatorSocketOptions.tableWidth))
    }
}

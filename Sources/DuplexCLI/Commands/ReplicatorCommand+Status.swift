import ArgumentParser
import Replicator

/// `duplex replicator status [MASK] [--verbose]`: the overview counters, or one row per
/// user matching MASK.
struct ReplicatorStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue counters, or the users matching a mask.",
        discussion: """
            Without MASK: Dovecot's seven counters (queued sync, high, low, failed and full \
            resync requests, waiting failed requests, known users); then "Stuck users" when \
            a user's sync has run, or it has failed without a success, for longer than \
            failure_retry_interval; --verbose always shows that line and adds the held \
            users and the running syncs.

            With MASK (* and ? are wildcards; quote them): one row per known user, as \
            doveadm prints it: username, priority, fast sync, full sync, success sync (time \
            since then as HH:MM:SS, - for never), failed (y or -; held for a user held by \
            the mass-loss guard, see release), next sync secs (HH:MM:SS until the next \
            sync; - while held); when a user is stuck, a stuck column (running or failing, \
            and for how long). --verbose adds the last error; the table may then be wider \
            than the terminal.
            """
    )

    @Argument(help: "Users to show, with * and ? wildcards (e.g. 'a*'); without it the counters.")
    var mask: String?

    @Flag(help: "Counters: add stuck and held users and running syncs. Users: add the last error.")
    var verbose = false

    @OptionGroup var options: ReplicatorSocketOptions

    func run() async throws {
        let response = try await options.send(.status(mask: mask))
        if mask == nil {
            guard let statistics = response.statistics else { throw options.missingField("statistics") }
            if options.json { return try Output.json(statistics) }
            Output.write(ReplicatorTables.overview(statistics, verbose: verbose, width: ReplicatorSocketOptions.tableWidth))
        } else {
            guard let users = response.users, let now = response.now else { throw options.missingField("users") }
            if options.json { return try Output.json(users) }
            Output.write(ReplicatorTables.users(users, now: now, verbose: verbose, width: ReplicatorSocketOptions.tableWidth))
        }
    }
}

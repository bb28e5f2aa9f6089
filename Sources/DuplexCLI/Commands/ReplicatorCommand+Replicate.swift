import ArgumentParser
import Replicator

/// `duplex replicator replicate [-p PRIO] [-f] MASK`: queues the matching users.
struct ReplicatorReplicateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replicate",
        abstract: "Queue users for a sync at a priority.",
        discussion: """
            Raises the priority of the known users matching MASK (never lowers it); a plain \
            name that is not known yet is added. Prints "N users updated".
            """
    )

    @Option(name: [.short, .long], help: ArgumentHelp("none, low, high or sync.", valueName: "PRIO"))
    var priority = "low"

    @Flag(name: [.short, .customLong("full")], help: "Make the next sync a full one.")
    var full = false

    @Argument(help: "A user name, or a mask with * and ? wildcards (quote it).")
    var mask: String

    @OptionGroup var options: ReplicatorSocketOptions

    func validate() throws {
        guard ReplicationPriority(name: priority) != nil else {
            throw ValidationError("-p must be none, low, high or sync, got \"\(priority)\"")
        }
    }

    struct Report: Encodable {
        var updated: Int
    }

    func run() async throws {
        let level = ReplicationPriority(name: priority) ?? .low
        let response = try await options.send(.replicate(mask: mask, priority: level, full: full))
        guard let count = response.count else { throw options.missingField("count") }
        if options.json { return try Output.json(Report(updated: count)) }
        Output.write("\(count) users updated\n")
    }
}

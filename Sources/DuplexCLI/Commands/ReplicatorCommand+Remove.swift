import ArgumentParser
import Replicator

/// `duplex replicator remove USER`: forgets a user.
struct ReplicatorRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Forget a user (its mail stays where it is).",
        discussion: "Prints nothing on success, as doveadm; an unknown user exits 64 with \"Error: Replicator failed: User not found\"."
    )

    @Argument(help: "The user name.")
    var user: String

    @OptionGroup var options: ReplicatorSocketOptions

    struct Report: Encodable {
        var removed: String
    }

    func run() async throws {
        _ = try await options.send(.remove(user: user))
        if options.json { try Output.json(Report(removed: user)) }
    }
}

import ArgumentParser
import Replicator

/// `duplex replicator add MASK`: makes a user known to the replicator.
struct ReplicatorAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Make a user known to the replicator.",
        discussion: """
            Prints nothing on success, as doveadm. Unlike Dovecot, a mask with wildcards adds \
            nobody: the replicator has no user database to expand it against (the agent's \
            user list does that).
            """
    )

    @Argument(help: "The user name.")
    var mask: String

    @OptionGroup var options: ReplicatorSocketOptions

    struct Report: Encodable {
        var added: Int
    }

    func run() async throws {
        let response = try await options.send(.add(mask: mask))
        if options.json { try Output.json(Report(added: response.count ?? 0)) }
    }
}

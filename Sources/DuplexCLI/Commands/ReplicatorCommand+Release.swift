import ArgumentParser
import Replicator

/// The operator's decision about a held user (`--restore` or `--accept`).
enum ReplicatorReleaseDecision: String, EnumerableFlag {
    case restore
    case accept

    static func help(for value: Self) -> ArgumentHelp? {
        switch value {
        case .restore: "Copy the vanished mail back to the side that lost it, from the side that still has it."
        case .accept: "Let the disappearance reach the other side too (expunge and delete there)."
        }
    }

    var mode: ReplicatorAdminRequest.ReleaseMode {
        switch self {
        case .restore: .restore
        case .accept: .accept
        }
    }
}

/// `duplex replicator release USER (--restore|--accept)`: lets a user held by the
/// mass-loss guard sync again.
struct ReplicatorReleaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Let a user held by the mass-loss guard sync again.",
        usage: "duplex replicator release <user> (--restore | --accept) [--socket <PATH>] [--json]",
        discussion: """
            A user is held when a sync would have propagated a mass disappearance of mail \
            (a mail root gone, or too many messages vanished at once); it is not synced \
            until an operator decides. Say which decision with --restore or --accept.

            The decision applies to the user's next sync, which is queued at once: with \
            --restore the messages and mailboxes that vanished on one side are copied back \
            to it from the other (same GUIDs and flags, fresh UIDs on both sides where the \
            old ones are taken; a vanished mail root is created again), with --accept they \
            are expunged and deleted on the other side too; every other change merges as \
            usual. A sync that fails keeps the decision for the retry. The decision is not \
            saved: after a restart of the agent the user is held again. Prints "USER released".
            """
    )

    @Argument(help: "The held user.")
    var user: String

    @Flag(help: "The decision (required).")
    var decision: ReplicatorReleaseDecision

    @OptionGroup var options: ReplicatorSocketOptions

    struct Report: Encodable {
        var released: String
        var mode: String
    }

    func run() async throws {
        _ = try await options.send(.release(user: user, mode: decision.mode))
        if options.json { return try Output.json(Report(released: user, mode: decision.rawValue)) }
        Output.write("\(user) released\n")
    }
}

import ArgumentParser
import Replicator

/// The operator's decision about a held user (`--restore` or `--accept`).
enum ReplicatorReleaseDecision: String, EnumerableFlag {
    case restore
    case accept

    static func help(for value: Self) -> ArgumentHelp? {
        switch value {
        case .restore: "Meant to copy the vanished mail back from the side that still has it (today: same as --accept)."
        case .accept: "Meant to let the disappearance reach the other side too (today: same as --restore)."
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

            Today both only lift the hold and queue a full sync: the sync engine cannot \
            restore yet, so --restore and --accept act the same, and a full sync that still \
            sees the disappearance may hold the user again. They will differ once the \
            engine can restore. Prints "USER released".
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

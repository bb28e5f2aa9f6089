import ArgumentParser
import Foundation

/// `duplex user purge-old USER [--move ID]`: deletes the copy a finished move left on the
/// user's old pair.
struct UserPurgeOldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge-old",
        abstract: "Delete the copy of a moved user that its old pair keeps.",
        discussion: """
            After a move the old pair keeps the user's mail until this command. The \
            coordinator resolves USER to its id once and acts on that id and the move's \
            record: the latest finished move, or --move ID. It refuses (exit 73, nothing \
            deleted) when the user has no finished move, the move's catch-up sync has not run, \
            or the old pair is the user's current pair again. Each host of the old pair checks \
            with its own copy of the coordinator's user list that the user is gone from it, then \
            deletes the user's mail root under the user's sync lock. Running it again changes \
            nothing. A host that cannot be reached or refuses fails the command (exit 75, \
            HTTP 502); run it again once the host is back.
            """)

    @Argument(help: "The user's name.")
    var user: String

    @Option(help: ArgumentHelp("The finished move whose old copy to purge (default: the user's latest).", valueName: "ID"))
    var move: Int64?

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(user, .user, option: "user")
        if let move, move < 1 { throw ValidationError("--move \(move): a move id is a positive whole number") }
    }

    func run() async throws {
        var body: [String: Any] = [:]
        if let move { body["move"] = move }
        try await options.show(
            CoordinatorRequest(.post, ["v1", "users", user, "purge-old"], json: body), as: APIPurge.self
        ) { purge, _ in Self.render(purge) }
    }

    /// The move, then one line per host of the old pair.
    static func render(_ purge: APIPurge) -> String {
        var fields: [(String, String)] = [
            ("user", purge.move.user), ("move", String(purge.move.id)), ("old pair", purge.pair), ("new pair", purge.move.to),
            ("purged", purge.move.purgedAt ?? "-"),
        ]
        if purge.alreadyPurged { fields.append(("note", "already purged; nothing was done")) }
        for host in purge.hosts {
            fields.append((host.host, host.existed ? "deleted \(host.mailRoot)" : "had no copy (\(host.mailRoot))"))
        }
        return CoordinatorDisplay.fields(fields)
    }
}

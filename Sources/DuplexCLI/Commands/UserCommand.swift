import ArgumentParser
import Coordinator
import Foundation

/// `duplex user assign|show|list|move|remove|route|purge-old`: users and where they live.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Assign, show, list, move and remove users, look up their routes and purge old copies, on the coordinator.",
        discussion: CoordinatorCommandHelp.discussion,
        subcommands: [
            UserAssignCommand.self, UserShowCommand.self, UserListCommand.self, UserMoveCommand.self,
            UserRemoveCommand.self, UserRouteCommand.self, UserPurgeOldCommand.self,
        ]
    )

    /// The fields of one user; with its status reports (from `show`) a table of them after,
    /// times as how long before `now` (the coordinator's clock).
    static func render(_ user: APIUser, now: Date) -> String {
        var out = CoordinatorDisplay.fields([
            ("user", user.name), ("id", String(user.id)), ("tenant", user.tenant), ("pair", user.pair ?? "-"),
            ("preferred host", user.preferredHost ?? "-"), ("state", user.state),
            ("noreplicate", user.noreplicate ? "yes" : "no"), ("epoch", String(user.epoch)),
            ("created", user.createdAt), ("updated", user.updatedAt),
        ])
        if let reports = user.status {
            out += "\n"
            if reports.isEmpty { return out + "no status reported yet\n" }
            let rows = reports.map { report in
                [report.host, report.priority ?? "-", CoordinatorDisplay.ago(report.lastFastSync, now: now),
                 CoordinatorDisplay.ago(report.lastFullSync, now: now), CoordinatorDisplay.ago(report.lastSuccessfulSync, now: now),
                 report.held ? "held" : report.failed ? "yes" : "no", CoordinatorDisplay.ago(report.reportedAt, now: now),
                 report.lastError ?? "-"]
            }
            out += CoordinatorDisplay.table(
                header: ["HOST", "QUEUED", "FAST SYNC", "FULL SYNC", "SUCCESS", "FAILED", "REPORTED", "LAST ERROR"], rows: rows)
        }
        return out
    }

    /// The `list` table: one row per user.
    static func render(_ users: [APIUser]) -> String {
        let rows = users.map { user in
            [user.name, user.tenant, user.pair ?? "-", user.preferredHost ?? "-", user.state, String(user.epoch)]
        }
        return CoordinatorDisplay.table(header: ["USER", "TENANT", "PAIR", "HOST", "STATE", "EPOCH"], rows: rows, rightAligned: [5])
    }

    /// The fields of a route: the host to use now first.
    static func render(_ route: APIRoute) -> String {
        func host(_ host: APIHost) -> String { "\(host.name) \(host.dsync) (\(host.health ?? "unknown"))" }
        return CoordinatorDisplay.fields([
            ("user", route.user), ("tenant", route.tenant), ("pair", route.pair), ("epoch", String(route.epoch)),
            ("host", host(route.host)), ("preferred host", host(route.preferredHost)), ("other host", host(route.otherHost)),
        ])
    }

    /// The fields of a move.
    static func render(_ move: APIMove) -> String {
        CoordinatorDisplay.fields([
            ("move", String(move.id)), ("user", move.user), ("from", move.from), ("to", move.to), ("phase", move.phase),
            ("started", move.startedAt), ("updated", move.updatedAt), ("error", move.error ?? "-"),
        ])
    }

    /// One page of `GET /v1/users` (or every page with `all`), decoded and as the server's JSON objects.
    static func fetchUsers(
        _ options: CoordinatorOptions, tenant: String?, pair: String?, mask: String?, all: Bool
    ) async throws -> (users: [APIUser], objects: [Any], next: Int64?) {
        let client = try options.makeClient()
        var users: [APIUser] = []
        var objects: [Any] = []
        var after: Int64?
        repeat {
            var query: [(name: String, value: String)] = []
            if let tenant { query.append(("tenant", tenant)) }
            if let pair { query.append(("pair", pair)) }
            if let mask { query.append(("mask", mask)) }
            if let after { query.append(("after", String(after))) }
            if all { query.append(("limit", "1000")) }
            let (page, response) = try await options.send(
                CoordinatorRequest(.get, ["v1", "users"], query: query), as: APIUserPage.self, client: client)
            users += page.users
            let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            objects += object?["users"] as? [Any] ?? []
            // A page that does not advance would loop forever: stop and say so.
            if let next = page.next, let after, next <= after {
                throw CoordinatorOptions.fail("the coordinator's user list does not advance (next \(next) after \(after))", exitCode: 76)
            }
            after = page.next
        } while all && after != nil
        return (users, objects, after)
    }
}

/// `duplex user assign USER --tenant T`.
struct UserAssignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assign",
        abstract: "Place a user of a tenant on a pair (or show where it already is).",
        discussion: "The coordinator picks the least loaded allowed pair with room; asking again returns the same pair.")

    @Argument(help: "The user's name (e.g. alice@example.com).")
    var user: String

    @Option(help: ArgumentHelp("The user's tenant.", valueName: "T"))
    var tenant: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(user, .user, option: "user")
        try CoordinatorOptions.checkName(tenant, .tenant, option: "--tenant")
    }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.post, ["v1", "users"], json: ["name": user, "tenant": tenant]), as: APIUser.self
        ) { UserCommand.render($0, now: $1) }
    }
}

/// `duplex user show USER`: the user and each host's last status report.
struct UserShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a user, where it lives, and each host's last report about it.")

    @Argument(help: "The user's name.")
    var user: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(user, .user, option: "user") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "users", user]), as: APIUser.self
        ) { UserCommand.render($0, now: $1) }
    }
}

/// `duplex user list [--tenant T] [--pair P] [--mask M] [--all]`.
struct UserListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List users, by tenant, pair or name mask.",
        discussion: "Without --all the first 100 users are listed and a note on standard error says when there are more.")

    @Option(help: ArgumentHelp("Only this tenant's users.", valueName: "T"))
    var tenant: String?

    @Option(help: ArgumentHelp("Only the users on this pair.", valueName: "P"))
    var pair: String?

    @Option(help: ArgumentHelp("Only users whose names match, with * and ? wildcards (quote it).", valueName: "M"))
    var mask: String?

    @Flag(help: "List every matching user, page after page.")
    var all = false

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        if let tenant { try CoordinatorOptions.checkName(tenant, .tenant, option: "--tenant") }
        if let pair { try CoordinatorOptions.checkName(pair, .pair, option: "--pair") }
        if let mask { try UserListCommand.checkMask(mask) }
    }

    /// A mask is a user name in which `*` and `?` are allowed.
    static func checkMask(_ mask: String) throws {
        let probe = String(mask.map { $0 == "*" || $0 == "?" ? "x" : $0 })
        do {
            _ = try CoordinatorName(probe, kind: .user)
        } catch {
            throw ValidationError("--mask \(mask.debugDescription): \(error.reason == .empty ? "is empty" : "not a user name with * and ? wildcards")")
        }
    }

    func run() async throws {
        let (users, objects, next) = try await UserCommand.fetchUsers(options, tenant: tenant, pair: pair, mask: mask, all: all)
        if options.json {
            return Output.write(try CoordinatorJSON.pretty(["users": objects, "next": next.map { $0 as Any } ?? NSNull()]))
        }
        Output.write(UserCommand.render(users))
        if next != nil {
            CoordinatorOptions.note("duplex: more users match; --all lists them all")
        }
    }
}

/// `duplex user move USER --to PAIR [--wait]`.
struct UserMoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Move a user's mail to another pair, then switch its route.",
        discussion: """
            The coordinator copies the mail with dsync, syncs a last time under the user's \
            lock and switches the assignment; the old pair keeps its copy. With --wait the \
            command follows the move's phases (on standard error) until it finishes (exit 0) \
            or is rolled back (exit 1, with the reason).
            """)

    /// How often `--wait` asks for the move's phase.
    static let pollInterval: Duration = .seconds(1)

    @Argument(help: "The user's name.")
    var user: String

    @Option(help: ArgumentHelp("The pair to move it to.", valueName: "PAIR"))
    var to: String

    @Flag(help: "Follow the move until it is over.")
    var wait = false

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(user, .user, option: "user")
        try CoordinatorOptions.checkName(to, .pair, option: "--to")
    }

    func run() async throws {
        let client = try options.makeClient()
        var (move, response) = try await options.send(
            CoordinatorRequest(.post, ["v1", "users", user, "move"], json: ["to": to]), as: APIMove.self, client: client)
        if wait {
            var shown = ""
            while true {
                let line = "move \(move.id) of \(move.user) from \(move.from) to \(move.to): " + Self.progressText(move)
                if line != shown {
                    shown = line
                    CoordinatorOptions.note(line)
                }
                if move.isOver { break }
                try await Task.sleep(for: Self.pollInterval)
                (move, response) = try await options.send(
                    CoordinatorRequest(.get, ["v1", "moves", String(move.id)]), as: APIMove.self, client: client)
            }
        }
        if options.json { try options.printJSON(response) } else { Output.write(UserCommand.render(move)) }
        if move.phase == "rolled_back" {
            throw CoordinatorOptions.fail("the move of \(move.user) was rolled back: \(move.error ?? "no reason given")", exitCode: 1)
        }
    }

    /// The phase and, when the leading coordinator reports them, the round and what was
    /// copied: `copying, round 2, 640 messages (1.2 MiB) copied`, then the error of a step
    /// that will be tried again.
    static func progressText(_ move: APIMove) -> String {
        var parts = [move.phase]
        if let progress = move.progress {
            if progress.round > 0 { parts.append("round \(progress.round)") }
            let bytes = progress.bytesCopied >= 1_048_576
                ? String(format: "%.1f MiB", Double(progress.bytesCopied) / 1_048_576) : "\(progress.bytesCopied) B"
            parts.append("\(progress.messagesCopied) messages (\(bytes)) copied")
            if progress.catchUpPending { parts.append("catch-up sync pending") }
            if let error = progress.lastError { parts.append("retrying after: \(error)") }
        } else if let error = move.error {
            parts.append("last error: \(error)")
        }
        return parts.joined(separator: ", ")
    }
}

/// `duplex user remove USER`.
struct UserRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a user from the coordinator (its pair stops replicating it).")

    @Argument(help: "The user's name.")
    var user: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(user, .user, option: "user") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.delete, ["v1", "users", user]), as: APIUser.self
        ) { UserCommand.render($0, now: $1) }
    }
}

/// `duplex user route USER`: the host to use now, as a proxy would look it up.
struct UserRouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route", abstract: "Show which host serves a user now (its pair's preferred host unless that is down).")

    @Argument(help: "The user's name.")
    var user: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(user, .user, option: "user") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "users", user, "route"]), as: APIRoute.self
        ) { value, _ in UserCommand.render(value) }
    }
}

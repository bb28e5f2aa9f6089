import ArgumentParser
import Coordinator
import Foundation

/// `duplex pair add|list|show|drain|disable|enable|remove`: the coordinator's backend pairs.
struct PairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair",
        abstract: "Add, list, show, drain, disable, enable and remove backend pairs on the coordinator.",
        discussion: CoordinatorCommandHelp.discussion,
        subcommands: [
            PairAddCommand.self, PairListCommand.self, PairShowCommand.self, PairDrainCommand.self,
            PairDisableCommand.self, PairEnableCommand.self, PairRemoveCommand.self,
        ]
    )

    /// The admin port an agent listens on when `--host-a/-b` names none (the agent's
    /// `replicator.http_listen` default).
    static let defaultAdminPort = 7446

    /// The fields of one pair, hosts with their endpoints and health.
    static func render(_ pair: APIPair) -> String {
        func host(_ host: APIHost) -> String {
            "\(host.name) \(host.dsync) admin \(host.admin) (\(host.health ?? "unknown"))"
        }
        return CoordinatorDisplay.fields([
            ("pair", pair.name), ("id", String(pair.id)), ("state", pair.state), ("users", String(pair.users)),
            ("capacity", String(pair.capacity)), ("weight", String(pair.weight)),
            ("host a", host(pair.hostA)), ("host b", host(pair.hostB)), ("created", pair.createdAt),
        ])
    }

    /// The `list` table: one row per pair.
    static func render(_ list: APIPairList) -> String {
        let rows = list.pairs.map { pair in
            [pair.name, pair.state, String(pair.users), String(pair.capacity), String(pair.weight),
             CoordinatorDisplay.host(pair.hostA), CoordinatorDisplay.host(pair.hostB)]
        }
        return CoordinatorDisplay.table(
            header: ["PAIR", "STATE", "USERS", "CAPACITY", "WEIGHT", "HOST A", "HOST B"], rows: rows, rightAligned: [2, 3, 4])
    }

    /// Parses `NAME=tls://H:P[,admin=http://H:P]` (the admin endpoint defaults to
    /// `http://H:7446` on the dsync host).
    ///
    /// - Throws: `ValidationError` naming the option and what is wrong.
    static func parseHost(_ text: String, option: String) throws -> APIHost {
        guard let equals = text.firstIndex(of: "=") else {
            throw ValidationError("\(option) \(text.debugDescription): expected NAME=tls://HOST:PORT[,admin=http://HOST:PORT]")
        }
        let name = String(text[..<equals])
        try CoordinatorOptions.checkName(name, .host, option: option)
        var parts = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let dsyncText = parts.removeFirst()
        var adminText: String?
        for part in parts {
            guard part.hasPrefix("admin="), adminText == nil else {
                throw ValidationError("\(option) \(text.debugDescription): unexpected \(part.debugDescription) (only admin=URL may follow)")
            }
            adminText = String(part.dropFirst("admin=".count))
        }
        do {
            let dsync = try ServiceEndpoint(dsyncText, allowed: [.tls])
            var admin: ServiceEndpoint?
            if let adminText { admin = try ServiceEndpoint(adminText, allowed: [.http, .https]) }
            let shownHost = dsync.host.contains(":") ? "[\(dsync.host)]" : dsync.host
            return APIHost(
                name: name, dsync: dsync.description,
                admin: admin?.description ?? "http://\(shownHost):\(defaultAdminPort)", health: nil)
        } catch {
            throw ValidationError("\(option): \(error.description)")
        }
    }
}

/// `duplex pair add NAME --host-a NAME=tls://H:P[,admin=http://H:P] --host-b … --capacity N [--weight W]`.
struct PairAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register a pair of hosts with their dsync (and admin) endpoints.")

    @Argument(help: "The pair's name (a-z, 0-9, '-', '_', '.'; up to 63 bytes).")
    var name: String

    @Option(name: .customLong("host-a"), help: ArgumentHelp(
        "Host A: its agent's name and dsync endpoint, optionally its admin endpoint (default http://HOST:7446).",
        valueName: "NAME=tls://H:P[,admin=http://H:P]"))
    var hostA: String

    @Option(name: .customLong("host-b"), help: ArgumentHelp("Host B, as --host-a.", valueName: "NAME=tls://H:P[,admin=…]"))
    var hostB: String

    @Option(help: ArgumentHelp("The most users it may hold.", valueName: "N"))
    var capacity: Int

    @Option(help: ArgumentHelp("Its share in placement, 1–1000 (users go in proportion to capacity × weight).", valueName: "W"))
    var weight: Int = 1

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(name, .pair, option: "pair")
        let a = try PairCommand.parseHost(hostA, option: "--host-a")
        let b = try PairCommand.parseHost(hostB, option: "--host-b")
        if a.name == b.name { throw ValidationError("--host-a and --host-b name the same host \(a.name.debugDescription)") }
        if a.dsync == b.dsync { throw ValidationError("--host-a and --host-b have the same dsync endpoint \(a.dsync)") }
        if capacity < 0 { throw ValidationError("--capacity must be 0 or more, got \(capacity)") }
        if !(1...1000).contains(weight) { throw ValidationError("--weight must be from 1 to 1000, got \(weight)") }
    }

    func run() async throws {
        func host(_ host: APIHost) -> [String: Any] { ["name": host.name, "dsync": host.dsync, "admin": host.admin] }
        let body: [String: Any] = [
            "name": name, "capacity": capacity, "weight": weight,
            "host_a": host(try PairCommand.parseHost(hostA, option: "--host-a")),
            "host_b": host(try PairCommand.parseHost(hostB, option: "--host-b")),
        ]
        try await options.show(
            CoordinatorRequest(.post, ["v1", "pairs"], json: body), as: APIPair.self
        ) { value, _ in PairCommand.render(value) }
    }
}

/// `duplex pair list`.
struct PairListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the pairs.")

    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "pairs"]), as: APIPairList.self
        ) { value, _ in PairCommand.render(value) }
    }
}

/// `duplex pair show NAME`.
struct PairShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one pair.")

    @Argument(help: "The pair's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(name, .pair, option: "pair") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "pairs", name]), as: APIPair.self
        ) { value, _ in PairCommand.render(value) }
    }
}

/// The pair commands that only set the pair's state: `drain`, `disable`, `enable`.
protocol PairStateCommand: AsyncParsableCommand {
    /// The state the command sets.
    static var state: String { get }
    var name: String { get }
    var options: CoordinatorOptions { get }
}

extension PairStateCommand {
    func validate() throws { try CoordinatorOptions.checkName(name, .pair, option: "pair") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.patch, ["v1", "pairs", name], json: ["state": Self.state]), as: APIPair.self
        ) { value, _ in PairCommand.render(value) }
    }
}

/// `duplex pair drain NAME`: no new users, and its users are moved off (by the
/// coordinator, a bounded number at a time).
struct PairDrainCommand: PairStateCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Take no new users on a pair and move its users off it.")
    static let state = "draining"

    @Argument(help: "The pair's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions
}

/// `duplex pair disable NAME`: no new users; its users stay and keep replicating.
struct PairDisableCommand: PairStateCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable", abstract: "Take no new users on a pair (its users stay).")
    static let state = "disabled"

    @Argument(help: "The pair's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions
}

/// `duplex pair enable NAME`: take new users again.
struct PairEnableCommand: PairStateCommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Let a pair take new users again.")
    static let state = "active"

    @Argument(help: "The pair's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions
}

/// `duplex pair remove NAME`: only a pair without users (the coordinator answers 409 otherwise).
struct PairRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a pair that has no users (drain it first).")

    @Argument(help: "The pair's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(name, .pair, option: "pair") }

    func run() async throws {
        _ = try await options.send(CoordinatorRequest(.delete, ["v1", "pairs", name]))
        if options.json { return Output.write("{}\n") }
        Output.write("removed pair \(name)\n")
    }
}

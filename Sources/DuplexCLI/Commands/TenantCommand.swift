import ArgumentParser
import Coordinator
import Foundation

/// `duplex tenant add|list|show|set`: the coordinator's tenants.
struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Add, list, show and change tenants on the coordinator.",
        discussion: CoordinatorCommandHelp.discussion,
        subcommands: [TenantAddCommand.self, TenantListCommand.self, TenantShowCommand.self, TenantSetCommand.self]
    )

    /// The fields of one tenant, for `add`, `show` and `set`.
    static func render(_ tenant: APITenant) -> String {
        CoordinatorDisplay.fields([
            ("tenant", tenant.name), ("id", String(tenant.id)), ("users", String(tenant.users)),
            ("user quota", tenant.userQuota.map(String.init) ?? "none"),
            ("allowed pairs", tenant.allowedPairs.map(pairsText) ?? "all"), ("created", tenant.createdAt),
        ])
    }

    /// The `list` table: one row per tenant.
    static func render(_ list: APITenantList) -> String {
        let rows = list.tenants.map { tenant in
            [tenant.name, String(tenant.users), tenant.userQuota.map(String.init) ?? "-",
             tenant.allowedPairs.map(pairsText) ?? "all", tenant.createdAt]
        }
        return CoordinatorDisplay.table(header: ["TENANT", "USERS", "QUOTA", "PAIRS", "CREATED"], rows: rows, rightAligned: [1, 2])
    }

    private static func pairsText(_ pairs: [String]) -> String { pairs.isEmpty ? "none" : pairs.joined(separator: ",") }

    /// `--allowed-pairs P,Q` split and checked as pair names.
    static func parsePairs(_ text: String) throws -> [String] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for name in names { try CoordinatorOptions.checkName(name, .pair, option: "--allowed-pairs") }
        return names
    }
}

/// `duplex tenant add NAME [--allowed-pairs P,Q] [--user-quota N]`.
struct TenantAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a tenant, optionally limited to some pairs and a number of users.")

    @Argument(help: "The tenant's name (a-z, 0-9, '-', '_', '.'; up to 63 bytes).")
    var name: String

    @Option(help: ArgumentHelp("The only pairs its users may be placed on, comma-separated (default: all).", valueName: "P,Q"))
    var allowedPairs: String?

    @Option(help: ArgumentHelp("The most users it may have (default: no limit).", valueName: "N"))
    var userQuota: Int?

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(name, .tenant, option: "tenant")
        if let allowedPairs { _ = try TenantCommand.parsePairs(allowedPairs) }
        if let userQuota, userQuota < 0 { throw ValidationError("--user-quota must be 0 or more, got \(userQuota)") }
    }

    func run() async throws {
        var body: [String: Any] = ["name": name]
        if let allowedPairs { body["allowed_pairs"] = try TenantCommand.parsePairs(allowedPairs) }
        if let userQuota { body["user_quota"] = userQuota }
        try await options.show(
            CoordinatorRequest(.post, ["v1", "tenants"], json: body), as: APITenant.self
        ) { value, _ in TenantCommand.render(value) }
    }
}

/// `duplex tenant list`.
struct TenantListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tenants.")

    @OptionGroup var options: CoordinatorOptions

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "tenants"]), as: APITenantList.self
        ) { value, _ in TenantCommand.render(value) }
    }
}

/// `duplex tenant show NAME`.
struct TenantShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one tenant.")

    @Argument(help: "The tenant's name.")
    var name: String

    @OptionGroup var options: CoordinatorOptions

    func validate() throws { try CoordinatorOptions.checkName(name, .tenant, option: "tenant") }

    func run() async throws {
        try await options.show(
            CoordinatorRequest(.get, ["v1", "tenants", name]), as: APITenant.self
        ) { value, _ in TenantCommand.render(value) }
    }
}

/// `duplex tenant set NAME [--allowed-pairs P,Q|--all-pairs] [--user-quota N|--no-quota]`.
struct TenantSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Change a tenant's allowed pairs or user quota (what is not given stays).")

    @Argument(help: "The tenant's name.")
    var name: String

    @Option(help: ArgumentHelp("Limit its users to these pairs, comma-separated.", valueName: "P,Q"))
    var allowedPairs: String?

    @Flag(help: "Let its users be placed on any pair.")
    var allPairs = false

    @Option(help: ArgumentHelp("The most users it may have.", valueName: "N"))
    var userQuota: Int?

    @Flag(help: "Remove its user quota.")
    var noQuota = false

    @OptionGroup var options: CoordinatorOptions

    func validate() throws {
        try CoordinatorOptions.checkName(name, .tenant, option: "tenant")
        if allowedPairs != nil && allPairs { throw ValidationError("--allowed-pairs and --all-pairs exclude each other") }
        if userQuota != nil && noQuota { throw ValidationError("--user-quota and --no-quota exclude each other") }
        if allowedPairs == nil && !allPairs && userQuota == nil && !noQuota {
            throw ValidationError("nothing to change: give --allowed-pairs, --all-pairs, --user-quota or --no-quota")
        }
        if let allowedPairs { _ = try TenantCommand.parsePairs(allowedPairs) }
        if let userQuota, userQuota < 0 { throw ValidationError("--user-quota must be 0 or more, got \(userQuota)") }
    }

    func run() async throws {
        var body: [String: Any] = [:]
        if let allowedPairs { body["allowed_pairs"] = try TenantCommand.parsePairs(allowedPairs) }
        if allPairs { body["allowed_pairs"] = NSNull() }
        if let userQuota { body["user_quota"] = userQuota }
        if noQuota { body["user_quota"] = NSNull() }
        try await options.show(
            CoordinatorRequest(.patch, ["v1", "tenants", name], json: body), as: APITenant.self
        ) { value, _ in TenantCommand.render(value) }
    }
}

import ArgumentParser
import Coordinator
import Foundation

/// `duplex coordinator token create|list|revoke`: API tokens, straight in the store (this
/// is how the first admin token is made, before any token can reach the API).
struct CoordinatorTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke the coordinator's API tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    /// A token as `--json` prints it: as the API shows tokens.
    struct TokenOutput: Encodable {
        var id: Int64
        var label: String
        var role: String
        var createdAt: String
        var revokedAt: String?

        init(_ token: TokenRecord) {
            id = token.id.rawValue
            label = token.label
            role = token.role.text
            createdAt = token.createdAt.formatted(.iso8601)
            revokedAt = token.revokedAt?.formatted(.iso8601)
        }

        enum CodingKeys: String, CodingKey {
            case id, label, role
            case createdAt = "created_at"
            case revokedAt = "revoked_at"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(label, forKey: .label)
            try container.encode(role, forKey: .role)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(revokedAt, forKey: .revokedAt)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a token and print its secret (shown this once).",
            discussion: "Prints the secret alone on a line (with --json: {\"token\": …, \"secret\": …}).")

        @OptionGroup var options: CoordinatorConfigOptions

        @Option(help: ArgumentHelp("admin, tenant:TENANT or agent:PAIR.", valueName: "ROLE"))
        var role: String

        @Option(help: ArgumentHelp("What the token is for (at most 200 bytes).", valueName: "LABEL"))
        var label: String

        @Flag(help: "Print JSON.")
        var json = false

        func validate() throws {
            do {
                _ = try TokenRole(text: role)
            } catch {
                throw ValidationError("--role: \(error.reason)")
            }
            guard label.utf8.count <= 200 else { throw ValidationError("--label is \(label.utf8.count) bytes long; the limit is 200") }
        }

        func run() async throws {
            let role = try TokenRole(text: role)
            let configuration = try await options.load()
            let label = label
            let issued = try await options.withStore(configuration) { store in
                try await store.createToken(label: label, role: role)
            }
            if json {
                struct Issued: Encodable {
                    var token: TokenOutput
                    var secret: String
                }
                try Output.json(Issued(token: TokenOutput(issued.record), secret: issued.secret))
            } else {
                Output.write(issued.secret + "\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tokens (revoked ones too), never their secrets.")

        @OptionGroup var options: CoordinatorConfigOptions

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            let configuration = try await options.load()
            let tokens = try await options.withStore(configuration) { store in try await store.listTokens() }
            if json {
                try Output.json(tokens.map(TokenOutput.init))
                return
            }
            let rows = tokens.map { token in
                [String(token.id.rawValue), token.role.text, token.label, token.createdAt.formatted(.iso8601),
                 token.revokedAt?.formatted(.iso8601) ?? "-"]
            }
            Output.write(Output.table(header: ["id", "role", "label", "created", "revoked"], rows: rows))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: it stops working at once.")

        @OptionGroup var options: CoordinatorConfigOptions

        @Argument(help: ArgumentHelp("The token's id (see token list).", valueName: "ID"))
        var id: Int64

        func validate() throws {
            guard id > 0 else { throw ValidationError("the token id must be a positive whole number, got \(id)") }
        }

        func run() async throws {
            let configuration = try await options.load()
            let id = TokenID(id)
            let token = try await options.withStore(configuration) { store in try await store.revokeToken(id) }
            Output.write("token \(token.id) (\(token.label)) revoked\n")
        }
    }
}

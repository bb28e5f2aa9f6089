/// A token role written as text, as the API and `duplex coordinator token create --role`
/// take it: `admin`, `tenant:NAME` or `agent:PAIR`.
extension TokenRole {
    /// The role as text (`tenant:example`).
    public var text: String {
        switch self {
        case .admin: "admin"
        case .tenant(let tenant): "tenant:\(tenant.value)"
        case .agent(let pair): "agent:\(pair.value)"
        }
    }

    /// Parses `admin`, `tenant:NAME` or `agent:PAIR`.
    ///
    /// - Throws: ``TokenRoleSyntaxError`` saying which form was expected, or which name is
    ///   invalid and why.
    public init(text: String) throws(TokenRoleSyntaxError) {
        if text == "admin" {
            self = .admin
            return
        }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "tenant" || parts[0] == "agent" else {
            throw TokenRoleSyntaxError(text: text, reason: "expected admin, tenant:NAME or agent:PAIR")
        }
        do {
            if parts[0] == "tenant" {
                self = .tenant(try CoordinatorName(String(parts[1]), kind: .tenant))
            } else {
                self = .agent(pair: try CoordinatorName(String(parts[1]), kind: .pair))
            }
        } catch {
            throw TokenRoleSyntaxError(text: text, reason: error.description)
        }
    }
}

/// A token role that cannot be parsed (``TokenRole/init(text:)``).
public struct TokenRoleSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The refused text.
    public var text: String
    /// What is wrong with it.
    public var reason: String

    public var description: String { "role \(text.debugDescription): \(reason)" }
}

/// Who may do what through the API (docs/coordinator-api.md, "Roles"): each check passes
/// for the roles that cover the tenant, pair or operation and throws `forbidden` naming the
/// role and what it lacks otherwise. Handlers check before they change anything.
enum Access {
    /// Only an admin token.
    static func requireAdmin(_ role: TokenRole, to action: String) throws(APIError) {
        guard case .admin = role else { throw .forbidden("a \(role.text) token may not \(action); an admin token is needed") }
    }

    /// An admin token, or the token of `tenant`.
    static func requireTenant(_ tenant: CoordinatorName, _ role: TokenRole, to action: String) throws(APIError) {
        switch role {
        case .admin: return
        case .tenant(let own) where own == tenant: return
        default: throw .forbidden("a \(role.text) token may not \(action) of tenant \(tenant.value.debugDescription)")
        }
    }

    /// An admin token, or the agent token of `pair`.
    static func requirePairAgent(_ pair: CoordinatorName, _ role: TokenRole, to action: String) throws(APIError) {
        switch role {
        case .admin: return
        case .agent(let own) where own == pair: return
        default: throw .forbidden("a \(role.text) token may not \(action) of pair \(pair.value.debugDescription)")
        }
    }
}

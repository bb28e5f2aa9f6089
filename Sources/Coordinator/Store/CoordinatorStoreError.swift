/// A store operation that failed: a stable code, what it was about, and why.
///
/// The description names the operation and the tenant, pair, user, move or token concerned;
/// it never holds SQL text, bound values other than those names, or token secrets. The
/// underlying driver error, when there is one, is kept in ``cause`` for logs at debug level.
public struct CoordinatorStoreError: Error, Sendable, CustomStringConvertible {
    /// Stable error codes: clients branch on these, the HTTP API maps them to statuses.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// The tenant, pair, user, move or token does not exist (HTTP 404).
        case notFound
        /// The operation contradicts the current state: the name is taken, the pair still has
        /// users, the move is over, the user is already moving (HTTP 409).
        case conflict
        /// No allowed active pair has room for the user (HTTP 507 or 409).
        case capacityExhausted
        /// The tenant has as many users as its quota allows (HTTP 409).
        case quotaExceeded
        /// A value is out of range or malformed (HTTP 400).
        case invalid
        /// The database cannot be reached or refused the connection (HTTP 503).
        case unavailable
        /// The database holds something this version cannot read, or a newer schema (HTTP 500).
        case corrupt
    }

    /// What the error is about; every field that is known is set.
    public struct Context: Hashable, Sendable {
        public var tenant: String?
        public var pair: String?
        public var user: String?
        public var host: String?
        public var id: Int64?

        public init(tenant: String? = nil, pair: String? = nil, user: String? = nil, host: String? = nil, id: Int64? = nil) {
            self.tenant = tenant
            self.pair = pair
            self.user = user
            self.host = host
            self.id = id
        }
    }

    public var code: Code
    /// The store operation, e.g. `assign`, `removePair`.
    public var operation: String
    public var context: Context
    /// Why, in words, without SQL or secrets.
    public var message: String
    /// The driver's error, if any (not part of the description).
    public var cause: (any Error)?

    public init(_ code: Code, operation: String, context: Context = .init(), message: String, cause: (any Error)? = nil) {
        self.code = code
        self.operation = operation
        self.context = context
        self.message = message
        self.cause = cause
    }

    public var description: String {
        var about: [String] = []
        if let tenant = context.tenant { about.append("tenant \(tenant.debugDescription)") }
        if let pair = context.pair { about.append("pair \(pair.debugDescription)") }
        if let host = context.host { about.append("host \(host.debugDescription)") }
        if let user = context.user { about.append("user \(user.debugDescription)") }
        if let id = context.id { about.append("id \(id)") }
        let subject = about.isEmpty ? "" : " (" + about.joined(separator: ", ") + ")"
        return "\(operation)\(subject): \(code.rawValue): \(message)"
    }
}

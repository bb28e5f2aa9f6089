/// Dovecot's shared namespace, by its prefix template: which user owns a mailbox that
/// another user changed.
///
/// Dovecot shows another user's shared mailboxes under the shared namespace's prefix, in
/// which the owner is a variable: `shared/$user/` in Dovecot 2.4, `shared/%u/` in 2.3
/// (written `shared/%%u/` in `dovecot.conf`), so that bob sees alice's `Projects` as
/// `shared/alice@example.com/Projects`. The mail of that mailbox is alice's, in alice's
/// mail root, under alice's sync lock: a change bob makes there must queue alice, never
/// bob (DESIGN: shared mailboxes are synced as their owner's). Dovecot 2.3's replication
/// plugin does not do this: it notifies the namespace's `user` (bob), not its `owner`
/// (`replication-plugin.c`, `mail-namespace.h`), which is why Dovecot documents shared
/// folders as unsupported by replication (reference §9 item 5).
///
/// Variables: `$user` / `%u` the whole owner name, `$username` / `%n` its part before `@`,
/// `$domain` / `%d` the part after it (`%%u` is taken as `%u`). Matching follows Dovecot's
/// `shared_storage_get_namespace`: literal text must match exactly, and a variable takes
/// the name up to the first occurrence of the character that follows it in the template.
/// Without `$user`, the owner is `username@domain`, with the changing user's own domain
/// when the template has no `$domain` (as Dovecot does).
public struct SharedNamespace: Sendable, Equatable, CustomStringConvertible {
    /// Dovecot 2.4's usual prefix, `shared/$user/`.
    public static let dovecotDefault: SharedNamespace = {
        // A valid constant template: it cannot fail.
        do { return try SharedNamespace(prefix: "shared/$user/") } catch { fatalError("\(error)") }
    }()

    /// The template as configured.
    public let prefix: String

    enum Piece: Sendable, Equatable {
        case literal(String)
        case user, username, domain
    }

    let pieces: [Piece]

    /// The variables by the names they are written with, longer names first (`$username`
    /// before `$user`).
    private static let variables: [(name: String, piece: Piece)] = [
        ("$username", .username), ("$user", .user), ("$domain", .domain), ("%%u", .user), ("%%n", .username),
        ("%%d", .domain), ("%u", .user), ("%n", .username), ("%d", .domain),
    ]

    /// Why a prefix template is refused.
    public struct InvalidPrefix: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong, naming the template.
        public let description: String
    }

    /// Reads a prefix template.
    ///
    /// - Parameter prefix: The shared namespace's `prefix` as in Dovecot's configuration,
    ///   e.g. `shared/$user/`, `shared/%%u/`, `Shared/$domain/$username/`.
    /// - Throws: ``InvalidPrefix`` when it names no owner (neither `$user` nor
    ///   `$username`), names a variable Dovecot does not know, puts two variables side by
    ///   side, or does not end in the namespace separator after its last variable (Dovecot
    ///   refuses such a namespace too).
    public init(prefix: String) throws(InvalidPrefix) {
        self.prefix = prefix
        var pieces: [Piece] = []
        var literal = ""
        var rest = Substring(prefix)
        func refuse(_ why: String) -> InvalidPrefix {
            InvalidPrefix(description: "shared namespace prefix \(String(reflecting: prefix)) \(why)")
        }
        while let first = rest.first {
            guard first == "$" || first == "%" else {
                literal.append(first)
                rest = rest.dropFirst()
                continue
            }
            guard let (name, variable) = Self.variables.first(where: { rest.hasPrefix($0.name) }) else {
                throw refuse("has an unknown variable at \(String(reflecting: String(rest.prefix(10)))) (known: $user, $username, $domain, %u, %n, %d)")
            }
            if !literal.isEmpty {
                pieces.append(.literal(literal))
                literal = ""
            } else if !pieces.isEmpty {
                throw refuse("puts two variables side by side: where one ends cannot be told")
            }
            pieces.append(variable)
            rest = rest.dropFirst(name.count)
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        guard pieces.contains(.user) || pieces.contains(.username) else { throw refuse("names no owner: it needs $user or $username") }
        guard case .literal = pieces.last else { throw refuse("must end with the namespace separator after the owner, e.g. shared/$user/") }
        self.pieces = pieces
    }

    public var description: String { prefix }

    /// The owner of `mailbox` when it lies in this shared namespace; nil when it does not
    /// (the changing user's own mailboxes).
    ///
    /// - Parameters:
    ///   - mailbox: The mailbox name as Dovecot shows it to the user (with the namespace
    ///     prefix and separator), e.g. `shared/alice@example.com/Projects`.
    ///   - user: Who changed it; lends its domain to a template without `$domain`.
    /// - Returns: The owner's user name, possibly empty when the mailbox name leaves it
    ///   empty (`shared//x`): the caller decides whether that is an error.
    public func owner(ofMailbox mailbox: String, changedBy user: String) -> String? {
        var rest = Substring(mailbox)
        var whole: Substring?, username: Substring?, domain: Substring?
        var index = pieces.startIndex
        while index < pieces.endIndex {
            let piece = pieces[index]
            index += 1
            guard case .literal(let text) = piece else {
                // The template never ends in a variable, so a literal follows; a name that
                // ends before it is the namespace's root itself, owned all the same.
                var value = rest
                if case .literal(let next)? = pieces[index...].first, let stop = next.first, let end = rest.firstIndex(of: stop) {
                    value = rest[..<end]
                    rest = rest[end...]
                } else {
                    rest = rest[rest.endIndex...]
                }
                switch piece {
                case .user: whole = value
                case .username: username = value
                case .domain: domain = value
                case .literal: break
                }
                if rest.isEmpty { break }
                continue
            }
            guard rest.hasPrefix(text) else {
                // The root of the namespace is named without its trailing separator
                // (`shared/alice`): owned, when everything before matched.
                if rest.isEmpty, whole != nil || username != nil { break }
                return nil
            }
            rest = rest.dropFirst(text.count)
        }
        if let whole { return String(whole) }
        guard let username else { return nil }
        let ownDomain = user.firstIndex(of: "@").map { user[user.index(after: $0)...] }
        guard let domain = domain ?? ownDomain else { return String(username) }
        return "\(username)@\(domain)"
    }
}

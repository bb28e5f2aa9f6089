/// Where a user's mail root is, from a template with Dovecot's variables.
///
/// The variables are Dovecot's (`mail_location`): `%u` or `%{user}` the whole user name,
/// `%n` or `%{username}` the part before the first `@` (the whole name without one), `%d`
/// or `%{domain}` the part after it, and `%%` a percent sign. For example
/// `/var/vmail/%d/%n/Maildir` puts `alice@example.com` at
/// `/var/vmail/example.com/alice/Maildir`.
///
/// The user name comes from the peer, so expansion is strict: a name can only ever fill
/// path components of its own below the template's fixed part, never climb out of it
/// (see ``mailRoot(for:)``).
public struct MailRootTemplate: Sendable, Equatable, CustomStringConvertible {
    /// The template as written, e.g. `/var/vmail/%d/%n/Maildir`.
    public let template: String
    /// The template split into path components, each a sequence of literal text and variables.
    private let components: [[Piece]]

    /// The longest user name accepted, in UTF-8 bytes (Dovecot's and most file systems' name limit).
    public static let maximumUserNameLength = 255

    /// Parses and checks `template`.
    ///
    /// - Parameter template: an absolute path that names the user with `%u` or `%n` (or their
    ///   long forms) and may use `%d` and `%%`.
    /// - Throws: ``DsyncError`` with code `usage` when the template is not absolute, names no
    ///   user, contains a NUL byte, or uses a variable other than those above (the message
    ///   names the variable and its 1-based position).
    public init(_ template: String) throws {
        self.template = template
        self.components = try Self.parse(template)
    }

    public var description: String { template }

    /// The mail root of `user`: the template with the variables replaced.
    ///
    /// - Parameter user: the user name, as the peer or the queue gives it.
    /// - Returns: an absolute path in which each variable filled part of one path component.
    /// - Throws: ``DsyncError`` with code `noSuchUser` when `user` cannot name a mail root:
    ///   it is empty or longer than ``maximumUserNameLength`` bytes; it contains `/`, NUL or
    ///   another control character; the template needs a domain (`%d`) and the name has none,
    ///   or a user part (`%n`) and it is empty; or a path component made from it would be
    ///   empty, `.`, `..` or longer than 255 bytes.
    public func mailRoot(for user: String) throws -> String {
        let parts = try UserParts(user)
        var path = ""
        for component in components {
            path += "/"
            var expanded = ""
            var hasVariable = false
            for piece in component {
                switch piece {
                case .literal(let text): expanded += text
                case .variable(let variable):
                    expanded += try parts.value(of: variable, in: self)
                    hasVariable = true
                }
            }
            if hasVariable { try Self.check(component: expanded, user: user) }
            path += expanded
        }
        return path
    }

    /// A run of a path component: fixed text, or a variable filled from the user name.
    private enum Piece: Sendable, Equatable {
        case literal(String)
        case variable(Variable)
    }

    private enum Variable: Sendable, Equatable {
        /// `%u`, `%{user}`
        case user
        /// `%n`, `%{username}`
        case name
        /// `%d`, `%{domain}`
        case domain
    }
}

// MARK: - Parsing the template

extension MailRootTemplate {
    private static let knownVariables = "%u %n %d %% %{user} %{username} %{domain}"

    /// Splits `template` into components of pieces in one pass over its scalars.
    private static func parse(_ template: String) throws -> [[Piece]] {
        func fail(_ message: String) -> DsyncError {
            DsyncError(.usage, "mail root template \(escaped(template, limit: 200)): \(message)")
        }
        guard template.hasPrefix("/") else { throw fail("must be an absolute path (start with /)") }

        var components: [[Piece]] = []
        var component: [Piece] = []
        var literal = ""
        var namesUser = false
        func endLiteral() {
            if !literal.isEmpty { component.append(.literal(literal)) }
            literal = ""
        }

        let scalars = Array(template.unicodeScalars)
        var index = 1  // past the leading "/"
        while index < scalars.count {
            let scalar = scalars[index]
            let position = index + 1
            index += 1
            switch scalar {
            case "\0":
                throw fail("contains a NUL character at position \(position)")
            case "/":
                endLiteral()
                components.append(component)
                component = []
            case "%":
                guard index < scalars.count else {
                    throw fail("a lone % at the end (position \(position)); write %% for a percent sign")
                }
                let next = scalars[index]
                index += 1
                let variable: Variable
                switch next {
                case "%":
                    literal += "%"
                    continue
                case "u": variable = .user
                case "n": variable = .name
                case "d": variable = .domain
                case "{":
                    guard let close = scalars[index...].firstIndex(of: "}") else {
                        throw fail("%{ at position \(position) has no closing }")
                    }
                    let name = String(String.UnicodeScalarView(scalars[index..<close]))
                    index = close + 1
                    switch name {
                    case "user": variable = .user
                    case "username": variable = .name
                    case "domain": variable = .domain
                    default:
                        throw fail("unknown variable %{\(name)} at position \(position) (known: \(knownVariables))")
                    }
                default:
                    throw fail("unknown variable %\(next) at position \(position) (known: \(knownVariables))")
                }
                endLiteral()
                component.append(.variable(variable))
                namesUser = namesUser || variable != .domain
            default:
                literal.unicodeScalars.append(scalar)
            }
        }
        endLiteral()
        components.append(component)

        // Without the user in the path, every user would share one mail root.
        guard namesUser else { throw fail("must name the user with %u or %n") }
        return components
    }
}

// MARK: - Checking a user name

extension MailRootTemplate {
    /// A user name split the way Dovecot splits it, checked to be safe in a path.
    private struct UserParts {
        let user: String
        /// Before the first `@`, or the whole name.
        let name: Substring
        /// After the first `@`, or empty.
        let domain: Substring

        init(_ user: String) throws {
            guard !user.isEmpty else {
                throw DsyncError(.noSuchUser, "an empty user name cannot name a mail root", user: "\"\"")
            }
            func fail(_ message: String) -> DsyncError {
                DsyncError(.noSuchUser, "user name \(message); it cannot name a mail root", user: escaped(user, limit: 80))
            }
            guard user.utf8.count <= MailRootTemplate.maximumUserNameLength else {
                throw fail("is \(user.utf8.count) bytes long, more than \(MailRootTemplate.maximumUserNameLength)")
            }
            for scalar in user.unicodeScalars {
                if scalar == "/" { throw fail("contains /") }
                if scalar == "\0" { throw fail("contains a NUL character") }
                if scalar.properties.generalCategory == .control {
                    throw fail("contains the control character U+\(String(scalar.value, radix: 16, uppercase: true))")
                }
            }
            self.user = user
            if let at = user.firstIndex(of: "@") {
                name = user[..<at]
                domain = user[user.index(after: at)...]
            } else {
                name = user[...]
                domain = ""
            }
        }

        func value(of variable: Variable, in template: MailRootTemplate) throws -> Substring {
            func fail(_ message: String) -> DsyncError {
                DsyncError(
                    .noSuchUser, "\(message), which the mail root template \(template.template) needs",
                    user: escaped(user, limit: 80)
                )
            }
            switch variable {
            case .user:
                return user[...]
            case .name:
                guard !name.isEmpty else { throw fail("user name has nothing before @ (%n)") }
                return name
            case .domain:
                guard !domain.isEmpty else { throw fail("user name has no domain after @ (%d)") }
                return domain
            }
        }
    }

    /// Refuses a path component made from a user name that would not be a directory of its own.
    private static func check(component: String, user: String) throws {
        func fail(_ message: String) -> DsyncError {
            DsyncError(.noSuchUser, "user name would make \(message) in the mail root", user: escaped(user, limit: 80))
        }
        switch component {
        case "": throw fail("an empty path component")
        case ".", "..": throw fail("the path component \(component)")
        default:
            guard component.utf8.count <= 255 else { throw fail("a path component longer than 255 bytes") }
        }
    }
}

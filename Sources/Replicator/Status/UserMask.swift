/// A user name pattern with Dovecot's wildcards: `*` any run of characters, `?` one
/// character (`doveadm replicator status 'a*'`).
public struct UserMask: Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    private let characters: [Character]

    public init(_ pattern: String) {
        self.pattern = pattern
        self.characters = Array(pattern)
    }

    public var description: String { pattern }

    /// Whether the pattern has a wildcard (else it names one user).
    public var isWildcard: Bool { characters.contains("*") || characters.contains("?") }

    /// Whether `name` matches (linear time, no backtracking blow-up).
    public func matches(_ name: String) -> Bool {
        let text = Array(name)
        var p = 0, t = 0
        var star: Int?, mark = 0
        while t < text.count {
            if p < characters.count, characters[p] == "?" || characters[p] == text[t], characters[p] != "*" {
                p += 1
                t += 1
            } else if p < characters.count, characters[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if let star {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < characters.count, characters[p] == "*" { p += 1 }
        return p == characters.count
    }
}

/// One thing wrong in a state file: the line was skipped (or read in part, as the message
/// says) and everything else was kept.
public struct ReplicatorStateProblem: Sendable, Equatable, CustomStringConvertible {
    /// The file read.
    public var path: String
    /// The 1-based line.
    public var line: Int
    /// What is wrong, and what was done about it.
    public var message: String

    public init(path: String, line: Int, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    /// `path:line: message`, with control characters made visible so that a hostile user
    /// name cannot break a log line.
    public var description: String {
        "\(Self.printable(path)):\(line): \(Self.printable(message))"
    }

    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

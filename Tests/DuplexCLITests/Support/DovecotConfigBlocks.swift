/// The named blocks of a Dovecot configuration snippet (`KIND NAME { key = value … }`), for
/// checking the structure of a Dovecot 2.4 file that the installed Dovecot 2.3 cannot read.
///
/// Lines are `#` comments, `key = value`, `KIND [NAME] {` or `}`; nested blocks are not
/// needed by the snippets and are refused, as are unbalanced braces.
struct DovecotConfigBlocks {
    struct Block: Equatable {
        var kind: String
        var name: String
        var settings: [String: String]
        var line: Int
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var message: String
        var description: String { "line \(line): \(message)" }
    }

    let blocks: [Block]

    init(_ text: String) throws(ParseError) {
        var blocks: [Block] = []
        var open: Block?
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasSuffix("{") {
                guard open == nil else { throw ParseError(line: number, message: "a block inside a block") }
                let words = line.dropLast().split(separator: " ").map(String.init)
                guard (1...2).contains(words.count) else { throw ParseError(line: number, message: "not KIND [NAME] {: \(line)") }
                open = Block(kind: words[0], name: words.count == 2 ? words[1] : "", settings: [:], line: number)
            } else if line == "}" {
                guard let block = open else { throw ParseError(line: number, message: "} without an open block") }
                blocks.append(block)
                open = nil
            } else if let equals = line.firstIndex(of: "=") {
                guard open != nil else { throw ParseError(line: number, message: "a setting outside a block: \(line)") }
                let key = line[..<equals].trimmingCharacters(in: .whitespaces)
                guard open?.settings[key] == nil else { throw ParseError(line: number, message: "\(key) set twice") }
                open?.settings[key] = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            } else {
                throw ParseError(line: number, message: "neither a setting nor a brace: \(line)")
            }
        }
        if let block = open { throw ParseError(line: block.line, message: "block \(block.kind) \(block.name) is not closed") }
        self.blocks = blocks
    }

    /// The block `kind name`, if there is one.
    func block(_ kind: String, _ name: String) -> Block? {
        blocks.first { $0.kind == kind && $0.name == name }
    }
}

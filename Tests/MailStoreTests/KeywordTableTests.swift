import Testing

@testable import MailStore

@Suite("KeywordTable")
struct KeywordTableTests {
    static let path = "/mail/.Box/dovecot-keywords"

    static func parse(_ text: String) throws -> KeywordTable {
        try KeywordTable(parsing: Array(text.utf8), path: path)
    }

    /// `indexAdding` outside the #expect macro (which cannot call mutating methods).
    static func add(_ name: String, to table: inout KeywordTable) throws -> Int {
        try table.indexAdding(name)
    }

    @Test func dovecotSample_mapsIndexesToNames() throws {
        let table = try Self.parse("0 $Label1\n1 Junk\n")
        #expect(table.names == ["$Label1", "Junk"])
        #expect(table.name(at: 0) == "$Label1")
        #expect(table.name(at: 1) == "Junk")
        #expect(table.name(at: 2) == nil)
        #expect(table.index(of: "junk") == 1)
        #expect(table.index(of: "$LABEL1") == 0)
        #expect(table.index(of: "Other") == nil)
    }

    @Test func gapsAndEmptyLines_areAllowed() throws {
        let table = try Self.parse("\n2 Two\n\n0 Zero\n")
        #expect(table.names == ["Zero", nil, "Two"])
        #expect(table.serialized() == Array("0 Zero\n2 Two\n".utf8))
    }

    @Test func freeLetters_leavesOutNamedLettersAndLettersCarriedByFiles() throws {
        let table = try Self.parse("0 Zero\n2 Two\n")
        #expect(table.freeLetters(carried: 0) == 24)
        // "a" is named anyway; "d" is carried without a name.
        #expect(table.freeLetters(carried: 0b1001) == 23)
        #expect(KeywordTable().freeLetters(carried: 0) == KeywordTable.capacity)
    }

    @Test func lastLineWithoutNewline_isRead() throws {
        #expect(try Self.parse("0 A\n1 B").names == ["A", "B"])
    }

    @Test func serialiseThenParse_givesAnEqualTable() throws {
        var table = KeywordTable()
        #expect(try Self.add("$Label1", to: &table) == 0)
        #expect(try Self.add("Junk", to: &table) == 1)
        #expect(try Self.add("junk", to: &table) == 1)
        let bytes = table.serialized()
        #expect(bytes == Array("0 $Label1\n1 Junk\n".utf8))
        #expect(try KeywordTable(parsing: bytes, path: Self.path) == table)
    }

    @Test func addingKeyword_fillsTheFirstFreeIndex() throws {
        var table = try Self.parse("0 A\n2 C\n")
        #expect(try Self.add("B", to: &table) == 1)
        #expect(try Self.add("D", to: &table) == 3)
        #expect(table.names == ["A", "B", "C", "D"])
    }

    @Test func twentySeventhKeyword_isRejected() throws {
        var table = KeywordTable()
        for index in 0..<26 { #expect(try Self.add("k\(index)", to: &table) == index) }
        let error = #expect(throws: MailStoreError.self) { try table.indexAdding("one-too-many") }
        #expect(error?.code == .invalidArgument)
        #expect(table.names.count == 26)
        // An existing one is still found.
        #expect(try Self.add("K25", to: &table) == 25)
    }

    static let badFiles: [(text: String, line: Int, reason: String)] = [
        ("30 Foo\n", 1, "0 to 25"),
        ("26 Foo\n", 1, "0 to 25"),
        ("x Foo\n", 1, "0 to 25"),
        ("-1 Foo\n", 1, "0 to 25"),
        (" Foo\n", 1, "0 to 25"),
        ("0 A\n1 B\n0 C\n", 3, "used twice"),
        ("0 A\nFoo\n", 2, "no space"),
        ("0 A\n1 \n", 2, "empty keyword"),
        ("0 A\n1 a b\n", 2, "not an IMAP atom"),
        ("0 a(b\n", 1, "not an IMAP atom"),
        ("0 a\\b\n", 1, "not an IMAP atom"),
        ("0 a\r\n", 1, "not an IMAP atom"),
        ("0 Über\n", 1, "not an IMAP atom"),
    ]

    @Test(arguments: badFiles)
    func badLine_isRejectedWithPathAndLine(text: String, line: Int, reason: String) {
        let error = #expect(throws: MailStoreError.self) { try Self.parse(text) }
        #expect(error?.code == .badData)
        #expect(error?.path == Self.path)
        #expect(error?.line == line)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "none")")
    }
}

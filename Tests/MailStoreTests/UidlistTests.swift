import Testing

@testable import MailStore

@Suite("Uidlist")
struct UidlistTests {
    static let path = "/mail/.Box/dovecot-uidlist"

    static func parse(_ text: String) throws -> Uidlist {
        try Uidlist(parsing: Array(text.utf8), path: path)
    }

    /// Parses `text`, expecting `badData` at `line`; returns the message.
    @discardableResult
    static func expectRejected(_ text: String, line: Int, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        let error = #expect(throws: MailStoreError.self, sourceLocation: sourceLocation) { try parse(text) }
        #expect(error?.code == .badData, sourceLocation: sourceLocation)
        #expect(error?.path == path, sourceLocation: sourceLocation)
        #expect(error?.line == line, "message: \(error?.message ?? "none")", sourceLocation: sourceLocation)
        return error?.message ?? ""
    }

    static let guidHex = "bec9d71d256c0c6bd515000083ecc375"

    // MARK: Reading

    @Test func dovecotSample_parsesHeaderAndRecord() throws {
        let uidlist = try Self.parse("3 V1795976229 N3 G\(Self.guidHex)\n1 :1795976229.M500653P5589.vm,S=28,W=32\n")
        #expect(uidlist.version == 3)
        #expect(uidlist.uidValidity == 1_795_976_229)
        #expect(uidlist.headerNextUID == 3)
        #expect(uidlist.mailboxGUID?.hex == Self.guidHex)
        #expect(uidlist.otherHeaderFields.isEmpty)
        #expect(uidlist.records == [Uidlist.Record(uid: 1, baseName: "1795976229.M500653P5589.vm,S=28,W=32")])
        #expect(uidlist.nextUID == 3)
    }

    @Test func unknownHeaderKey_isKeptAndWrittenBack() throws {
        let uidlist = try Self.parse("3 V7 N2 G\(Self.guidHex) Pfoo Xbar\n1 :a\n")
        #expect(uidlist.otherHeaderFields == [Uidlist.Field(key: "P", value: "foo"), Uidlist.Field(key: "X", value: "bar")])
        #expect(uidlist.headerLine() == "3 V7 N2 G\(Self.guidHex) Pfoo Xbar\n")
    }

    @Test func recordExtensions_areKeptInOrder() throws {
        let text = "3 V7 N9 G\(Self.guidHex)\n"
            + "4 S120 W124 G1795969482.M294376P17629.vm,S=35,W=39 P O12 :1795969482.M324356P17635.vm\n"
        let uidlist = try Self.parse(text)
        let record = try #require(uidlist.records.first)
        #expect(record.uid == 4)
        #expect(record.fields.map { Character(Unicode.Scalar($0.key)) } == ["S", "W", "G", "P", "O"])
        #expect(record.field("S") == "120")
        #expect(record.field("W") == "124")
        #expect(record.field("P") == "")
        #expect(record.field("O") == "12")
        #expect(record.field("X") == nil)
        #expect(record.guid == "1795969482.M294376P17629.vm,S=35,W=39")
        #expect(record.baseName == "1795969482.M324356P17635.vm")
        #expect(Array(uidlist.serialized()) == Array(text.utf8))
    }

    @Test func recordWithoutGExtension_usesBaseNameAsGUID() throws {
        let uidlist = try Self.parse("3 V7 N2 G\(Self.guidHex)\n1 :base,S=1,W=1:2,S\n")
        #expect(uidlist.records[0].baseName == "base,S=1,W=1")
        #expect(uidlist.records[0].guid == "base,S=1,W=1")
    }

    @Test func serialiseThenParse_givesAnEqualUidlist() throws {
        var uidlist = Uidlist(uidValidity: 1_795_976_229, nextUID: 12, mailboxGUID: MailboxGUID(hex: Self.guidHex))
        uidlist.otherHeaderFields = [Uidlist.Field(key: "Z", value: "zz")]
        uidlist.records = [
            Uidlist.Record(uid: 1, baseName: "1.M1P1.h,S=1,W=1"),
            Uidlist.Record(uid: 5, fields: [Uidlist.Field(key: "G", value: "guid-5"), Uidlist.Field(key: "W", value: "9")], baseName: "5.M5P5.h"),
            Uidlist.Record(uid: 11, fields: [Uidlist.Field(key: "P", value: "")], baseName: "11.M1P1.h"),
        ]
        let bytes = uidlist.serialized()
        #expect(String(decoding: bytes, as: UTF8.self) == """
            3 V1795976229 N12 G\(Self.guidHex) Zzz
            1 :1.M1P1.h,S=1,W=1
            5 Gguid-5 W9 :5.M5P5.h
            11 P :11.M1P1.h

            """)
        #expect(try Uidlist(parsing: bytes, path: Self.path) == uidlist)
    }

    @Test func versionOne_isRead() throws {
        let uidlist = try Self.parse("1 1700000000 5\n1 1700000000.M1P1.host:2,S\n3 1700000001.M2P1.host\n")
        #expect(uidlist.version == 1)
        #expect(uidlist.uidValidity == 1_700_000_000)
        #expect(uidlist.headerNextUID == 5)
        #expect(uidlist.mailboxGUID == nil)
        #expect(uidlist.records.map(\.uid) == [1, 3])
        #expect(uidlist.records.map(\.baseName) == ["1700000000.M1P1.host", "1700000001.M2P1.host"])
        #expect(uidlist.nextUID == 5)
    }

    @Test func versionOne_isWrittenAsVersionThree() throws {
        var uidlist = try Self.parse("1 17 2\n1 a\n")
        uidlist.mailboxGUID = MailboxGUID(hex: Self.guidHex)
        #expect(String(decoding: uidlist.serialized(), as: UTF8.self) == "3 V17 N2 G\(Self.guidHex)\n1 :a\n")
    }

    @Test func headerOnly_hasNoRecordsAndDefaultNextUID() throws {
        let uidlist = try Self.parse("3 V9\n")
        #expect(uidlist.records.isEmpty)
        #expect(uidlist.headerNextUID == 1)
        #expect(uidlist.mailboxGUID == nil)
        #expect(uidlist.nextUID == 1)
    }

    @Test func effectiveNextUID_isMaxOfHeaderAndLastPlusOne() throws {
        // Records are appended without rewriting N (Dovecot writes N1 then appends 1 and 2).
        #expect(try Self.parse("3 V9 N1 G\(Self.guidHex)\n1 :a\n2 :b\n").nextUID == 3)
        // N above the last record: UIDs of expunged messages stay used.
        #expect(try Self.parse("3 V9 N40 G\(Self.guidHex)\n1 :a\n2 :b\n").nextUID == 40)
        #expect(try Self.parse("3 V9 N3 G\(Self.guidHex)\n1 :a\n2 :b\n").nextUID == 3)
    }

    @Test func lastPossibleUID_leavesNoNextUID() throws {
        // A record with UID 4294967295 uses up the UID space: the next UID must not wrap to
        // a used value.
        let uidlist = try Self.parse("3 V9 N1 G\(Self.guidHex)\n4294967295 :a\n")
        #expect(uidlist.nextUID == UInt32.max)
    }

    @Test func serialisedHeader_writesEffectiveNextUID() throws {
        let uidlist = try Self.parse("3 V9 N1 G\(Self.guidHex)\n1 :a\n2 :b\n")
        #expect(uidlist.headerLine() == "3 V9 N3 G\(Self.guidHex)\n")
    }

    // MARK: Rejection, with the line of the problem

    @Test func emptyFile_isRejectedAtLineOne() {
        Self.expectRejected("", line: 1)
    }

    @Test func missingTrailingNewline_isRejectedAsTruncatedAtLastLine() {
        let message = Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n1 :a\n2 :b", line: 3)
        #expect(message.contains("truncated"))
        Self.expectRejected("3 V9 N3", line: 1)
    }

    @Test(arguments: ["hello", "V9 N1", "-3 V9", " \t", "3x V1"])
    func garbageHeader_isRejectedAtLineOne(header: String) {
        Self.expectRejected(header + "\n1 :a\n", line: 1)
    }

    @Test func blankHeader_isRejectedAtLineOne() {
        Self.expectRejected("\n", line: 1)
        Self.expectRejected("   \n1 :a\n", line: 1)
    }

    @Test(arguments: ["2 V9 N1", "4 V9 N1", "0 V9"])
    func unknownVersion_isRejectedAtLineOne(header: String) {
        let message = Self.expectRejected(header + "\n", line: 1)
        #expect(message.contains("unsupported uidlist version"))
    }

    @Test func missingUIDValidity_isRejected() {
        let message = Self.expectRejected("3 N5 G\(Self.guidHex)\n", line: 1)
        #expect(message.contains("no V"))
    }

    @Test(arguments: ["V0", "Vabc", "V", "V4294967296", "N0", "Nx", "G", "Gxyz", "G\(String(repeating: "a", count: 31))", "G\(String(repeating: "g", count: 32))", "9x"])
    func badHeaderField_isRejectedAtLineOne(field: String) {
        Self.expectRejected("3 V9 \(field)\n", line: 1)
    }

    @Test(arguments: ["1 0 5", "1 7", "1 7 0", "1 7 x", "1 7 5 9"])
    func badVersionOneHeader_isRejected(header: String) {
        Self.expectRejected(header + "\n", line: 1)
    }

    @Test func uidZero_isRejectedAtItsLine() {
        let message = Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n1 :a\n0 :b\n", line: 3)
        #expect(message.contains("UID 0"))
    }

    @Test(arguments: ["x :a", ":a", " 1 :a", "1x :a", "-1 :a", "1\t:a", "4294967296 :a"])
    func nonNumericOrOversizedUID_isRejectedAtItsLine(record: String) {
        Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n1 :a\n\(record)\n", line: 3)
    }

    @Test func duplicateUID_isRejectedAtTheSecondOccurrence() {
        let message = Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n1 :a\n2 :b\n2 :c\n3 :d\n", line: 4)
        #expect(message.contains("duplicate UID 2"))
    }

    @Test func decreasingUID_isRejectedAtTheLowerOne() {
        let message = Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n5 :a\n7 :b\n6 :c\n", line: 4)
        #expect(message.contains("lower than the previous UID 7"))
    }

    @Test(arguments: ["1 abc", "1 S10 W20", "1 ", "1 S10:a"])
    func recordWithoutColon_isRejectedAtItsLine(record: String) {
        Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n\(record)\n", line: 2)
    }

    @Test(arguments: ["1 :", "1 ::2,S", "1 S5 :"])
    func emptyFileName_isRejectedAtItsLine(record: String) {
        let message = Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n2 :ok\n\(record.replacingFirstUID(with: "3"))\n", line: 3)
        #expect(message.contains("empty file name"))
    }

    @Test(arguments: ["1 :a\u{1}b", "1 :a/b", "1 :a\rb", "1 1abc :x", "1 G :x"])
    func malformedRecord_isRejectedAtItsLine(record: String) {
        Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n\(record)\n", line: 2)
    }

    @Test func emptyLineAmongRecords_isRejectedAtItsLine() {
        Self.expectRejected("3 V9 N3 G\(Self.guidHex)\n1 :a\n\n2 :b\n", line: 3)
    }

    @Test func versionOneEmptyFileName_isRejected() {
        Self.expectRejected("1 7 5\n1 \n", line: 2)
    }
}

extension String {
    /// `"1 :"` → `"3 :"`: swaps the leading UID of a record line.
    fileprivate func replacingFirstUID(with uid: String) -> String {
        guard let space = firstIndex(of: " ") else { return self }
        return uid + self[space...]
    }
}

import Testing

@testable import MailStore

@Suite("MaildirFileName")
struct MaildirFileNameTests {
    static let dovecotName = "1795969469.M307368P17453.vm,S=92,W=99:2,FSab"

    @Test func dovecotNameWithFlags_parsesEveryPart() throws {
        let name = try MaildirFileName(parsing: Self.dovecotName)
        #expect(name.base == "1795969469.M307368P17453.vm,S=92,W=99")
        #expect(name.size == 92)
        #expect(name.virtualSize == 99)
        #expect(name.systemFlags == [.flagged, .seen])
        #expect(name.keywordIndexes == [0, 1])
        #expect(name.otherFlagLetters.isEmpty)
        #expect(name.foreignInfo == nil)
        #expect(name.hasInfo)
        #expect(name.fileName == Self.dovecotName)
    }

    @Test func newDirectoryName_hasNoInfoAndNoFlags() throws {
        let name = try MaildirFileName(parsing: "1795969469.M307368P17453.vm,S=92,W=99")
        #expect(!name.hasInfo)
        #expect(name.systemFlags.isEmpty)
        #expect(name.keywordIndexes.isEmpty)
        #expect(name.size == 92)
        #expect(name.fileName == "1795969469.M307368P17453.vm,S=92,W=99")
    }

    @Test func emptyInfo_isKeptOnReserialise() throws {
        let name = try MaildirFileName(parsing: "1795969469.M1P2.host:2,")
        #expect(name.hasInfo)
        #expect(name.systemFlags.isEmpty)
        #expect(name.fileName == "1795969469.M1P2.host:2,")
    }

    @Test func nameWithoutSizes_hasNilSizes() throws {
        let name = try MaildirFileName(parsing: "1795969469.M1P2.host:2,S")
        #expect(name.size == nil)
        #expect(name.virtualSize == nil)
        #expect(name.systemFlags == [.seen])
    }

    @Test func sizesAnywhereInBase_areRead() throws {
        let name = try MaildirFileName(parsing: "123.M1P2.host,W=40,X=foo,S=38:2,")
        #expect(name.size == 38)
        #expect(name.virtualSize == 40)
        #expect(name.base == "123.M1P2.host,W=40,X=foo,S=38")
    }

    @Test func everySystemFlagLetter_mapsToItsFlag() throws {
        let name = try MaildirFileName(parsing: "x:2,DFRST")
        #expect(name.systemFlags == [.draft, .flagged, .answered, .seen, .deleted])
        #expect(name.systemFlags.imapNames == ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"])
    }

    @Test func lettersOutOfOrder_areWrittenInASCIIOrder() throws {
        var name = try MaildirFileName(parsing: "x:2,zbTSaD")
        #expect(name.keywordIndexes == [0, 1, 25])
        #expect(name.fileName == "x:2,DSTabz")
        name.systemFlags.remove(.deleted)
        #expect(name.fileName == "x:2,DSabz")
    }

    @Test func duplicateLetters_areWrittenOnce() throws {
        let name = try MaildirFileName(parsing: "x:2,SSaa")
        #expect(name.keywordIndexes == [0])
        #expect(name.fileName == "x:2,Sa")
    }

    @Test func unknownLetters_arePreservedAroundChangedFlags() throws {
        var name = try MaildirFileName(parsing: "x:2,PSZa")
        #expect(name.otherFlagLetters == Array("PZ".utf8))
        #expect(name.systemFlags == [.seen])
        name.systemFlags.insert(.flagged)
        name.keywordIndexes = [0, 2]
        #expect(name.fileName == "x:2,FPSZac")
        name.systemFlags = []
        name.keywordIndexes = []
        #expect(name.fileName == "x:2,PZ")
    }

    @Test func unknownLettersOutOfOrder_keepTheirOrder() throws {
        // Dovecot inserts its own letters between unknown ones without reordering them.
        var name = try MaildirFileName(parsing: "x:2,ZP")
        name.systemFlags.insert(.flagged)
        #expect(name.fileName == "x:2,FZP")
        name.systemFlags.insert(.seen)
        #expect(name.fileName == "x:2,FSZP")
    }

    @Test func nonASCIIUnknownLetters_stayIntact() throws {
        var name = try MaildirFileName(parsing: "x:2,Sé")
        name.systemFlags.insert(.flagged)
        name.keywordIndexes = [1]
        #expect(name.fileName == "x:2,FSbé")
        #expect(try MaildirFileName(parsing: name.fileName).otherFlagLetters == Array("é".utf8))
    }

    @Test func foreignInfo_isKeptVerbatim() throws {
        let name = try MaildirFileName(parsing: "x,S=5:1,experimental")
        #expect(name.foreignInfo == "1,experimental")
        #expect(!name.hasInfo)
        #expect(name.systemFlags.isEmpty)
        #expect(name.size == 5)
        #expect(name.fileName == "x,S=5:1,experimental")
    }

    @Test func builtName_hasInfoOnlyWithFlags() {
        #expect(MaildirFileName(base: "b,S=3,W=4").fileName == "b,S=3,W=4")
        let flagged = MaildirFileName(base: "b,S=3,W=4", systemFlags: [.seen, .answered], keywordIndexes: [3, 0])
        #expect(flagged.fileName == "b,S=3,W=4:2,RSad")
        #expect(flagged.size == 3)
        #expect(flagged.virtualSize == 4)
    }

    static let badNames: [(String, String)] = [
        ("", "empty base name"),
        (":2,S", "empty base name"),
        ("x,S=abc", "not a decimal number"),
        ("x,S=:2,S", "not a decimal number"),
        ("x,W=12a:2,S", "not a decimal number"),
        ("x,S=-1", "not a decimal number"),
        ("x,S=1234567890123456789", "not a decimal number"),
        ("a\u{1}b", "control character"),
        ("a\tb:2,S", "control character"),
        ("a\u{7f}", "control character"),
        ("a/b", "control character or '/'"),
        ("x:2,S\u{7f}", "control character"),
        ("x:2,S\n", "control character"),
        ("x:2,S/", "control character"),
    ]

    @Test(arguments: badNames)
    func badName_isRejectedAsBadData(text: String, reason: String) {
        let error = #expect(throws: MailStoreError.self) { try MaildirFileName(parsing: text) }
        #expect(error?.code == .badData)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "none")")
    }

    @Test func validBase_acceptsDovecotNamesAndRejectsOthers() {
        #expect(MaildirFileName.isValidBase("1795969469.M307368P17453.vm,S=92,W=99"))
        #expect(MaildirFileName.isValidBase("abc"))
        #expect(!MaildirFileName.isValidBase(""))
        #expect(!MaildirFileName.isValidBase(".hidden"))
        #expect(!MaildirFileName.isValidBase("a b"))
        #expect(!MaildirFileName.isValidBase("a:b"))
        #expect(!MaildirFileName.isValidBase("a/b"))
        #expect(!MaildirFileName.isValidBase("é"))
        #expect(MaildirFileName.isValidBase(String(repeating: "x", count: 200)))
        #expect(!MaildirFileName.isValidBase(String(repeating: "x", count: 201)))
    }

    @Test func randomFlagSets_roundTripThroughFileName() throws {
        var generator = SplitMix64(seed: 0x5EED_0003)
        for _ in 0..<1000 {
            let flags = SystemFlags(rawValue: UInt8.random(in: 0...31, using: &generator))
            let keywords = Set((0..<Int.random(in: 0...5, using: &generator)).map { _ in Int.random(in: 0..<26, using: &generator) })
            let built = MaildirFileName(base: "1795969469.M1P2.host,S=10,W=11", systemFlags: flags, keywordIndexes: Array(keywords))
            let parsed = try MaildirFileName(parsing: built.fileName)
            #expect(parsed.systemFlags == flags)
            #expect(parsed.keywordIndexes == keywords.sorted())
            #expect(parsed.base == built.base)
            #expect(parsed.fileName == built.fileName)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@_spi(Fuzzing) import MailStore
import Testing

/// Runs the fuzz targets' seed corpora (Fuzz/Corpus) through the same invariant checks the
/// libFuzzer targets use (``MailStoreFuzzChecks``), so every test run exercises them
/// without libFuzzer.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
    /// The repository root, from this file's path (Tests/MailStoreTests/FuzzCorpusTests.swift).
    static let repositoryRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }()

    /// The corpus directories under Fuzz/Corpus, one per MailStore fuzz target.
    static let corpora = ["uidlist", "filename", "controlfiles"]

    /// The seeds of one corpus directory as (file name, bytes), sorted by name; throws when the
    /// directory is missing.
    static func seeds(_ corpus: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = repositoryRoot + "/Fuzz/Corpus/" + corpus
        guard let dir = opendir(directory) else {
            throw ScratchError("corpus directory \(directory) cannot be opened: errno \(errno)")
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(dir)
        return try names.sorted().map { ($0, try readFile(directory + "/" + $0)) }
    }

    @Test(arguments: corpora)
    func corpusDirectory_existsWithEnoughSeeds(corpus: String) throws {
        let seeds = try Self.seeds(corpus)
        #expect(seeds.count >= 10, "Fuzz/Corpus/\(corpus) has \(seeds.count) seeds")
    }

    @Test func uidlistSeeds_satisfyTheFuzzInvariants() throws {
        let seeds = try Self.seeds("uidlist")
        try #require(!seeds.isEmpty)
        var accepted = 0
        for seed in seeds {
            #expect(MailStoreFuzzChecks.uidlistViolations(seed.bytes) == [], "seed \(seed.name)")
            if (try? Uidlist(parsing: seed.bytes, path: seed.name)) != nil { accepted += 1 }
        }
        // Both sides of the parser are exercised.
        #expect(accepted > 0 && accepted < seeds.count, "\(accepted) of \(seeds.count) seeds parse")
    }

    @Test func fileNameSeeds_satisfyTheFuzzInvariants() throws {
        let seeds = try Self.seeds("filename")
        try #require(!seeds.isEmpty)
        var accepted = 0
        for seed in seeds {
            #expect(MailStoreFuzzChecks.fileNameViolations(seed.bytes) == [], "seed \(seed.name)")
            if (try? MaildirFileName(parsing: String(decoding: seed.bytes, as: UTF8.self))) != nil { accepted += 1 }
        }
        #expect(accepted > 0 && accepted < seeds.count, "\(accepted) of \(seeds.count) seeds parse")
    }

    @Test func controlFileSeeds_satisfyTheFuzzInvariants() throws {
        let seeds = try Self.seeds("controlfiles")
        try #require(!seeds.isEmpty)
        for seed in seeds {
            #expect(MailStoreFuzzChecks.controlFileViolations(seed.bytes) == [], "seed \(seed.name)")
        }
    }
}


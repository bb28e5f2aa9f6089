import ArgumentParser
import Foundation
import Testing

@testable import DuplexCLI

/// `SyncCommand.parseWellFormed`, the reading of plain `duplex sync` command lines without
/// ArgumentParser, against ArgumentParser itself: whatever it accepts, ArgumentParser parses
/// to the same command (every property, the TLS options included); every well-formed line
/// that ArgumentParser accepts, it accepts too; anything else it leaves to ArgumentParser.
@Suite struct SyncCommandArgumentsTests {
    static func argumentParser(_ arguments: [String]) -> SyncCommand? {
        (try? SyncCommand.parseAsRoot(arguments)) as? SyncCommand
    }

    /// Checks one command line; returns whether the quick reading accepted it.
    @discardableResult
    static func check(_ arguments: [String], wellFormed: Bool, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let quick = SyncCommand.parseWellFormed(arguments)
        let reference = argumentParser(arguments)
        if let quick {
            guard let reference else {
                Issue.record("read \(arguments) although ArgumentParser refuses it", sourceLocation: sourceLocation)
                return true
            }
            #expect(quick == reference.arguments, "\(arguments)", sourceLocation: sourceLocation)
        } else if wellFormed {
            #expect(reference == nil, "left \(arguments) to ArgumentParser, which accepts it", sourceLocation: sourceLocation)
        }
        return quick != nil
    }

    /// The plain values hold every option of the command: one field for each of its
    /// properties (the TLS option group's in a group of their own), so an option added to
    /// the command and not to them fails here.
    @Test func theValuesHoldEveryOption() throws {
        let command = try #require(Self.argumentParser(["-u", "alice", "/tmp/a", "/tmp/b"]))
        #expect(Mirror(reflecting: command).children.count == Mirror(reflecting: command.arguments).children.count)
        #expect(Mirror(reflecting: command.tlsOptions).children.count == Mirror(reflecting: command.arguments.tls).children.count)
    }

    @Test func typicalCommandLines_areReadAsArgumentParserReadsThem() throws {
        let lines: [[String]] = [
            ["-u", "alice", "/tmp/a/Maildir", "/tmp/b/Maildir"],
            ["--user", "alice", "--full", "--json", "/tmp/a", "/tmp/b"],
            ["/tmp/a", "--user=bob@example.org", "/tmp/b", "--dry-run", "--lock-timeout", "2.5", "--state-dir=/var/lib/duplex state"],
            ["-u", "bob", "--tls-cert", "/etc/duplex/a.pem", "--tls-key", "/etc/duplex/a.key", "--tls-ca", "/etc/duplex/ca.pem",
             "--peer", "hostb.example.org", "--peer=hostc.example.org, hostd", "--io-timeout", "30", "/srv/mail/bob", "tls://hostb.example.org:7445"],
            ["-u", "carol", "--config", "/etc/duplex/agent.yaml", "--accept-mass-expunge", "/srv/mail/carol", "tls://[::1]:7445"],
            ["-u", "dave", "--restore-mass-expunge", "--lock-timeout=0", "/srv/a", "/srv/b"],
            ["-u", "erin", "--agent", "/run/duplex/sync.sock", "--config", "/etc/duplex/agent.yaml", "/srv/mail/erin", "tls://hostb:7445"],
        ]
        for line in lines {
            #expect(Self.check(line, wellFormed: true), "not read: \(line)")
        }
    }

    @Test func otherCommandLines_areLeftToArgumentParser() throws {
        let lines: [[String]] = [
            ["--help"], ["-h"], ["--version"], ["--generate-completion-script", "bash"],
            ["-u", "alice", "/tmp/a"],  // one side
            ["-u", "alice", "/tmp/a", "/tmp/b", "/tmp/c"],  // three
            ["/tmp/a", "/tmp/b"],  // no user
            ["-u", "alice", "-u", "bob", "/tmp/a", "/tmp/b"],  // repeated
            ["-u", "alice", "--full", "--full", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "--lock-timeout", "-1", "/tmp/a", "/tmp/b"],  // a value like an option
            ["-u", "alice", "--lock-timeout", "soon", "/tmp/a", "/tmp/b"],  // not a number
            ["-u", "alice", "--lock-timeout", "7200", "/tmp/a", "/tmp/b"],  // refused by validate()
            ["-u", "", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "--user=", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "--", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "--fast", "/tmp/a", "/tmp/b"],  // unknown
            ["-u", "alice", "--full=true", "/tmp/a", "/tmp/b"],
            ["-ualice", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "--agent", "/run/a.sock", "--agent", "/run/b.sock", "/tmp/a", "/tmp/b"],  // repeated
            ["-u", "alice", "--agent", "/" + String(repeating: "s", count: 107), "/tmp/a", "/tmp/b"],  // too long for a socket
            ["-u", "alice", "/tmp/a", "/tmp/a"],  // one root twice
            ["-u", "alice", "/tmp/a", "tls://hostb:7445"],  // no TLS files
            ["-u", "alice", "--accept-mass-expunge", "--restore-mass-expunge", "/tmp/a", "/tmp/b"],
            ["-u", "alice", "/tmp/a", "-"],
        ]
        for line in lines {
            #expect(SyncCommand.parseWellFormed(line) == nil, "read: \(line)")
            Self.check(line, wellFormed: false)
        }
    }

    /// Random command lines from every option, flag and form the quick reading knows, in
    /// random order, some with one thing wrong (repeated, unknown, a bad or missing value,
    /// help, a third side): compared with ArgumentParser line by line.
    @Test(arguments: [UInt64(1), 2, 3, 0xC0FFEE])
    func randomCommandLines_agreeWithArgumentParser(seed: UInt64) throws {
        var random = DemoRandom(seed: seed)
        var read = 0
        let count = 300
        for _ in 0..<count {
            let (line, wellFormed) = Self.randomLine(&random)
            if Self.check(line, wellFormed: wellFormed) { read += 1 }
        }
        // Most lines are well formed and valid: the quick reading is not bypassed.
        #expect(read > count / 3, "only \(read) of \(count) read")
    }

    static let values = ["alice", "bob@example.org", "a b", "x=y", "ünï", "/var/lib/duplex", "30", "0.25"]
    static let numbers = ["0", "1", "2.5", "30", "3600", "86400", "1e2", "0.001"]
    static let badNumbers = ["-1", "soon", "", "7200", "nan"]

    static func randomLine(_ random: inout DemoRandom) -> (line: [String], wellFormed: Bool) {
        var groups: [[String]] = []
        func option(_ name: String, _ value: String, short: String? = nil) -> [String] {
            switch Int.random(in: 0..<3, using: &random) {
            case 0: return ["\(name)=\(value)"]
            case 1 where short != nil: return [short!, value]
            default: return [name, value]
            }
        }
        groups.append(option("--user", values.randomElement(using: &random)!, short: "-u"))
        for flag in ["--full", "--dry-run", "--json", "--accept-mass-expunge", "--restore-mass-expunge"] where Int.random(in: 0..<3, using: &random) == 0 {
            groups.append([flag])
        }
        if Bool.random(using: &random) { groups.append(option("--state-dir", "/tmp/state \(Int.random(in: 0..<9, using: &random))")) }
        if Bool.random(using: &random) { groups.append(option("--lock-timeout", numbers.randomElement(using: &random)!)) }
        if Bool.random(using: &random) { groups.append(option("--io-timeout", numbers.randomElement(using: &random)!)) }
        if Int.random(in: 0..<4, using: &random) == 0 { groups.append(option("--agent", "/run/duplex/sync.sock")) }
        let remote = Bool.random(using: &random)
        if remote || Int.random(in: 0..<4, using: &random) == 0 {
            if Int.random(in: 0..<4, using: &random) == 0 {
                groups.append(option("--config", "/etc/duplex/agent.yaml"))
            } else {
                groups.append(option("--tls-cert", "/etc/duplex/host.pem"))
                groups.append(option("--tls-key", "/etc/duplex/host.key"))
                groups.append(option("--tls-ca", "/etc/duplex/ca.pem"))
            }
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                groups.append(option("--peer", ["hostb", "hostc.example.org", "a, b", "d,e"].randomElement(using: &random)!))
            }
        }
        var wellFormed = false
        switch Int.random(in: 0..<24, using: &random) {
        case 0: groups.append(groups[0])  // repeated user
        case 1: groups.append(["--" + ["fast", "help", "version", "verbose", "separator"].randomElement(using: &random)!])
        case 2: groups.append(option("--lock-timeout", badNumbers.randomElement(using: &random)!))
        case 3: groups.append(["--full"]); groups.append(["--full"])
        case 4: groups.append(["/tmp/third"])
        case 5: groups.append(["--io-timeout"])
        case 6: groups.removeFirst()  // no user
        case 7: groups.append(["-h"])
        default: wellFormed = true
        }
        groups.shuffle(using: &random)
        let sideA = "/tmp/duplex-args-a", sideB = remote ? "tls://hostb.example.org:7445" : "/tmp/duplex-args-b"
        let indexA = Int.random(in: 0...groups.count, using: &random)
        groups.insert([sideA], at: indexA)
        groups.insert([sideB], at: Int.random(in: (indexA + 1)...groups.count, using: &random))
        return (groups.flatMap { $0 }, wellFormed)
    }
}

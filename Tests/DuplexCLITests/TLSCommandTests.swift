import DuplexTLS
import Foundation
import MailStoreTestSupport
import Testing

/// Runs the built `duplex tls init` and checks its files, table, `--json` and exit codes.
@Suite struct TLSCommandTests {
    func duplex(_ arguments: String...) throws -> ExternalCommand.Result {
        try ExternalCommand.run(ExternalCommand.duplexExecutable, arguments)
    }

    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func tlsInit_writesTheCAAndHostFiles_andPrintsATable() throws {
        try TemporaryDirectory.with(prefix: "duplex-tls-cli") { scratch in
            let out = scratch.appending("certs")
            let result = try duplex("tls", "init", "--out", out, "--hosts", "mx1.example.com, 10.0.0.5", "--days", "30")
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 4)
            #expect(lines[0].hasPrefix("HOST") && lines[0].contains("CERTIFICATE") && lines[0].contains("EXPIRES"))
            #expect(lines[1].hasPrefix("mx1.example.com  ") && lines[1].contains(out + "/mx1.example.com.pem"))
            #expect(lines[2].hasPrefix("10.0.0.5 ") && lines[2].contains(out + "/10.0.0.5.key"))
            // Columns are aligned: the certificate column starts at the same place in each row.
            let column = try #require(lines[0].range(of: "CERTIFICATE")).lowerBound.utf16Offset(in: lines[0])
            for line in lines[1...2] { #expect(line.range(of: out)?.lowerBound.utf16Offset(in: line) == column) }
            #expect(lines[3].hasPrefix("created CA \"Duplex Development CA\""))
            #expect(try mode(out) == 0o700)
            #expect(try mode(out + "/ca.key") == 0o600)
            #expect(try mode(out + "/mx1.example.com.key") == 0o600)
            #expect(try mode(out + "/10.0.0.5.pem") == 0o644)
            let authority = try #require(try TLSCredentialFiles(directory: out).loadAuthority())
            let leaf = try TLSCredentialFiles(directory: out).loadCredential(for: TLSHostName("10.0.0.5"))
            #expect(leaf.certificate.issuer == authority.certificate.subject)
        }
    }

    /// The umask is process-wide, so it is set in a child shell rather than in the test process.
    @Test func fileModes_doNotDependOnTheUmask() throws {
        try TemporaryDirectory.with(prefix: "duplex-tls-cli") { scratch in
            for umask in ["000", "077"] {
                let out = scratch.appending("certs-\(umask)")
                let result = try ExternalCommand.run(
                    "/bin/sh", ["-c", "umask \(umask) && exec \"$0\" tls init --out \"$1\" --hosts mx1.example.com",
                                ExternalCommand.duplexExecutable, out])
                #expect(result.status == 0, "\(result.stderr)")
                #expect(try mode(out) == 0o700)
                #expect(try mode(out + "/ca.key") == 0o600)
                #expect(try mode(out + "/mx1.example.com.key") == 0o600)
                #expect(try mode(out + "/ca.pem") == 0o644)
                #expect(try mode(out + "/mx1.example.com.pem") == 0o644)
            }
        }
    }

    @Test func tlsInitJSON_reusesTheCA_andHasTheDocumentedKeys() throws {
        try TemporaryDirectory.with(prefix: "duplex-tls-cli") { scratch in
            let out = scratch.appending("certs")
            #expect(try duplex("tls", "init", "--out", out, "--hosts", "mx1.example.com", "--ca-name", "Ops CA").status == 0)
            let result = try duplex("tls", "init", "--out", out, "--hosts", "mx2.example.com", "--json")
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            #expect(Set(object.keys) == ["directory", "ca", "hosts"])
            let ca = try #require(object["ca"] as? [String: Any])
            #expect(Set(ca.keys) == ["name", "certificate", "key", "expires", "created"])
            #expect(ca["name"] as? String == "Ops CA")
            #expect(ca["created"] as? Bool == false)
            #expect(ca["certificate"] as? String == out + "/ca.pem")
            let hosts = try #require(object["hosts"] as? [[String: Any]])
            #expect(hosts.count == 1)
            #expect(Set(hosts[0].keys) == ["host", "certificate", "key", "expires"])
            #expect(hosts[0]["host"] as? String == "mx2.example.com")
            #expect(hosts[0]["key"] as? String == out + "/mx2.example.com.key")
            let expires = try #require(hosts[0]["expires"] as? String)
            #expect(try Date(expires, strategy: .iso8601) > Date().addingTimeInterval(800 * 86_400))
        }
    }

    @Test func tlsInit_badInput_exits64_andWritesNothing() throws {
        try TemporaryDirectory.with(prefix: "duplex-tls-cli") { scratch in
            let out = scratch.appending("certs")
            for (hosts, named) in [("mx1.example.com,bad_host", "bad_host"), ("ok.example,,x.example", "empty"), ("ca", "ca"), ("10.0.0.256", "10.0.0.256")] {
                let result = try duplex("tls", "init", "--out", out, "--hosts", hosts)
                #expect(result.status == 64, "\(hosts): \(result.stderr)")
                #expect(result.stderr.contains(named), "\(hosts): \(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: out))
            }
            #expect(try duplex("tls", "init", "--out", out).status == 64)
            #expect(try duplex("tls", "init", "--out", out, "--hosts", "a.example", "--days", "0").status == 64)
            #expect(try duplex("tls", "init", "--out", out, "--hosts", "a.example", "--ca-name", "").status == 64)
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    @Test func tlsInit_refusesToOverwriteAKey_withoutForce() throws {
        try TemporaryDirectory.with(prefix: "duplex-tls-cli") { scratch in
            let out = scratch.appending("certs")
            #expect(try duplex("tls", "init", "--out", out, "--hosts", "mx1.example.com").status == 0)
            let key = out + "/mx1.example.com.key"
            let before = try String(contentsOfFile: key, encoding: .utf8)
            let refused = try duplex("tls", "init", "--out", out, "--hosts", "mx1.example.com")
            #expect(refused.status == 73, "\(refused.stderr)")
            #expect(refused.stderr.contains(key) && refused.stderr.contains("--force"))
            #expect(try String(contentsOfFile: key, encoding: .utf8) == before)
            // A CA name that is not the existing CA's is bad input.
            #expect(try duplex("tls", "init", "--out", out, "--hosts", "mx9.example.com", "--ca-name", "Other").status == 64)
            let forced = try duplex("tls", "init", "--out", out, "--hosts", "mx1.example.com", "--force")
            #expect(forced.status == 0, "\(forced.stderr)")
            #expect(forced.stdout.contains("used existing CA"))
            #expect(try String(contentsOfFile: key, encoding: .utf8) != before)
            #expect(try mode(key) == 0o600)
        }
    }
}

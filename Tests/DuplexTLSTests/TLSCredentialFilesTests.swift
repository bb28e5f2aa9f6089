import DuplexTLS
import Foundation
import Testing
import X509

@Suite struct TLSCredentialFilesTests {
    @Test func issue_writesTheAuthorityAndOneCredentialPerHost_withModes() throws {
        try ScratchDirectory.with { scratch in
            let directory = scratch + "/certs/dev"
            let files = TLSCredentialFiles(directory: directory)
            let report = try files.issue(hosts: ["mx1.example.com", "10.0.0.5"], authorityName: "Files CA", validityDays: 30)
            #expect(report.createdDirectory)
            #expect(report.authority.isNew && report.authority.name == "Files CA")
            #expect(report.hosts.map(\.host.name) == ["mx1.example.com", "10.0.0.5"])
            #expect(try ScratchDirectory.contents(directory) == [
                "10.0.0.5.key", "10.0.0.5.pem", "ca.key", "ca.pem", "mx1.example.com.key", "mx1.example.com.pem",
            ])
            #expect(try ScratchDirectory.mode(directory) == 0o700)
            for name in ["ca.key", "mx1.example.com.key", "10.0.0.5.key"] {
                #expect(try ScratchDirectory.mode(directory + "/" + name) == 0o600, "\(name)")
            }
            for name in ["ca.pem", "mx1.example.com.pem", "10.0.0.5.pem"] {
                #expect(try ScratchDirectory.mode(directory + "/" + name) == 0o644, "\(name)")
            }
            // The host file holds the leaf only, and loads back with its key.
            let pem = try String(contentsOfFile: directory + "/mx1.example.com.pem", encoding: .utf8)
            #expect(pem.components(separatedBy: "BEGIN CERTIFICATE").count == 2)
            let host = try TLSHostName("mx1.example.com")
            let credential = try files.loadCredential(for: host)
            #expect(credential.certificate.notValidAfter == report.hosts[0].notValidAfter)
            let authority = try #require(try files.loadAuthority())
            #expect(credential.certificate.issuer == authority.certificate.subject)
            #expect(files.certificatePath(for: host) == directory + "/mx1.example.com.pem")
            #expect(files.keyPath(for: host) == directory + "/mx1.example.com.key")
        }
    }

    @Test func issue_reusesTheExistingAuthority_toAddHosts() throws {
        try ScratchDirectory.with { directory in
            let files = TLSCredentialFiles(directory: directory)
            let first = try files.issue(hosts: ["mx1.example.com"])
            #expect(!first.createdDirectory)
            let caBefore = try String(contentsOfFile: files.authorityCertificatePath, encoding: .utf8)
            let second = try files.issue(hosts: ["mx2.example.com"])
            #expect(!second.authority.isNew)
            #expect(try String(contentsOfFile: files.authorityCertificatePath, encoding: .utf8) == caBefore)
            let authority = try #require(try files.loadAuthority())
            let leaf = try files.loadCredential(for: TLSHostName("mx2.example.com"))
            #expect(leaf.certificate.issuer == authority.certificate.subject)
            #expect(authority.certificate.publicKey.isValidSignature(leaf.certificate.signature, for: leaf.certificate))
            // Naming a different CA is an error, not a silent reuse.
            let error = #expect(throws: DuplexTLSError.self) { try files.issue(hosts: ["mx3.example.com"], authorityName: "Other CA") }
            #expect(error?.code == .invalidArgument)
            #expect(!FileManager.default.fileExists(atPath: directory + "/mx3.example.com.key"))
        }
    }

    @Test func invalidHostNames_areRefused_andNothingIsWritten() throws {
        try ScratchDirectory.with { scratch in
            let directory = scratch + "/new"
            let files = TLSCredentialFiles(directory: directory)
            for hosts in [["mx1.example.com", "bad_host"], ["ok.example", "ca"], ["a.example", "A.example"], []] {
                let error = #expect(throws: DuplexTLSError.self) { try files.issue(hosts: hosts) }
                #expect(error?.code == .invalidHostName || error?.code == .invalidArgument)
                if let bad = hosts.last { #expect(error?.description.contains(bad) == true, "\(String(describing: error))") }
                #expect(!FileManager.default.fileExists(atPath: directory))
            }
            for days in [0, 40_000] {
                #expect(throws: DuplexTLSError.self) { try files.issue(hosts: ["a.example"], validityDays: days) }
                #expect(!FileManager.default.fileExists(atPath: directory))
            }
        }
    }

    @Test func existingHostFiles_areNotOverwrittenWithoutForce() throws {
        try ScratchDirectory.with { directory in
            let files = TLSCredentialFiles(directory: directory)
            _ = try files.issue(hosts: ["mx1.example.com"])
            let keyPath = directory + "/mx1.example.com.key"
            let keyBefore = try String(contentsOfFile: keyPath, encoding: .utf8)
            let error = #expect(throws: DuplexTLSError.self) { try files.issue(hosts: ["mx2.example.com", "mx1.example.com"]) }
            #expect(error?.code == .alreadyExists)
            #expect(error?.path == keyPath)
            #expect(error?.description.contains("--force") == true)
            // Refused before anything was written: not even the first host.
            #expect(!FileManager.default.fileExists(atPath: directory + "/mx2.example.com.key"))
            #expect(try String(contentsOfFile: keyPath, encoding: .utf8) == keyBefore)
            // The lower-level writer refuses too.
            let credential = try #require(try files.loadAuthority()).makeLeafCredential(for: "mx1.example.com")
            #expect(throws: DuplexTLSError.self) { try files.write(credential, for: TLSHostName("mx1.example.com")) }
            // With force the key is replaced, still 0600, and the CA stays.
            let caBefore = try String(contentsOfFile: files.authorityKeyPath, encoding: .utf8)
            _ = try files.issue(hosts: ["mx1.example.com"], force: true)
            #expect(try String(contentsOfFile: keyPath, encoding: .utf8) != keyBefore)
            #expect(try ScratchDirectory.mode(keyPath) == 0o600)
            #expect(try String(contentsOfFile: files.authorityKeyPath, encoding: .utf8) == caBefore)
            // No temporary files are left behind.
            #expect(try ScratchDirectory.contents(directory) == ["ca.key", "ca.pem", "mx1.example.com.key", "mx1.example.com.pem"])
        }
    }

    @Test func damagedAuthorityFiles_areReportedByPath() throws {
        try ScratchDirectory.with { directory in
            let files = TLSCredentialFiles(directory: directory)
            #expect(try files.loadAuthority() == nil)
            _ = try files.issue(hosts: ["mx1.example.com"])

            try FileManager.default.removeItem(atPath: files.authorityKeyPath)
            var error = #expect(throws: DuplexTLSError.self) { try files.issue(hosts: ["mx2.example.com"]) }
            #expect(error?.code == .notFound)
            #expect(error?.path == files.authorityKeyPath)

            try "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".write(toFile: files.authorityKeyPath, atomically: true, encoding: .utf8)
            error = #expect(throws: DuplexTLSError.self) { try files.loadAuthority() }
            #expect(error?.code == .badData)
            #expect(error?.path == files.authorityKeyPath)

            // A host's key is not the CA's key.
            try FileManager.default.removeItem(atPath: files.authorityKeyPath)
            try FileManager.default.copyItem(atPath: directory + "/mx1.example.com.key", toPath: files.authorityKeyPath)
            error = #expect(throws: DuplexTLSError.self) { try files.loadAuthority() }
            #expect(error?.code == .badData)
            #expect(error?.path == files.authorityKeyPath)

            // A leaf in place of the CA certificate is not a CA.
            try FileManager.default.removeItem(atPath: files.authorityCertificatePath)
            try FileManager.default.copyItem(atPath: directory + "/mx1.example.com.pem", toPath: files.authorityCertificatePath)
            error = #expect(throws: DuplexTLSError.self) { try files.loadAuthority() }
            #expect(error?.code == .badData)
            #expect(error?.path == files.authorityCertificatePath)
        }
    }

    @Test func expiredAuthority_isRefused() throws {
        try ScratchDirectory.with { directory in
            let files = TLSCredentialFiles(directory: directory)
            let longAgo = Date().addingTimeInterval(-400 * 86_400)
            try files.write(authority: DevelopmentCertificateAuthority(validityDays: 365, now: longAgo))
            let error = #expect(throws: DuplexTLSError.self) { try files.issue(hosts: ["mx1.example.com"]) }
            #expect(error?.code == .badData)
            #expect(error?.description.contains("expired") == true)
        }
    }
}

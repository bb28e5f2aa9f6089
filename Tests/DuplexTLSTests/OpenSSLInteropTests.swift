import DuplexTLS
import Foundation
import Testing

/// Checks the written files with the system `openssl` tool, an independent implementation;
/// skipped where it is not installed.
@Suite struct OpenSSLInteropTests {
    /// The `openssl` executable on `PATH`, if any.
    static let openssl: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { $0 + "/openssl" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `openssl` with `arguments`; returns its exit status and its output and errors together.
    static func openssl(_ arguments: String...) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(openssl))
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    @Test(.enabled(if: openssl != nil, "openssl is not installed"))
    func opensslVerify_acceptsTheHostCertificates_asServerAndClient() throws {
        try ScratchDirectory.with { directory in
            _ = try TLSCredentialFiles(directory: directory).issue(hosts: ["mx1.example.com", "10.0.0.5"])
            let ca = directory + "/ca.pem"
            for host in ["mx1.example.com", "10.0.0.5"] {
                let certificate = directory + "/\(host).pem"
                let plain = try Self.openssl("verify", "-CAfile", ca, certificate)
                #expect(plain.status == 0 && plain.output.contains("\(certificate): OK"), "\(plain.output)")
                for purpose in ["sslserver", "sslclient"] {
                    let result = try Self.openssl("verify", "-purpose", purpose, "-CAfile", ca, certificate)
                    #expect(result.status == 0 && result.output.contains(": OK"), "\(purpose): \(result.output)")
                }
                let key = try Self.openssl("pkey", "-in", directory + "/\(host).key", "-noout")
                #expect(key.status == 0, "\(key.output)")
            }
            let byName = try Self.openssl("verify", "-verify_hostname", "mx1.example.com", "-CAfile", ca, directory + "/mx1.example.com.pem")
            #expect(byName.status == 0, "\(byName.output)")
            let byAddress = try Self.openssl("verify", "-verify_ip", "10.0.0.5", "-CAfile", ca, directory + "/10.0.0.5.pem")
            #expect(byAddress.status == 0, "\(byAddress.output)")
        }
    }

    @Test(.enabled(if: openssl != nil, "openssl is not installed"))
    func opensslVerify_rejectsACertificateFromAnotherAuthority() throws {
        try ScratchDirectory.with { directory in
            _ = try TLSCredentialFiles(directory: directory).issue(hosts: ["mx1.example.com"])
            let stranger = try DevelopmentCertificateAuthority.makeUntrustedLeafCredential(for: "mx1.example.com")
            let path = directory + "/stranger.pem"
            try stranger.certificatePEM.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try Self.openssl("verify", "-CAfile", directory + "/ca.pem", path)
            #expect(result.status != 0, "\(result.output)")
        }
    }
}

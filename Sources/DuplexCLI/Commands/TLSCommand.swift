import ArgumentParser
import DuplexTLS
import Foundation

/// `duplex tls …`: development certificates for dsync's mutual TLS.
struct TLSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Make development certificates for the agents' mutual TLS.",
        subcommands: [TLSInitCommand.self]
    )
}

/// `duplex tls init --out DIR --hosts NAME,… [--ca-name NAME] [--days N] [--force] [--json]`:
/// a development CA (made once, then reused) and one certificate and key per host.
struct TLSInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a development CA in a directory (or reuse the one there) and issue a certificate and key for each host.",
        discussion: """
            Writes DIR/ca.pem and DIR/ca.key (the CA, unless DIR already has one) and \
            DIR/HOST.pem and DIR/HOST.key for each host; keys are mode 0600, DIR is created \
            with mode 0700. Each host certificate names the host (a DNS name or an IP \
            address) and is valid as TLS client and server. Give every agent ca.pem and \
            its own HOST.pem and HOST.key; ca.key is needed only to add hosts later.

            Exit codes: 0 written; 64 bad host name or option; 65 the CA files are damaged, \
            mismatched or expired; 68 ca.pem or ca.key is missing its partner; 73 a host's \
            files exist (see --force) or cannot be created; 74 I/O error; 77 permission denied.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The directory for the PEM files (created with mode 0700 if missing).", valueName: "DIR"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Host names or IP addresses to issue certificates for, comma-separated; may be repeated.", valueName: "NAME,…"))
    var hosts: [String]

    @Option(name: .long, help: ArgumentHelp("Common name of a new CA (an existing CA must have this name).", valueName: "NAME"))
    var caName: String?

    @Option(name: .long, help: ArgumentHelp("Days the host certificates are valid (at most until the CA expires).", valueName: "N"))
    var days: Int = DevelopmentCertificateAuthority.defaultLeafValidityDays

    @Flag(help: "Replace existing host certificates and keys (the CA is never replaced).")
    var force = false

    @Flag(help: "Print {directory, ca: {name, certificate, key, expires, created}, hosts: [{host, certificate, key, expires}]}.")
    var json = false

    /// `--hosts` split at commas, blanks around names removed.
    var hostNames: [String] {
        hosts.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out must not be empty") }
        do {
            _ = try TLSCredentialFiles.parseHosts(hostNames)
        } catch let error as DuplexTLSError {
            throw ValidationError("--hosts: \(error.description)")
        }
        let range = DevelopmentCertificateAuthority.validityDaysRange
        guard range.contains(days) else {
            throw ValidationError("--days must be between \(range.lowerBound) and \(range.upperBound), got \(days)")
        }
    }

    /// The `--json` document; the table shows the same.
    struct Report: Encodable {
        /// The CA's files (with `name` and `created`) or a host's (with `host`); the keys
        /// that do not apply are left out.
        struct Files: Encodable {
            var host: String?
            var name: String?
            var certificate: String
            var key: String
            var expires: String
            var created: Bool?
        }

        var directory: String
        var ca: Files
        var hosts: [Files]

        init(_ issued: TLSCredentialFiles.IssueReport, directory: String) {
            let authority = issued.authority
            self.directory = directory
            self.ca = Files(
                name: authority.name, certificate: authority.certificatePath, key: authority.keyPath,
                expires: authority.notValidAfter.formatted(.iso8601), created: authority.isNew)
            self.hosts = issued.hosts.map {
                Files(host: $0.host.name, certificate: $0.certificatePath, key: $0.keyPath, expires: $0.notValidAfter.formatted(.iso8601))
            }
        }
    }

    func run() throws {
        let issued: TLSCredentialFiles.IssueReport
        do {
            issued = try TLSCredentialFiles(directory: out).issue(
                hosts: hostNames, authorityName: caName, validityDays: days, force: force)
        } catch let error as DuplexTLSError {
            Output.error(error.description)
            throw ExitCode(error.code.exitCode)
        }
        if json { return try Output.json(Report(issued, directory: out)) }
        let authority = issued.authority
        Output.write(Output.table(
            header: ["HOST", "CERTIFICATE", "KEY", "EXPIRES"],
            rows: issued.hosts.map { [$0.host.name, $0.certificatePath, $0.keyPath, $0.notValidAfter.formatted(.iso8601)] }))
        Output.write(
            "\(authority.isNew ? "created" : "used existing") CA \"\(authority.name)\": \(authority.certificatePath), "
                + "\(authority.keyPath), expires \(authority.notValidAfter.formatted(.iso8601))\n")
    }
}

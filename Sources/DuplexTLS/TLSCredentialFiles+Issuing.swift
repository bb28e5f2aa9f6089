import Foundation

extension TLSCredentialFiles {
    /// What ``issue(hosts:authorityName:validityDays:force:now:)`` wrote.
    public struct IssueReport: Sendable {
        /// The CA's files and whether they were created by this call.
        public struct AuthorityFiles: Sendable {
            /// The CA's common name.
            public var name: String
            /// `DIRECTORY/ca.pem`.
            public var certificatePath: String
            /// `DIRECTORY/ca.key`.
            public var keyPath: String
            /// When the CA certificate expires.
            public var notValidAfter: Date
            /// Whether the CA was made by this call (otherwise the existing one was used).
            public var isNew: Bool
        }

        /// One host's files.
        public struct HostFiles: Sendable {
            /// The host, in canonical form.
            public var host: TLSHostName
            /// `DIRECTORY/HOST.pem`.
            public var certificatePath: String
            /// `DIRECTORY/HOST.key`.
            public var keyPath: String
            /// When the host's certificate expires.
            public var notValidAfter: Date
        }

        /// Whether ``TLSCredentialFiles/directory`` was created by this call.
        public var createdDirectory: Bool
        /// The CA that signed the hosts' certificates.
        public var authority: AuthorityFiles
        /// The hosts, in the order given.
        public var hosts: [HostFiles]
    }

    /// Makes sure the directory holds a CA and issues a certificate and key for each host:
    /// what `duplex tls init` does.
    ///
    /// Everything that can be checked is checked before anything is written: the host
    /// names, the validity, the existing CA and files that would be overwritten. So bad
    /// input leaves the directory as it was. The directory is created with mode 0700 if it
    /// is missing. An existing CA (`ca.pem` and `ca.key`) is reused and never replaced, not
    /// even with `force`; otherwise a new one is made.
    ///
    /// - Parameters:
    ///   - hosts: Host names as given, DNS names or IP addresses; at least one, no duplicates.
    ///   - authorityName: The common name of a new CA (default
    ///     ``DevelopmentCertificateAuthority/defaultName``). When a CA exists and this is
    ///     given, it must be the existing CA's name.
    ///   - validityDays: How long the host certificates are valid, in days (cut to the CA's
    ///     expiry); a new CA is valid for at least ten years and at least this long.
    ///   - force: Replace existing host certificates and keys.
    ///   - now: The current time (injected for tests).
    /// - Returns: The files written and their expiry dates.
    /// - Throws: ``DuplexTLSError``: ``DuplexTLSError/Code/invalidHostName`` naming the first
    ///   bad host, ``DuplexTLSError/Code/invalidArgument`` for no or duplicate hosts, a bad
    ///   validity or a CA name that does not match, ``DuplexTLSError/Code/alreadyExists``
    ///   naming the first file that would be overwritten without `force`, the errors of
    ///   ``loadAuthority(now:)``, or an I/O failure naming the file.
    public func issue(
        hosts: [String], authorityName: String? = nil,
        validityDays: Int = DevelopmentCertificateAuthority.defaultLeafValidityDays,
        force: Bool = false, now: Date = Date()
    ) throws -> IssueReport {
        let names = try Self.parseHosts(hosts)
        guard DevelopmentCertificateAuthority.validityDaysRange.contains(validityDays) else {
            let range = DevelopmentCertificateAuthority.validityDaysRange
            throw DuplexTLSError(.invalidArgument, "the validity must be \(range.lowerBound) to \(range.upperBound) days, got \(validityDays)")
        }
        let existing = PEMFileSystem.isDirectory(directory) ? try loadAuthority(now: now) : nil
        if let existing, let authorityName, authorityName != existing.name {
            throw DuplexTLSError(
                .invalidArgument,
                "the CA here is \(existing.name.debugDescription), not \(authorityName.debugDescription); omit the CA name to use it, or choose another directory",
                path: authorityCertificatePath)
        }
        if !force {
            for host in names {
                for path in [keyPath(for: host), certificatePath(for: host)] where PEMFileSystem.exists(path) {
                    throw DuplexTLSError(.alreadyExists, "exists; not overwritten (use --force to replace it)", path: path, host: host.name)
                }
            }
        }
        let authority = try existing ?? DevelopmentCertificateAuthority(
            name: authorityName ?? DevelopmentCertificateAuthority.defaultName,
            validityDays: max(validityDays, DevelopmentCertificateAuthority.defaultAuthorityValidityDays),
            now: now)

        let createdDirectory = try createDirectory()
        if existing == nil { try write(authority: authority) }
        var issued: [IssueReport.HostFiles] = []
        for host in names {
            let credential = try authority.makeLeafCredential(for: host, validityDays: validityDays, now: now)
            try write(credential, for: host, force: force)
            issued.append(IssueReport.HostFiles(
                host: host, certificatePath: certificatePath(for: host), keyPath: keyPath(for: host),
                notValidAfter: credential.certificate.notValidAfter))
        }
        return IssueReport(
            createdDirectory: createdDirectory,
            authority: IssueReport.AuthorityFiles(
                name: authority.name, certificatePath: authorityCertificatePath, keyPath: authorityKeyPath,
                notValidAfter: authority.certificate.notValidAfter, isNew: existing == nil),
            hosts: issued)
    }

    /// Validates host names: at least one, each valid and not reserved, no name twice.
    ///
    /// - Returns: The canonical names, in the order given.
    /// - Throws: ``DuplexTLSError`` naming the first bad or repeated host.
    public static func parseHosts(_ hosts: [String]) throws -> [TLSHostName] {
        guard !hosts.isEmpty else { throw DuplexTLSError(.invalidArgument, "no host names given") }
        var names: [TLSHostName] = []
        for text in hosts {
            let name = try TLSHostName(text)
            try checkNotReserved(name)
            guard !names.contains(name) else {
                let alias = text == name.name ? "" : " (as \"\(text)\")"
                throw DuplexTLSError(.invalidArgument, "host \"\(name)\" is given twice\(alias)", host: text)
            }
            names.append(name)
        }
        return names
    }
}

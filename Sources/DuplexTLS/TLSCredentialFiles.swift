import Foundation

/// The PEM files of a development CA and its hosts in one directory, as `duplex tls init`
/// writes them and agents read them.
///
/// Layout of ``directory``:
///
/// | File | Content | Mode |
/// | --- | --- | --- |
/// | `ca.pem` | the CA certificate: the trust root every host is given | 0644 |
/// | `ca.key` | the CA private key (PKCS #8), needed only to issue more certificates | 0600 |
/// | `HOST.pem` | the host's leaf certificate only | 0644 |
/// | `HOST.key` | the host's private key (PKCS #8) | 0600 |
///
/// `HOST` is the canonical ``TLSHostName`` (`mx1.example.com`, `10.0.0.5`, `::1`). Every
/// file is written atomically (a temporary file created with its final mode, then renamed),
/// so a key is never readable by others and a reader never sees half a file. Existing files
/// are replaced only when `force` is passed.
public struct TLSCredentialFiles: Sendable {
    /// The CA certificate's file name: `ca.pem`.
    public static let authorityCertificateFileName = "ca.pem"
    /// The CA private key's file name: `ca.key`.
    public static let authorityKeyFileName = "ca.key"
    /// The mode of a directory this type creates: 0700.
    public static let directoryMode: mode_t = 0o700
    /// The mode of a private key file: 0600.
    public static let keyFileMode: mode_t = 0o600
    /// The mode of a certificate file: 0644.
    public static let certificateFileMode: mode_t = 0o644

    /// The directory holding the files, as given.
    public let directory: String

    /// Uses the files in `directory`; nothing is read or created until asked.
    public init(directory: String) {
        self.directory = directory
    }

    /// `DIRECTORY/ca.pem`.
    public var authorityCertificatePath: String { path(Self.authorityCertificateFileName) }
    /// `DIRECTORY/ca.key`.
    public var authorityKeyPath: String { path(Self.authorityKeyFileName) }

    /// `DIRECTORY/HOST.pem`.
    public func certificatePath(for host: TLSHostName) -> String { path(host.name + ".pem") }
    /// `DIRECTORY/HOST.key`.
    public func keyPath(for host: TLSHostName) -> String { path(host.name + ".key") }

    /// Creates ``directory`` with mode 0700 (parents 0755) if it does not exist yet.
    ///
    /// - Returns: Whether it was created; an existing directory is left as it is.
    /// - Throws: ``DuplexTLSError`` naming the path when it exists as a file or cannot be created.
    @discardableResult
    public func createDirectory() throws -> Bool {
        try PEMFileSystem.makeDirectory(directory, mode: Self.directoryMode)
    }

    /// Loads the CA from `ca.pem` and `ca.key`, if there is one.
    ///
    /// - Parameter now: The current time, to refuse an expired CA.
    /// - Returns: The CA, or `nil` when neither file exists.
    /// - Throws: ``DuplexTLSError`` naming the file: ``DuplexTLSError/Code/notFound`` when
    ///   only one of the two exists, ``DuplexTLSError/Code/badData`` when they do not parse,
    ///   do not match, are not a CA or the CA has expired.
    public func loadAuthority(now: Date = Date()) throws -> DevelopmentCertificateAuthority? {
        let hasCertificate = PEMFileSystem.exists(authorityCertificatePath)
        let hasKey = PEMFileSystem.exists(authorityKeyPath)
        switch (hasCertificate, hasKey) {
        case (false, false):
            return nil
        case (true, false):
            throw DuplexTLSError(.notFound, "missing: the CA in \(Self.authorityCertificateFileName) cannot sign without its key", path: authorityKeyPath)
        case (false, true):
            throw DuplexTLSError(.notFound, "missing: \(Self.authorityKeyFileName) is there without its certificate", path: authorityCertificatePath)
        case (true, true):
            let credential = try loadCredential(certificatePath: authorityCertificatePath, keyPath: authorityKeyPath)
            return try DuplexTLSError.naming(authorityCertificatePath) {
                try DevelopmentCertificateAuthority(credential: credential, now: now)
            }
        }
    }

    /// Loads a host's certificate and key.
    ///
    /// - Throws: ``DuplexTLSError`` naming the file that is missing, unreadable or does not
    ///   parse, or the certificate when the key does not match it.
    public func loadCredential(for host: TLSHostName) throws -> TLSCredential {
        try loadCredential(certificatePath: certificatePath(for: host), keyPath: keyPath(for: host))
    }

    /// Writes the CA's `ca.key` (0600), then `ca.pem` (0644).
    ///
    /// - Parameters:
    ///   - authority: The CA to save.
    ///   - force: Replace existing files; otherwise an existing file is an error.
    /// - Throws: ``DuplexTLSError`` naming the file: ``DuplexTLSError/Code/alreadyExists``
    ///   without `force`, or the I/O failure.
    public func write(authority: DevelopmentCertificateAuthority, force: Bool = false) throws {
        try write(authority.credential, certificatePath: authorityCertificatePath, keyPath: authorityKeyPath, force: force)
    }

    /// Writes a host's `HOST.key` (0600), then `HOST.pem` (0644).
    ///
    /// - Parameters:
    ///   - credential: The host's certificate and key.
    ///   - host: The host, naming the files.
    ///   - force: Replace existing files; otherwise an existing file is an error.
    /// - Throws: ``DuplexTLSError``: ``DuplexTLSError/Code/invalidHostName`` for a host
    ///   named `ca` (its files would be the CA's), ``DuplexTLSError/Code/alreadyExists``
    ///   naming the file without `force`, or the I/O failure.
    public func write(_ credential: TLSCredential, for host: TLSHostName, force: Bool = false) throws {
        try Self.checkNotReserved(host)
        try write(credential, certificatePath: certificatePath(for: host), keyPath: keyPath(for: host), force: force)
    }

    /// Refuses a host whose file names are the CA's.
    static func checkNotReserved(_ host: TLSHostName) throws {
        if host.name + ".pem" == authorityCertificateFileName {
            throw DuplexTLSError(
                .invalidHostName,
                "\"\(host.name)\" cannot be a host name here: its files would be the CA's \(authorityCertificateFileName) and \(authorityKeyFileName)",
                host: host.name)
        }
    }

    private func write(_ credential: TLSCredential, certificatePath: String, keyPath: String, force: Bool) throws {
        try PEMFileSystem.writeFile(credential.privateKeyPEM, to: keyPath, mode: Self.keyFileMode, replacing: force)
        try PEMFileSystem.writeFile(credential.certificatePEM, to: certificatePath, mode: Self.certificateFileMode, replacing: force)
    }

    private func loadCredential(certificatePath: String, keyPath: String) throws -> TLSCredential {
        let certificate = try DuplexTLSError.naming(certificatePath) {
            try TLSCredential.parseCertificate(PEMFileSystem.readFile(certificatePath))
        }
        return try DuplexTLSError.naming(keyPath) {
            try TLSCredential(
                certificate: certificate, privateKey: TLSCredential.parsePrivateKey(PEMFileSystem.readFile(keyPath)))
        }
    }

    private func path(_ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

import X509

/// A certificate and its private key: one host's TLS identity, or a CA's.
///
/// The same leaf credential serves as client and server identity (its extended key usage
/// has both). Pass ``certificatePEM`` and ``privateKeyPEM`` to a TLS library such as
/// swift-nio-ssl; the X.509 values are there to inspect.
public struct TLSCredential: Sendable {
    /// The certificate.
    public let certificate: Certificate
    /// The private key matching ``certificate``'s public key.
    public let privateKey: Certificate.PrivateKey
    /// ``certificate`` as one PEM `CERTIFICATE` block, ending with a newline.
    public let certificatePEM: String
    /// ``privateKey`` as one PEM `PRIVATE KEY` (PKCS #8) block, ending with a newline.
    public let privateKeyPEM: String

    /// Pairs a certificate with its key and encodes both as PEM.
    ///
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/badData`` when the key
    ///   does not match the certificate or either cannot be encoded.
    public init(certificate: Certificate, privateKey: Certificate.PrivateKey) throws {
        guard privateKey.publicKey == certificate.publicKey else {
            throw DuplexTLSError(.badData, "the private key does not match the certificate for \(certificate.subject)")
        }
        do {
            self.certificatePEM = try certificate.serializeAsPEM().pemString + "\n"
            self.privateKeyPEM = try privateKey.serializeAsPEM().pemString + "\n"
        } catch {
            throw DuplexTLSError(.badData, "cannot encode the credential for \(certificate.subject) as PEM", cause: error)
        }
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Parses a certificate and a private key from PEM text and checks that they match.
    ///
    /// - Parameters:
    ///   - certificatePEM: A PEM file's text; the first `CERTIFICATE` block is used.
    ///   - privateKeyPEM: A PEM `PRIVATE KEY`, `EC PRIVATE KEY` or `RSA PRIVATE KEY` block.
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/badData`` when either
    ///   does not parse or the key does not belong to the certificate.
    public init(certificatePEM: String, privateKeyPEM: String) throws {
        try self.init(
            certificate: Self.parseCertificate(certificatePEM), privateKey: Self.parsePrivateKey(privateKeyPEM))
    }

    /// The first certificate in PEM text.
    static func parseCertificate(_ pem: String) throws -> Certificate {
        do {
            return try Certificate(pemEncoded: firstCertificateBlock(of: pem))
        } catch {
            throw DuplexTLSError(.badData, "not a PEM certificate", cause: error)
        }
    }

    /// A private key in PEM text.
    static func parsePrivateKey(_ pem: String) throws -> Certificate.PrivateKey {
        do {
            return try Certificate.PrivateKey(pemEncoded: pem)
        } catch {
            throw DuplexTLSError(.badData, "not a PEM private key (PKCS #8, SEC 1 or RSA)", cause: error)
        }
    }

    /// The first `CERTIFICATE` block of `text`, so a chain file (leaf, then intermediates) loads.
    private static func firstCertificateBlock(of text: String) -> String {
        let end = "-----END CERTIFICATE-----"
        guard let range = text.range(of: end) else { return text }
        return String(text[..<range.upperBound])
    }
}

import Crypto
import Foundation
import SwiftASN1
import X509

/// A self-signed certificate authority for development and tests that issues the
/// certificates dsync's mutual TLS runs on.
///
/// The CA has an ECDSA P-256 key, a `basicConstraints` of CA with path length 0 (it signs
/// leaves only) and a `keyUsage` of `keyCertSign` and `cRLSign`, both critical. Each leaf
/// it issues gets its own P-256 key, the host name as subject common name and subject
/// alternative name, `serverAuth` and `clientAuth` extended key usages (one certificate is
/// both the client and the server identity of a host), `digitalSignature` key usage, a
/// random 160-bit serial, and key identifiers linking it to the CA.
///
/// Validity starts ``backdatingSeconds`` before `now` so that a peer whose clock is a
/// little behind accepts a certificate made a moment ago.
///
/// ```swift
/// let authority = try DevelopmentCertificateAuthority(name: "Test CA")
/// let server = try authority.makeLeafCredential(for: "mx1.example.com")
/// let stranger = try DevelopmentCertificateAuthority.makeUntrustedLeafCredential(for: "mx1.example.com")
/// ```
///
/// This is not a production CA: the key is kept in a plain file and there is no revocation.
public struct DevelopmentCertificateAuthority: Sendable {
    /// The common name of a CA created without one: `Duplex Development CA`.
    public static let defaultName = "Duplex Development CA"
    /// How long a new CA is valid, in days (10 years).
    public static let defaultAuthorityValidityDays = 3650
    /// How long a leaf certificate is valid, in days (825, the longest TLS server
    /// certificate lifetime Apple platforms accept).
    public static let defaultLeafValidityDays = 825
    /// The accepted range of validity periods, in days (1 day to 100 years).
    public static let validityDaysRange = 1...36_500
    /// How far before `now` a certificate's validity starts, in seconds (1 hour), to
    /// absorb clock skew between hosts.
    public static let backdatingSeconds = 3600

    /// The CA's certificate and private key.
    public let credential: TLSCredential

    /// The CA's certificate: the trust root to give both peers.
    public var certificate: Certificate { credential.certificate }

    /// The CA's subject common name.
    public var name: String { Self.commonName(of: credential.certificate.subject) ?? "" }

    /// Creates a new CA with a fresh P-256 key.
    ///
    /// - Parameters:
    ///   - name: The subject common name: 1 to 64 characters, no control characters.
    ///   - validityDays: How long the CA is valid, in days from `now`; in ``validityDaysRange``.
    ///   - now: The current time (injected for tests).
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/invalidArgument`` for a
    ///   bad name or validity, ``DuplexTLSError/Code/signingFailed`` if the certificate
    ///   cannot be made.
    public init(name: String = defaultName, validityDays: Int = defaultAuthorityValidityDays, now: Date = Date()) throws {
        guard (1...64).contains(name.count), !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw DuplexTLSError(.invalidArgument, "the CA name must be 1 to 64 characters without control characters, got \(name.debugDescription)")
        }
        let validity = try Self.validity(days: validityDays, now: now)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let keyIdentifier = SubjectKeyIdentifier(hash: key.publicKey).keyIdentifier
        let certificate = try Self.signing("the CA certificate \(name.debugDescription)") {
            let subject = try DistinguishedName { CommonName(name) }
            return try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: validity.lowerBound,
                notValidAfter: validity.upperBound,
                issuer: subject,
                subject: subject,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(keyIdentifier: keyIdentifier)
                    AuthorityKeyIdentifier(keyIdentifier: keyIdentifier)
                },
                issuerPrivateKey: key)
        }
        self.credential = try TLSCredential(certificate: certificate, privateKey: key)
    }

    /// Uses an existing CA, for example one loaded from `ca.pem` and `ca.key`.
    ///
    /// - Parameters:
    ///   - credential: The CA's certificate and matching private key.
    ///   - now: The current time (injected for tests).
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/badData`` when the
    ///   certificate is not a CA (`basicConstraints` CA:true and, if present, `keyUsage`
    ///   `keyCertSign`) or has expired.
    public init(credential: TLSCredential, now: Date = Date()) throws {
        let certificate = credential.certificate
        guard case .isCertificateAuthority = try? certificate.extensions.basicConstraints else {
            throw DuplexTLSError(.badData, "the certificate \(certificate.subject) is not a CA (basicConstraints CA:true is missing)")
        }
        if let keyUsage = try? certificate.extensions.keyUsage, !keyUsage.keyCertSign {
            throw DuplexTLSError(.badData, "the CA certificate \(certificate.subject) may not sign certificates (keyUsage lacks keyCertSign)")
        }
        guard certificate.notValidAfter > now else {
            throw DuplexTLSError(.badData, "the CA certificate \(certificate.subject) expired on \(Self.timestamp(certificate.notValidAfter))")
        }
        self.credential = credential
    }

    /// Issues a leaf certificate and key for a host.
    ///
    /// The certificate's subject common name is `host`; its subject alternative names are
    /// `host` followed by `alternativeNames` (duplicates dropped), each a `dNSName` or an
    /// `iPAddress` by its kind. Any valid name can be issued: use a name a peer will not
    /// allow to test that refusal.
    ///
    /// - Parameters:
    ///   - host: The host the certificate is for.
    ///   - alternativeNames: More names the same certificate is valid for.
    ///   - validityDays: Days from `now`; in ``validityDaysRange``. The end is cut to the
    ///     CA's own expiry, since a leaf cannot outlive its issuer.
    ///   - now: The current time (injected for tests; a past `now` makes expired certificates).
    /// - Returns: The leaf certificate (issued by ``certificate``) and its new private key.
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/invalidArgument`` for a
    ///   bad validity, ``DuplexTLSError/Code/signingFailed`` if signing fails.
    public func makeLeafCredential(
        for host: TLSHostName, alternativeNames: [TLSHostName] = [],
        validityDays: Int = defaultLeafValidityDays, now: Date = Date()
    ) throws -> TLSCredential {
        let requested = try Self.validity(days: validityDays, now: now)
        let notValidAfter = min(requested.upperBound, certificate.notValidAfter)
        var names: [TLSHostName] = []
        for name in [host] + alternativeNames where !names.contains(name) { names.append(name) }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let authorityKeyIdentifier = (try? certificate.extensions.subjectKeyIdentifier)?.keyIdentifier
            ?? SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier
        let issuer = certificate.subject
        let signingKey = credential.privateKey
        let leaf = try Self.signing("the certificate for \"\(host)\"") {
            try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: key.publicKey,
                notValidBefore: requested.lowerBound,
                notValidAfter: notValidAfter,
                issuer: issuer,
                subject: try DistinguishedName { CommonName(host.name) },
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage([.serverAuth, .clientAuth])
                    SubjectAlternativeNames(names.map(Self.generalName))
                    SubjectKeyIdentifier(hash: key.publicKey)
                    AuthorityKeyIdentifier(keyIdentifier: authorityKeyIdentifier)
                },
                issuerPrivateKey: signingKey)
        }
        return try TLSCredential(certificate: leaf, privateKey: key)
    }

    /// Issues a leaf certificate and key for a host given as text.
    ///
    /// - Parameters:
    ///   - hostName: A DNS name or IP address (see ``TLSHostName``).
    ///   - alternativeNames: More names, DNS names or IP addresses.
    ///   - validityDays: Days from `now`, cut to the CA's expiry.
    ///   - now: The current time.
    /// - Returns: The leaf certificate and its private key.
    /// - Throws: ``DuplexTLSError`` with code ``DuplexTLSError/Code/invalidHostName`` naming
    ///   the first bad name, otherwise as the variant taking ``TLSHostName`` values.
    public func makeLeafCredential(
        for hostName: String, alternativeNames: [String] = [],
        validityDays: Int = defaultLeafValidityDays, now: Date = Date()
    ) throws -> TLSCredential {
        try makeLeafCredential(
            for: TLSHostName(hostName), alternativeNames: alternativeNames.map(TLSHostName.init),
            validityDays: validityDays, now: now)
    }

    /// Issues a leaf for `hostName` from a fresh CA that is then thrown away: a well-formed
    /// certificate that no peer trusts, for testing that such a peer is refused.
    ///
    /// - Parameter hostName: A DNS name or IP address.
    /// - Returns: The leaf certificate (its issuer is named `Untrusted Throwaway CA`) and key.
    /// - Throws: ``DuplexTLSError`` as issuing from any CA: ``DuplexTLSError/Code/invalidHostName`` for a bad name.
    public static func makeUntrustedLeafCredential(for hostName: String) throws -> TLSCredential {
        try DevelopmentCertificateAuthority(name: "Untrusted Throwaway CA").makeLeafCredential(for: hostName)
    }

    /// `now - backdating ... now + days`, or an error for days outside ``validityDaysRange``.
    private static func validity(days: Int, now: Date) throws -> ClosedRange<Date> {
        guard validityDaysRange.contains(days) else {
            throw DuplexTLSError(.invalidArgument, "the validity must be \(validityDaysRange.lowerBound) to \(validityDaysRange.upperBound) days, got \(days)")
        }
        return now.addingTimeInterval(-Double(backdatingSeconds))...now.addingTimeInterval(Double(days) * 86_400)
    }

    private static func generalName(_ name: TLSHostName) -> GeneralName {
        switch name.kind {
        case .dnsName: .dnsName(name.name)
        case .ipv4Address, .ipv6Address: .ipAddress(ASN1OctetString(contentBytes: name.addressBytes[...]))
        }
    }

    /// Runs `body`, turning X509 and Crypto failures into ``DuplexTLSError/Code/signingFailed``.
    private static func signing(_ what: String, _ body: () throws -> Certificate) throws -> Certificate {
        do {
            return try body()
        } catch {
            throw DuplexTLSError(.signingFailed, "cannot make \(what)", cause: error)
        }
    }

    /// The first common name in `name`, if any.
    static func commonName(of name: DistinguishedName) -> String? {
        for relativeName in name {
            for attribute in relativeName where attribute.type == .RDNAttributeType.commonName {
                return String(attribute.value)
            }
        }
        return nil
    }

    /// `date` as ISO 8601 UTC with seconds, e.g. `2035-05-01T12:00:00Z`.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}

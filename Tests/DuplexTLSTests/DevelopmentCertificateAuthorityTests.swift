import DuplexTLS
import Foundation
import SwiftASN1
import Testing
import X509

@Suite struct DevelopmentCertificateAuthorityTests {
    /// Validates `leaf` against `authority` with RFC 5280 path validation (signature, expiry,
    /// basic constraints, key usage), and the server identity when a host is given.
    static func validate(
        _ leaf: Certificate, against authority: Certificate, host: String? = nil, ip: String? = nil
    ) async -> CertificateValidationResult {
        var verifier = Verifier(rootCertificates: CertificateStore([authority])) {
            RFC5280Policy()
            if host != nil || ip != nil {
                ServerIdentityPolicy(serverHostname: host, serverIP: ip)
            }
        }
        return await verifier.validate(leaf: leaf, intermediates: CertificateStore())
    }

    static func isValid(_ result: CertificateValidationResult) -> Bool {
        if case .validCertificate = result { return true }
        return false
    }

    @Test func authority_isASelfSignedP256CA() throws {
        let now = Date()
        let authority = try DevelopmentCertificateAuthority(name: "Test CA", validityDays: 30, now: now)
        let certificate = authority.certificate
        #expect(authority.name == "Test CA")
        #expect(certificate.subject == certificate.issuer)
        #expect(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        #expect(certificate.signatureAlgorithm == .ecdsaWithSHA256)
        #expect(try certificate.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(certificate.extensions[oid: .X509ExtensionID.basicConstraints]?.critical == true)
        let keyUsage = try #require(try certificate.extensions.keyUsage)
        #expect(keyUsage.keyCertSign && keyUsage.cRLSign && !keyUsage.digitalSignature)
        #expect(certificate.extensions[oid: .X509ExtensionID.keyUsage]?.critical == true)
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)
        // Validity: backdated for clock skew, `validityDays` long (certificates keep whole seconds).
        #expect(abs(certificate.notValidBefore.timeIntervalSince(now) + 3600) < 2)
        #expect(abs(certificate.notValidAfter.timeIntervalSince(now) - 30 * 86_400) < 2)
        #expect(authority.credential.privateKey.publicKey == certificate.publicKey)
        #expect(authority.credential.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(authority.credential.privateKeyPEM.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(try DevelopmentCertificateAuthority().name == DevelopmentCertificateAuthority.defaultName)
    }

    @Test func leaf_hasTheHostNamesUsagesAndKeyIdentifiers() throws {
        let authority = try DevelopmentCertificateAuthority()
        let leaf = try authority.makeLeafCredential(
            for: "MX1.example.com", alternativeNames: ["mx1", "10.0.0.5", "2001:db8::5", "mx1.example.com"])
        let certificate = leaf.certificate
        #expect(certificate.subject.description == "CN=mx1.example.com")
        #expect(certificate.issuer == authority.certificate.subject)
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(Array(names) == [
            .dnsName("mx1.example.com"), .dnsName("mx1"),
            .ipAddress(ASN1OctetString(contentBytes: [10, 0, 0, 5])),
            .ipAddress(ASN1OctetString(contentBytes: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [5])),
        ])
        let usages = try #require(try certificate.extensions.extendedKeyUsage)
        #expect(usages.contains(.serverAuth) && usages.contains(.clientAuth))
        let keyUsage = try #require(try certificate.extensions.keyUsage)
        #expect(keyUsage.digitalSignature && !keyUsage.keyCertSign)
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(try certificate.extensions.authorityKeyIdentifier?.keyIdentifier
            == authority.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
        #expect(try certificate.extensions.subjectKeyIdentifier != nil)
        #expect(leaf.privateKey.publicKey == certificate.publicKey)
        #expect(leaf.privateKey != authority.credential.privateKey)
    }

    @Test func leafForAnAddress_hasAnIPSubjectAlternativeName() throws {
        let leaf = try DevelopmentCertificateAuthority().makeLeafCredential(for: "127.0.0.1")
        #expect(leaf.certificate.subject.description == "CN=127.0.0.1")
        #expect(try Array(#require(try leaf.certificate.extensions.subjectAlternativeNames))
            == [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
    }

    @Test func serialsAreRandom_andLeafValidityIsCutToTheAuthoritys() throws {
        let now = Date()
        let authority = try DevelopmentCertificateAuthority(validityDays: 10, now: now)
        let first = try authority.makeLeafCredential(for: "a.example", validityDays: 365, now: now)
        let second = try authority.makeLeafCredential(for: "a.example", validityDays: 365, now: now)
        #expect(first.certificate.serialNumber != second.certificate.serialNumber)
        #expect(first.certificate.serialNumber.bytes.count >= 8)
        #expect(first.certificate.notValidAfter == authority.certificate.notValidAfter)
    }

    @Test func leaf_verifiesAgainstItsAuthority_asServerAndByAddress() async throws {
        let authority = try DevelopmentCertificateAuthority()
        let leaf = try authority.makeLeafCredential(for: "mx1.example.com", alternativeNames: ["10.0.0.5"])
        #expect(Self.isValid(await Self.validate(leaf.certificate, against: authority.certificate)))
        #expect(Self.isValid(await Self.validate(leaf.certificate, against: authority.certificate, host: "mx1.example.com")))
        #expect(Self.isValid(await Self.validate(leaf.certificate, against: authority.certificate, ip: "10.0.0.5")))
        // A certificate for another name is valid, but not for this host.
        #expect(!Self.isValid(await Self.validate(leaf.certificate, against: authority.certificate, host: "mx2.example.com")))
    }

    @Test func leafFromAnotherAuthority_doesNotVerify() async throws {
        let authority = try DevelopmentCertificateAuthority()
        let stranger = try DevelopmentCertificateAuthority.makeUntrustedLeafCredential(for: "mx1.example.com")
        #expect(stranger.certificate.issuer != authority.certificate.subject)
        #expect(!Self.isValid(await Self.validate(stranger.certificate, against: authority.certificate)))
        // Same subject name, different key: the signature, not the name, decides.
        let twin = try DevelopmentCertificateAuthority(name: DevelopmentCertificateAuthority.defaultName)
            .makeLeafCredential(for: "mx1.example.com")
        #expect(twin.certificate.issuer == authority.certificate.subject)
        #expect(!Self.isValid(await Self.validate(twin.certificate, against: authority.certificate)))
    }

    @Test func expiredLeaf_doesNotVerify() async throws {
        let twoYearsAgo = Date().addingTimeInterval(-2 * 365 * 86_400)
        let authority = try DevelopmentCertificateAuthority(now: twoYearsAgo)
        let leaf = try authority.makeLeafCredential(for: "old.example", validityDays: 1, now: twoYearsAgo)
        #expect(!Self.isValid(await Self.validate(leaf.certificate, against: authority.certificate)))
    }

    @Test func leafCannotActAsAnAuthority() async throws {
        let authority = try DevelopmentCertificateAuthority()
        let leaf = try authority.makeLeafCredential(for: "mx1.example.com")
        #expect(throws: DuplexTLSError.self) { try DevelopmentCertificateAuthority(credential: leaf) }
    }

    @Test func authority_roundTripsThroughPEM_andIssuesVerifiableLeaves() async throws {
        let original = try DevelopmentCertificateAuthority(name: "Round Trip CA")
        let loaded = try DevelopmentCertificateAuthority(credential: TLSCredential(
            certificatePEM: original.credential.certificatePEM, privateKeyPEM: original.credential.privateKeyPEM))
        #expect(loaded.certificate == original.certificate)
        #expect(loaded.name == "Round Trip CA")
        let leaf = try loaded.makeLeafCredential(for: "mx3.example.com")
        #expect(Self.isValid(await Self.validate(leaf.certificate, against: original.certificate, host: "mx3.example.com")))
    }

    @Test func badArguments_areRefused() throws {
        let authority = try DevelopmentCertificateAuthority()
        for days in [0, -1, 36_501] {
            let error = #expect(throws: DuplexTLSError.self) { try authority.makeLeafCredential(for: "a.example", validityDays: days) }
            #expect(error?.code == .invalidArgument)
        }
        for name in ["", String(repeating: "x", count: 65), "CA\n"] {
            let error = #expect(throws: DuplexTLSError.self) { try DevelopmentCertificateAuthority(name: name) }
            #expect(error?.code == .invalidArgument)
        }
        let error = #expect(throws: DuplexTLSError.self) { try authority.makeLeafCredential(for: "bad_name") }
        #expect(error?.code == .invalidHostName)
    }

    @Test func mismatchedKey_isRefused() throws {
        let one = try DevelopmentCertificateAuthority(), other = try DevelopmentCertificateAuthority()
        let error = #expect(throws: DuplexTLSError.self) {
            try TLSCredential(certificatePEM: one.credential.certificatePEM, privateKeyPEM: other.credential.privateKeyPEM)
        }
        #expect(error?.code == .badData)
        let garbage = #expect(throws: DuplexTLSError.self) {
            try TLSCredential(certificatePEM: "not pem", privateKeyPEM: one.credential.privateKeyPEM)
        }
        #expect(garbage?.code == .badData)
    }
}

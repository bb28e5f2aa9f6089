import NIOCore
import NIOSSL
import X509

/// TLS contexts and peer identity checks for dsync's mutual TLS.
///
/// Both sides present a certificate, require one from the peer, trust only the configured
/// CA and accept TLS 1.2 at least (1.3 is negotiated when both can). Host names are not
/// matched against the address dialled: the peer's certificate must instead name one of
/// ``DsyncTLSFiles/allowedPeers`` among its DNS subject alternative names, checked by
/// ``peerIdentity(of:allowed:)`` after the handshake.
package enum DsyncTLS {
    /// A TLS context for serving (`server`) or dialling (`client`).
    ///
    /// - Throws: ``DsyncError`` `usage` naming the file that cannot be read or parsed.
    package static func makeContext(_ files: DsyncTLSFiles, server: Bool) throws -> NIOSSLContext {
        try makeContextAndChain(files, server: server).context
    }

    /// ``makeContext(_:server:)``, with the certificate chain it presents (read once, so the
    /// chain is the context's even when the file is replaced meanwhile).
    package static func makeContextAndChain(_ files: DsyncTLSFiles, server: Bool) throws -> (context: NIOSSLContext, chain: [NIOSSLCertificate]) {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        let roots: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificateChain)
        } catch {
            throw DsyncError(.usage, "\(files.certificateChain): not a readable PEM certificate file (\(error))")
        }
        guard !chain.isEmpty else { throw DsyncError(.usage, "\(files.certificateChain): holds no certificate") }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw DsyncError(.usage, "\(files.privateKey): not a readable PEM private key file (\(error))")
        }
        do {
            roots = try NIOSSLCertificate.fromPEMFile(files.trustedCA)
        } catch {
            throw DsyncError(.usage, "\(files.trustedCA): not a readable PEM CA file (\(error))")
        }
        guard !roots.isEmpty else { throw DsyncError(.usage, "\(files.trustedCA): holds no CA certificate") }
        guard !files.allowedPeers.isEmpty else { throw DsyncError(.usage, "no allowed peer identities are configured") }
        var configuration: TLSConfiguration
        if server {
            configuration = .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        } else {
            configuration = .makeClientConfiguration()
            configuration.certificateChain = chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(key)
            // A client closes after its goodbye, when it has every answer it needs: it sends
            // its close_notify and does not wait for the agent's (one more round trip at
            // the end of every sync).
            configuration.shutdownTimeout = .zero
        }
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates(roots)
        do {
            return (try NIOSSLContext(configuration: configuration), chain)
        } catch {
            throw DsyncError(.usage, "\(files.certificateChain), \(files.privateKey): the certificate and key do not make a TLS identity (\(error))")
        }
    }

    /// The DNS names of a certificate (its subject alternative names).
    package static func dnsNames(of certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes(), let parsed = try? Certificate(derEncoded: der),
              let names = try? parsed.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .dnsName(let dns) = name { return dns }
            return nil
        }
    }

    /// The allowed identity the peer's certificate names.
    ///
    /// - Returns: the first of the certificate's DNS names that is in `allowed` (compared
    ///   without regard to case).
    /// - Throws: ``DsyncError`` `authenticationFailed` naming the certificate's names when
    ///   none is allowed, or when there is no certificate.
    package static func peerIdentity(of certificate: NIOSSLCertificate?, allowed: [String]) throws -> String {
        guard let certificate else {
            throw DsyncError(.authenticationFailed, "the peer presented no certificate")
        }
        let names = dnsNames(of: certificate)
        let allowedSet = Set(allowed.map { $0.lowercased() })
        if let match = names.first(where: { allowedSet.contains($0.lowercased()) }) { return match }
        let shown = names.isEmpty ? "no DNS names" : names.joined(separator: ", ")
        throw DsyncError(
            .authenticationFailed,
            "the peer's certificate names \(shown), none of which is an allowed peer (\(allowed.joined(separator: ", ")))")
    }

    /// A dsync error for a TLS failure.
    static func describe(_ error: NIOSSLError) -> DsyncError {
        switch error {
        case .handshakeFailed(let inner):
            return DsyncError(.authenticationFailed, "TLS handshake failed: \(explain(inner))")
        case .uncleanShutdown:
            return DsyncError(.protocolError, "the peer closed the TLS connection without a TLS close")
        default:
            return DsyncError(.authenticationFailed, "TLS failed: \(error)")
        }
    }

    /// BoringSSL's reason code in an error (e.g. `TLSV1_ALERT_UNKNOWN_CA`), if it names one.
    static func reason(of error: BoringSSLError) -> String? {
        let text = "\(error)"
        guard let marker = text.range(of: "OPENSSL_internal:") else { return nil }
        return String(text[marker.upperBound...].prefix { $0.isUppercase || $0.isNumber || $0 == "_" })
    }

    /// Reason codes of a TLS record that failed its integrity check or is malformed, on
    /// either side: after the handshake they mean the bytes were changed on the way (or the
    /// peer's TLS is broken), not that anyone failed to authenticate.
    static let corruptRecordReasons: Set<String> = [
        "BAD_DECRYPT", "DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "SSLV3_ALERT_BAD_RECORD_MAC", "TLSV1_ALERT_DECRYPTION_FAILED",
        "DATA_LENGTH_TOO_LONG", "ENCRYPTED_LENGTH_TOO_LONG", "WRONG_VERSION_NUMBER", "UNEXPECTED_RECORD", "DECODE_ERROR",
        "TLSV1_ALERT_DECODE_ERROR",
    ]

    /// A dsync error for a BoringSSL error after the handshake: `protocolError` for a corrupt
    /// record (see ``corruptRecordReasons``), `authenticationFailed` otherwise (a peer that
    /// refuses this host's certificate says so once its side of the handshake is done).
    static func describe(_ error: BoringSSLError) -> DsyncError {
        if let reason = reason(of: error), corruptRecordReasons.contains(reason) {
            return DsyncError(.protocolError, "a TLS record failed its integrity check: the data was changed in transit (\(reason))")
        }
        return DsyncError(.authenticationFailed, "TLS failed: \(explain(error))")
    }

    /// A sentence for a BoringSSL error: what its reason code means for mutual TLS, with
    /// the code itself (e.g. `TLSV1_ALERT_UNKNOWN_CA`) for searching.
    static func explain(_ error: BoringSSLError) -> String {
        guard let reason = reason(of: error) else { return "\(error)" }
        let meaning: String
        switch reason {
        case "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN":
            meaning = "the peer does not trust this host's certificate (not issued by the CA the peer trusts)"
        case "CERTIFICATE_VERIFY_FAILED":
            meaning = "the peer's certificate does not chain to the trusted CA (or has expired)"
        case "PEER_DID_NOT_RETURN_A_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED":
            meaning = "a certificate is required and none was presented"
        case "WRONG_VERSION_NUMBER", "HTTP_REQUEST", "HTTPS_PROXY_REQUEST":
            meaning = "the peer does not speak TLS"
        case "TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL":
            meaning = "no common TLS version (1.2 at least is required)"
        default:
            meaning = "TLS error"
        }
        return "\(meaning) (\(reason))"
    }
}

import Foundation
import NIOSSL

/// The coordinator's server certificate and key, loaded from PEM files and replaceable while
/// the server runs (SIGHUP): connections accepted after ``reload(certificatePath:keyPath:)``
/// use the new files, open ones keep theirs.
///
/// TLS 1.2 is the oldest version offered; clients do not present certificates (the API
/// authenticates with bearer tokens).
public final class CoordinatorTLS: @unchecked Sendable {
    // Guards `current`: read on the event loops for each new connection, replaced on reload.
    private let lock = NSLock()
    private var current: NIOSSLContext

    /// Loads the certificate chain and the private key.
    ///
    /// - Parameters:
    ///   - certificatePath: PEM, the server's certificate first, then intermediates.
    ///   - keyPath: the PEM private key of that certificate.
    /// - Throws: ``CoordinatorTLSError`` naming the file that cannot be read or used.
    public init(certificatePath: String, keyPath: String) throws(CoordinatorTLSError) {
        current = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
    }

    /// Replaces the certificate and key for new connections; on error the old ones stay.
    ///
    /// - Throws: ``CoordinatorTLSError`` naming the file that cannot be read or used.
    public func reload(certificatePath: String, keyPath: String) throws(CoordinatorTLSError) {
        let context = try Self.makeContext(certificatePath: certificatePath, keyPath: keyPath)
        lock.withLock { current = context }
    }

    /// The context for a connection accepted now.
    var context: NIOSSLContext {
        lock.withLock { current }
    }

    private static func makeContext(certificatePath: String, keyPath: String) throws(CoordinatorTLSError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw CoordinatorTLSError(path: certificatePath, reason: "is not a readable PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw CoordinatorTLSError(path: certificatePath, reason: "holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw CoordinatorTLSError(path: keyPath, reason: "is not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw CoordinatorTLSError(path: keyPath, reason: "does not match the certificate in \(certificatePath) (\(error))")
        }
    }
}

/// A certificate or key file the coordinator cannot use.
public struct CoordinatorTLSError: Error, Sendable, CustomStringConvertible {
    /// The file concerned.
    public var path: String
    /// What is wrong with it (never its content).
    public var reason: String

    public var description: String { "\(path) \(reason)" }
}

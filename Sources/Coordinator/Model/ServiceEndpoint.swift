/// Where a host serves something: a dsync endpoint (`tls://host:port`) or an agent's admin
/// HTTP endpoint (`http://host:port`, `https://host:port`).
///
/// Parsed once when a pair is added and stored as its canonical text. Hosts are DNS names,
/// IPv4 addresses or bracketed IPv6 addresses; ports are 1–65535 and required.
public struct ServiceEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// The URL scheme, in lower case.
    public enum Scheme: String, Hashable, Sendable {
        /// Duplex's dsync over mutual TLS.
        case tls
        case http
        case https
    }

    public let scheme: Scheme
    /// Host name or address (an IPv6 address without its brackets).
    public let host: String
    public let port: Int

    /// Parses `text` as `scheme://host:port` and checks that the scheme is one of `allowed`.
    ///
    /// - Throws: ``ServiceEndpointError`` saying what is wrong with the text.
    public init(_ text: String, allowed: Set<Scheme>) throws(ServiceEndpointError) {
        guard let separator = text.range(of: "://") else {
            throw ServiceEndpointError(text: text, reason: "has no scheme (expected \(Self.render(allowed))://host:port)")
        }
        guard let scheme = Scheme(rawValue: text[..<separator.lowerBound].lowercased()), allowed.contains(scheme) else {
            throw ServiceEndpointError(text: text, reason: "has a scheme other than \(Self.render(allowed))")
        }
        let authority = text[separator.upperBound...]
        let hostPart: Substring
        let portPart: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]"), authority[authority.index(after: close)...].hasPrefix(":")
            else { throw ServiceEndpointError(text: text, reason: "has a bracketed address without ']:port'") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            portPart = authority[authority.index(close, offsetBy: 2)...]
        } else {
            guard let colon = authority.lastIndex(of: ":") else {
                throw ServiceEndpointError(text: text, reason: "has no port")
            }
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty, hostPart.count <= 253,
            hostPart.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) })
        else { throw ServiceEndpointError(text: text, reason: "has an empty or malformed host") }
        guard portPart.allSatisfy(\.isASCII), let port = Int(portPart), (1...65535).contains(port) else {
            throw ServiceEndpointError(text: text, reason: "has a port that is not a number from 1 to 65535")
        }
        self.scheme = scheme
        self.host = String(hostPart).lowercased()
        self.port = port
    }

    /// The canonical text, `scheme://host:port`.
    public var description: String {
        let shownHost = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(shownHost):\(port)"
    }

    private static func render(_ schemes: Set<Scheme>) -> String {
        schemes.map(\.rawValue).sorted().joined(separator: "|")
    }
}

/// An endpoint refused by ``ServiceEndpoint``.
public struct ServiceEndpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The refused text.
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "endpoint \(text.debugDescription) \(reason)" }
}

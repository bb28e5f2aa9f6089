/// Where the coordinator's HTTP API is: `https://HOST:PORT` (or `http://` on a loopback
/// address only, so a bearer token never crosses a network in clear text).
///
/// Parsed from `--coordinator` or `DUPLEX_COORDINATOR_URL`. A path, query or user part is
/// refused: the API's paths are fixed (`/v1/…`, see docs/coordinator-api.md).
public struct CoordinatorURL: Hashable, Sendable, CustomStringConvertible {
    /// The coordinator's default address (its `coordinator.listen` default, 127.0.0.1:7447).
    public static let defaultURL = "https://127.0.0.1:7447"

    /// Whether TLS is spoken.
    public let isTLS: Bool
    /// Host name or address (an IPv6 address without its brackets), in lower case.
    public let host: String
    /// 1–65535; 443 or 80 when the URL names none.
    public let port: Int

    /// Parses `text`.
    ///
    /// - Throws: ``CoordinatorURLError`` saying what is wrong with the text.
    public init(_ text: String) throws(CoordinatorURLError) {
        func refuse(_ reason: String) -> CoordinatorURLError { CoordinatorURLError(text: text, reason: reason) }
        let lowered = text.lowercased()
        let rest: Substring
        if lowered.hasPrefix("https://") {
            isTLS = true
            rest = text.dropFirst("https://".count)
        } else if lowered.hasPrefix("http://") {
            isTLS = false
            rest = text.dropFirst("http://".count)
        } else {
            throw refuse("must start with https:// (or http:// for a loopback address)")
        }
        var authority = rest
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        guard !authority.contains("/"), !authority.contains("?"), !authority.contains("#") else {
            throw refuse("must have no path or query (the API's paths are fixed)")
        }
        guard !authority.contains("@") else { throw refuse("must not carry a user or password (use --token-file)") }
        let hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("has a bracketed address without ']'") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("has text after the bracketed address") }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        guard !hostPart.isEmpty, hostPart.utf8.count <= 253,
            hostPart.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) })
        else { throw refuse("has an empty or malformed host") }
        if let portPart {
            guard portPart.allSatisfy(\.isASCII), let port = Int(portPart), (1...65535).contains(port) else {
                throw refuse("has a port that is not a number from 1 to 65535")
            }
            self.port = port
        } else {
            self.port = isTLS ? 443 : 80
        }
        host = hostPart.lowercased()
        guard isTLS || isLoopback else {
            throw refuse("uses http:// for a host that is not a loopback address; use https://")
        }
    }

    /// Whether the host is a loopback address or `localhost`.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || (host.hasPrefix("127.") && isIPAddress)
    }

    /// Whether the host is an IPv4 or IPv6 address (not a name): such a host is verified
    /// against the certificate's IP addresses and sent without SNI.
    public var isIPAddress: Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." })
    }

    /// The `Host` header's value.
    var hostHeader: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return (isTLS && port == 443) || (!isTLS && port == 80) ? shown : "\(shown):\(port)"
    }

    /// The canonical text, `scheme://host:port`.
    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(isTLS ? "https" : "http")://\(shown):\(port)"
    }
}

/// A coordinator URL refused by ``CoordinatorURL``.
public struct CoordinatorURLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The refused text.
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "coordinator URL \(text.debugDescription) \(reason)" }
}

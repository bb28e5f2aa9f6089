/// An address and port to listen on, as written in a configuration: `host:port`,
/// `[v6-address]:port`, or `:port` for every IPv4 address.
struct ListenAddress: Equatable {
    /// An IPv4 or IPv6 address (without brackets) or a host name.
    var host: String
    /// 0 to 65535; 0 lets the system pick a free port (tests).
    var port: Int

    /// The host `:port` stands for.
    static let anyHost = "0.0.0.0"

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `text`.
    ///
    /// - Throws: ``InvalidSetting`` saying what is wrong: no port, a port that is not a number
    ///   from 0 to 65535, an IPv6 address without brackets, or a host that is not an address
    ///   or a host name.
    init(parsing text: String) throws(InvalidSetting) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw InvalidSetting("\(Self.quoted(text)): [ without ]; write [address]:port")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { throw InvalidSetting("\(Self.quoted(text)): no :port after ]") }
            portPart = rest.dropFirst()
            guard hostPart.contains(":"), hostPart.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw InvalidSetting("\(Self.quoted(text)): \(Self.quoted(hostPart)) in brackets is not an IPv6 address")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw InvalidSetting("\(Self.quoted(text)) has no port; write host:port, [v6-address]:port or :port")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else {
                throw InvalidSetting("\(Self.quoted(text)): an IPv6 address must be in brackets, as in [::1]:7445")
            }
            guard hostPart.isEmpty || Self.isHostName(hostPart) else {
                throw InvalidSetting("\(Self.quoted(text)): \(Self.quoted(hostPart)) is not an IPv4 address or a host name")
            }
        }
        guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = Int(portPart), port <= 65535
        else {
            throw InvalidSetting("\(Self.quoted(text)): the port must be a number from 0 to 65535, not \(Self.quoted(portPart))")
        }
        self.init(host: hostPart.isEmpty ? Self.anyHost : String(hostPart), port: port)
    }

    /// Whether `text` is a dotted name of letters, digits, `-` and `_` (IPv4 addresses are such names).
    static func isHostName(_ text: Substring) -> Bool {
        text.utf8.count <= 253
            && text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.utf8.count <= 63
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
    }

    private static func quoted(_ text: some StringProtocol) -> String {
        String(reflecting: String(text))
    }
}

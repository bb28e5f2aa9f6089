extension RouteRepresentation {
    /// The route as JSON: byte for byte what ``APIJSON`` writes for it (keys in `snake_case`
    /// and sorted, no spaces, `/` unescaped), written directly: a route lookup, the API's most
    /// frequent request, spent a tenth of its time in `JSONEncoder` (`ops/bench/coordinator.py`).
    var json: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(640)
        out.append(contentsOf: #"{"epoch":"#.utf8)
        out.append(contentsOf: String(epoch).utf8)
        Self.append(host, key: "host", to: &out)
        Self.append(otherHost, key: "other_host", to: &out)
        Self.append(pair, key: "pair", to: &out)
        Self.append(preferredHost, key: "preferred_host", to: &out)
        Self.append(tenant, key: "tenant", to: &out)
        Self.append(user, key: "user", to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `,"key":{"admin":…,"dsync":…,"health":…,"name":…}`.
    private static func append(_ host: HostRepresentation, key: String, to out: inout [UInt8]) {
        out.append(contentsOf: ",\"\(key)\":{\"admin\":".utf8)
        appendString(host.admin, to: &out)
        append(host.dsync, key: "dsync", to: &out)
        append(host.health, key: "health", to: &out)
        append(host.name, key: "name", to: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// `,"key":"value"`.
    private static func append(_ value: String, key: String, to out: inout [UInt8]) {
        out.append(contentsOf: ",\"\(key)\":".utf8)
        appendString(value, to: &out)
    }

    /// `value` as a JSON string, escaped as `JSONEncoder` escapes it: `"` and `\` with a
    /// backslash, the control characters as `\b`, `\f`, `\n`, `\r`, `\t` or `\u00XX`, all
    /// else (`/` and non-ASCII too) as it is.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

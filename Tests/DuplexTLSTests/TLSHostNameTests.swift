import DuplexTLS
import Testing

@Suite struct TLSHostNameTests {
    @Test(arguments: [
        ("mx1.example.com", "mx1.example.com"), ("MX1.Example.COM", "mx1.example.com"),
        ("localhost", "localhost"), ("a-b.c0", "a-b.c0"), ("0x1", "0x1"),
        (String(repeating: "a", count: 63) + ".example", String(repeating: "a", count: 63) + ".example"),
    ])
    func dnsNames_areAcceptedAndLowercased(text: String, canonical: String) throws {
        let name = try TLSHostName(text)
        #expect(name.kind == .dnsName)
        #expect(name.name == canonical)
        #expect(name.addressBytes.isEmpty)
    }

    @Test func addresses_areRecognizedAndCanonical() throws {
        let v4 = try TLSHostName("10.0.0.5")
        #expect(v4.kind == .ipv4Address)
        #expect(v4.addressBytes == [10, 0, 0, 5])
        #expect(v4.name == "10.0.0.5")
        let v6 = try TLSHostName("0:0:0::1")
        #expect(v6.kind == .ipv6Address)
        #expect(v6.name == "::1")
        #expect(v6.addressBytes == Array(repeating: 0, count: 15) + [1])
        #expect(try TLSHostName("FE80::A").name == "fe80::a")
    }

    @Test(arguments: [
        "", "-mx.example", "mx-.example", "mx..example", ".mx", "mx.example.", "mx_1.example", "*.example.com",
        "mx1.example.com/../x", "a b", "mx\n1", "münchen.de", "[::1]", "fe80::1%eth0", "10.0.0.256", "1234",
        String(repeating: "a", count: 64) + ".example", Array(repeating: "abcdefgh", count: 32).joined(separator: "."),
    ])
    func invalidNames_areRefusedNamingTheName(text: String) {
        let error = #expect(throws: DuplexTLSError.self) { try TLSHostName(text) }
        #expect(error?.code == .invalidHostName)
        #expect(error?.host == text)
        #expect(error?.description.contains("is not a valid host name") == true)
    }

    @Test func controlCharacters_areEscapedInTheMessage() {
        let error = #expect(throws: DuplexTLSError.self) { try TLSHostName("evil\u{1b}[2J") }
        #expect(error?.description.contains("\u{1b}") == false)
    }
}

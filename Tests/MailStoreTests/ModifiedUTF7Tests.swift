import Testing

@testable import MailStore

@Suite("ModifiedUTF7")
struct ModifiedUTF7Tests {
    /// (UTF-8 name, modified UTF-7 form): RFC 3501 §5.1.3 examples and names verified
    /// against Dovecot 2.3 (reference §7.1).
    static let examples: [(String, String)] = [
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("Hi Mom -☺-!", "Hi Mom -&Jjo--!"),
        ("台北日本語", "&U,BTF2XlZyyKng-"),
        ("Über", "&ANw-ber"),
        ("Ünter", "&ANw-nter"),
        ("x&y", "x&-y"),
        ("&", "&-"),
        ("&&", "&-&-"),
        ("😀", "&2D3eAA-"),
        ("plain ASCII ~!", "plain ASCII ~!"),
        ("", ""),
    ]

    @Test(arguments: examples)
    func knownName_encodesToExpectedForm(utf8: String, encoded: String) {
        #expect(ModifiedUTF7.encode(utf8) == encoded)
    }

    @Test(arguments: examples)
    func knownForm_decodesToExpectedName(utf8: String, encoded: String) throws {
        let decoded = try ModifiedUTF7.decode(encoded)
        #expect(Array(decoded.unicodeScalars) == Array(utf8.unicodeScalars))
    }

    @Test func adjacentRuns_decodeToTheSameNameAsOneMergedRun() throws {
        // RFC 3501 calls "&U,BTFw-&ZeVnLIqe-" superfluous but it is unambiguous; the
        // encoder always writes the merged form.
        #expect(try ModifiedUTF7.decode("&U,BTFw-&ZeVnLIqe-") == "台北日本語")
        #expect(ModifiedUTF7.encode("台北日本語") == "&U,BTF2XlZyyKng-")
    }

    static let badInputs: [(String, String)] = [
        ("&", "'&' at the end"),
        ("abc&", "'&' at the end"),
        ("&Jjo", "unterminated"),
        ("&AGE-", "printable character encoded"),
        ("&ACY-", "printable character encoded"),
        ("&Jjo!-", "not a base64 character"),
        ("&Jj/-", "not a base64 character"),
        ("&AG-", "leftover bits"),
        ("&,-", "leftover bits"),
        ("&Jjp-", "leftover bits"),
        ("&2D0-", "invalid UTF-16"),
        ("&3gA-", "invalid UTF-16"),
        ("Über", "not printable US-ASCII"),
        ("a\tb", "not printable US-ASCII"),
        ("a\u{7f}", "not printable US-ASCII"),
    ]

    @Test(arguments: badInputs)
    func malformedName_isRejectedAsBadData(encoded: String, reason: String) {
        let error = #expect(throws: MailStoreError.self) { try ModifiedUTF7.decode(encoded) }
        #expect(error?.code == .badData)
        #expect(error?.message.contains(reason) == true, "message: \(error?.message ?? "none")")
    }

    @Test func everyByteAbove0x7E_isRejected() {
        for byte in UInt8(0x7f)...UInt8(0xff) {
            // Build the String from raw bytes: invalid UTF-8 becomes U+FFFD, still > 0x7e.
            let text = "a" + String(decoding: [byte], as: UTF8.self)
            #expect(throws: MailStoreError.self, "byte 0x\(String(byte, radix: 16))") { try ModifiedUTF7.decode(text) }
        }
    }

    @Test func randomNames_roundTripAndEncodeToPrintableASCII() throws {
        var generator = SplitMix64(seed: 0x5EED_0001)
        // Pools: printable ASCII (with '&' and '-'), controls, Latin-1, CJK, astral.
        let pools: [ClosedRange<UInt32>] = [0x20...0x7e, 0x26...0x26, 0x2d...0x2d, 0x00...0x1f, 0x80...0xff, 0x4e00...0x9fff, 0x1f300...0x1faff]
        for iteration in 0..<3000 {
            var scalars = String.UnicodeScalarView()
            for _ in 0..<Int.random(in: 0...24, using: &generator) {
                let pool = pools[Int.random(in: 0..<pools.count, using: &generator)]
                scalars.append(Unicode.Scalar(UInt32.random(in: pool, using: &generator))!)
            }
            let name = String(scalars)
            let encoded = ModifiedUTF7.encode(name)
            #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7e }, "iteration \(iteration): \(encoded)")
            let decoded = try ModifiedUTF7.decode(encoded)
            #expect(Array(decoded.unicodeScalars) == Array(name.unicodeScalars), "iteration \(iteration): \(encoded)")
            // Canonical: encoding the decoded form gives the same bytes back.
            #expect(ModifiedUTF7.encode(decoded) == encoded)
        }
    }

    @Test func printableASCIIWithoutAmpersand_isLeftAsItIs() {
        var generator = SplitMix64(seed: 0x5EED_0002)
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 1...30, using: &generator)).map { _ -> UInt8 in
                var byte: UInt8
                repeat { byte = UInt8.random(in: 0x20...0x7e, using: &generator) } while byte == UInt8(ascii: "&")
                return byte
            }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(ModifiedUTF7.encode(text) == text)
        }
    }
}

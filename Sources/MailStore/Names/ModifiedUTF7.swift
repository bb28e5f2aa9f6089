/// IMAP's modified UTF-7 (RFC 3501 §5.1.3), the encoding Dovecot uses for mailbox
/// names on disk unless the mail location says `:UTF-8`.
///
/// Printable US-ASCII (0x20–0x7e) stands for itself except `&`, which is written `&-`.
/// Everything else is UTF-16, base64-encoded with `,` instead of `/`, between `&` and `-`.
public enum ModifiedUTF7 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    private static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = Int8(index) }
        return table
    }()

    /// Encodes a UTF-8 name into modified UTF-7.
    public static func encode(_ name: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(name.utf8.count)
        var pending: [UInt16] = []

        func flush() {
            guard !pending.isEmpty else { return }
            output.append(UInt8(ascii: "&"))
            var bytes: [UInt8] = []
            for unit in pending { bytes.append(UInt8(unit >> 8)); bytes.append(UInt8(unit & 0xff)) }
            var index = 0
            while index + 3 <= bytes.count {
                let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                output.append(alphabet[Int(value >> 18 & 63)])
                output.append(alphabet[Int(value >> 12 & 63)])
                output.append(alphabet[Int(value >> 6 & 63)])
                output.append(alphabet[Int(value & 63)])
                index += 3
            }
            let rest = bytes.count - index
            if rest == 1 {
                let value = UInt32(bytes[index]) << 16
                output.append(alphabet[Int(value >> 18 & 63)])
                output.append(alphabet[Int(value >> 12 & 63)])
            } else if rest == 2 {
                let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
                output.append(alphabet[Int(value >> 18 & 63)])
                output.append(alphabet[Int(value >> 12 & 63)])
                output.append(alphabet[Int(value >> 6 & 63)])
            }
            output.append(UInt8(ascii: "-"))
            pending.removeAll()
        }

        for scalar in name.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value <= 0x7e {
                flush()
                output.append(UInt8(scalar.value))
                if scalar == "&" { output.append(UInt8(ascii: "-")) }
            } else {
                pending.append(contentsOf: String(scalar).utf16)
            }
        }
        flush()
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes a modified UTF-7 name into UTF-8.
    ///
    /// - Throws: ``MailStoreError`` with code `badData` when the input has bytes outside
    ///   printable US-ASCII, an unterminated or malformed `&…-` run, bits left over,
    ///   an encoded printable character, or an unpaired surrogate.
    public static func decode(_ encoded: String) throws -> String {
        var result = String.UnicodeScalarView()
        let bytes = Array(encoded.utf8)
        var index = 0
        func fail(_ why: String) -> MailStoreError {
            MailStoreError(.badData, "invalid modified UTF-7 name \"\(encoded)\": \(why)")
        }
        while index < bytes.count {
            let byte = bytes[index]
            guard byte >= 0x20 && byte <= 0x7e else { throw fail("byte 0x\(String(byte, radix: 16)) is not printable US-ASCII") }
            if byte != UInt8(ascii: "&") {
                result.append(Unicode.Scalar(byte))
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw fail("'&' at the end") }
            if bytes[index] == UInt8(ascii: "-") {
                result.append("&")
                index += 1
                continue
            }
            var bits: UInt32 = 0
            var bitCount = 0
            var units: [UInt16] = []
            while true {
                guard index < bytes.count else { throw fail("unterminated '&' run") }
                let c = bytes[index]
                index += 1
                if c == UInt8(ascii: "-") { break }
                let value = decodeTable[Int(c)]
                guard value >= 0 else { throw fail("'\(Unicode.Scalar(c))' is not a base64 character") }
                bits = bits << 6 | UInt32(value)
                bitCount += 6
                if bitCount >= 16 {
                    bitCount -= 16
                    units.append(UInt16(truncatingIfNeeded: bits >> UInt32(bitCount)))
                    bits &= (1 << UInt32(bitCount)) - 1
                }
            }
            guard bitCount < 6, bits == 0 else { throw fail("leftover bits in '&' run") }
            guard !units.isEmpty else { throw fail("empty '&' run") }
            var iterator = units.makeIterator()
            var decoder = UTF16()
            loop: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar):
                    if scalar.value >= 0x20 && scalar.value <= 0x7e { throw fail("printable character encoded in '&' run") }
                    result.append(scalar)
                case .emptyInput: break loop
                case .error: throw fail("invalid UTF-16 in '&' run")
                }
            }
        }
        return String(result)
    }
}

import Dsync
import Foundation

/// Makes the demo's messages: RFC 5322 / MIME mail of the shapes real mailboxes hold,
/// from a seeded generator so that one seed always gives the same bytes.
///
/// Shapes: plain text (UTF-8, quoted-printable when it has non-ASCII text), HTML with a
/// plain alternative (`multipart/alternative`), mail with attachments (`multipart/mixed`,
/// base64 in 76-character lines, RFC 2045), a forwarded message (`message/rfc822`), and a
/// few large ones (a photo-sized attachment, 256 KiB to 1 MiB). About a third carry
/// non-ASCII display names and subjects as RFC 2047 encoded words. Lines end in LF, as
/// Dovecot stores mail in a Maildir.
struct DemoMessageFactory {
    /// One made message.
    struct Message {
        var bytes: [UInt8]
        /// Seconds since 1970, the `Date:` header's time (the message's received date).
        var date: Int64
    }

    /// The domain the demo's people and message ids are in.
    let domain: String
    /// Messages are dated from here (2024-01-01T00:00:00Z) over the next 600 days.
    static let firstDate: Int64 = 1_704_067_200

    private static let people: [(name: String, local: String)] = [
        ("Alice Martin", "alice.martin"), ("Jürgen Groß", "juergen.gross"), ("Zoë Dubois", "zoe.dubois"),
        ("田中 花子", "hanako.tanaka"), ("Søren Kierkegaard", "soren.k"), ("María José Núñez", "mj.nunez"),
        ("Bob Stone", "bob"), ("Ілля Петренко", "illia.p"), ("Chloé Lefèvre", "chloe"), ("Oskar Åberg", "oskar.aberg"),
    ]
    private static let subjects = [
        "Quarterly report", "Lunch on Friday?", "Re: contract draft v3", "Invoice 2024-0117", "Meeting notes",
        "Fwd: travel plans", "Your order has shipped", "Build failed on main", "Photos from the weekend",
        "Re: Re: budget for Q3", "Welcome to the team", "Password policy update",
    ]
    private static let unicodeSubjects = [
        "Grüße aus München", "Réunion de l'équipe à 14h", "会議の議事録", "Отчёт за квартал", "¿Cenamos el sábado?",
        "Smörgåsbord på fredag ☕", "Προσφορά για το έργο", "Re: Übersicht der Änderungen",
    ]
    private static let words = (
        "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
            + "you were their one all we can her has there been if more when will would who so no mail server pair sync "
            + "folder draft budget project meeting report invoice travel team weekend review plan update change"
    ).split(separator: " ").map(String.init)
    private static let unicodeLines = [
        "Viele Grüße und bis bald — Jürgen", "Merci beaucoup pour votre réponse rapide.", "よろしくお願いします。",
        "Спасибо, всё получил.", "Ha llegado el paquete, ¡gracias!", "Vänliga hälsningar från Göteborg.",
    ]

    /// Makes the message number `index` of the mailbox `mailbox` for `user`.
    func make(user: String, mailbox: String, index: Int, using random: inout DemoRandom) -> Message {
        let date = Self.firstDate + Int64.random(in: 0..<(600 * 86_400), using: &random)
        let person = random.pick(Self.people)
        let outgoing = mailbox == "Sent" || mailbox == "Drafts"
        let from = outgoing ? Self.address(name: nil, email: user) : Self.address(name: person.name, email: "\(person.local)@\(domain)")
        let to = outgoing ? Self.address(name: person.name, email: "\(person.local)@\(domain)") : Self.address(name: nil, email: user)
        let subject = random.chance(0.3) ? random.pick(Self.unicodeSubjects) : random.pick(Self.subjects)
        var headers = [
            "Return-Path: <\(outgoing ? user : "\(person.local)@\(domain)")>",
            "Received: from mx.\(domain) by mail.\(domain) with LMTP; \(Self.rfc5322Date(date))",
            "Message-ID: <\(date).\(index).\(random.next() % 1_000_000)@\(domain)>",
            "Date: \(Self.rfc5322Date(date))",
            "From: \(from)",
            "To: \(to)",
            "Subject: \(Self.encodedWords(subject))",
            "MIME-Version: 1.0",
        ]
        let shape = Double.random(in: 0..<1, using: &random)
        let body: String
        if shape < 0.012 {
            body = Self.mixed(&headers, text: paragraphs(3, using: &random), attachments: [
                ("IMG_\(4000 + index).jpg", "image/jpeg", random.bytes(Int.random(in: 262_144...1_048_576, using: &random)))
            ], using: &random)
        } else if shape < 0.45 {
            body = Self.plain(&headers, text: paragraphs(Int.random(in: 1...6, using: &random), using: &random))
        } else if shape < 0.75 {
            body = Self.alternative(&headers, text: paragraphs(Int.random(in: 2...5, using: &random), using: &random), using: &random)
        } else if shape < 0.93 {
            let count = Int.random(in: 1...2, using: &random)
            let attachments = (0..<count).map { number in
                random.chance(0.5)
                    ? ("report-\(index)-\(number).pdf", "application/pdf", random.bytes(Int.random(in: 2_000...60_000, using: &random)))
                    : ("Übersicht \(number).xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        random.bytes(Int.random(in: 2_000...30_000, using: &random)))
            }
            body = Self.mixed(&headers, text: paragraphs(2, using: &random), attachments: attachments, using: &random)
        } else {
            let inner = make(user: user, mailbox: "INBOX", index: index + 100_000, using: &random)
            body = Self.forward(&headers, note: paragraphs(1, using: &random), inner: inner.bytes, using: &random)
        }
        let text = headers.joined(separator: "\n") + "\n\n" + body
        return Message(bytes: Array(text.utf8), date: date)
    }

    /// `count` paragraphs of text, now and then with a non-ASCII line.
    private func paragraphs(_ count: Int, using random: inout DemoRandom) -> String {
        (0..<count).map { _ in
            var lines: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                lines.append((0..<Int.random(in: 6...12, using: &random)).map { _ in random.pick(Self.words) }.joined(separator: " "))
            }
            if random.chance(0.25) { lines.append(random.pick(Self.unicodeLines)) }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    // MARK: Shapes

    private static func plain(_ headers: inout [String], text: String) -> String {
        headers.append("Content-Type: text/plain; charset=utf-8; format=flowed")
        if text.utf8.allSatisfy({ $0 < 0x80 }) {
            headers.append("Content-Transfer-Encoding: 7bit")
            return text + "\n"
        }
        headers.append("Content-Transfer-Encoding: quoted-printable")
        return quotedPrintable(text) + "\n"
    }

    private static func alternative(_ headers: inout [String], text: String, using random: inout DemoRandom) -> String {
        let boundary = self.boundary(using: &random)
        headers.append("Content-Type: multipart/alternative; boundary=\"\(boundary)\"")
        let html = "<html><head><meta charset=\"utf-8\"></head><body>\n"
            + text.split(separator: "\n\n").map { "<p>\(escapeHTML(String($0)).replacingOccurrences(of: "\n", with: "<br>\n"))</p>" }
            .joined(separator: "\n") + "\n</body></html>"
        return """
            This is a multi-part message in MIME format.

            --\(boundary)
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(text))

            --\(boundary)
            Content-Type: text/html; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(html))

            --\(boundary)--

            """
    }

    private static func mixed(
        _ headers: inout [String], text: String, attachments: [(name: String, type: String, bytes: [UInt8])],
        using random: inout DemoRandom
    ) -> String {
        let boundary = self.boundary(using: &random)
        headers.append("Content-Type: multipart/mixed; boundary=\"\(boundary)\"")
        var parts = [
            """
            --\(boundary)
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(text))

            """
        ]
        for attachment in attachments {
            let encodedName = encodedWords(attachment.name)
            parts.append(
                """
                --\(boundary)
                Content-Type: \(attachment.type); name="\(encodedName)"
                Content-Disposition: attachment; filename="\(encodedName)"
                Content-Transfer-Encoding: base64

                \(Data(attachment.bytes).base64EncodedString(options: [.lineLength76Characters, .endLineWithLineFeed]))

                """)
        }
        return parts.joined() + "--\(boundary)--\n"
    }

    private static func forward(_ headers: inout [String], note: String, inner: [UInt8], using random: inout DemoRandom) -> String {
        let boundary = self.boundary(using: &random)
        headers.append("Content-Type: multipart/mixed; boundary=\"\(boundary)\"")
        return """
            --\(boundary)
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: quoted-printable

            \(quotedPrintable(note))

            --\(boundary)
            Content-Type: message/rfc822
            Content-Disposition: inline

            \(String(decoding: inner, as: UTF8.self))
            --\(boundary)--

            """
    }

    // MARK: Encodings

    private static func boundary(using random: inout DemoRandom) -> String {
        "----=_Part_\(random.next() % 1_000_000_000)_\(random.next() % 1_000_000)"
    }

    /// `mailbox` as an address: `Name <email>`, the name as RFC 2047 encoded words when it
    /// is not ASCII, quoted when it has specials.
    static func address(name: String?, email: String) -> String {
        guard let name else { return "<\(email)>" }
        return "\(encodedWords(name)) <\(email)>"
    }

    /// `text` as it goes into a header: as it is when ASCII, else RFC 2047 `B` encoded words
    /// of at most 75 characters each (whole characters, never a split UTF-8 sequence), folded.
    static func encodedWords(_ text: String) -> String {
        guard !text.utf8.allSatisfy({ $0 < 0x80 }) else { return text }
        var chunks: [String] = []
        var current = ""
        for character in text {
            // 45 bytes of UTF-8 encode to 60 base64 characters: 72 with the word's frame.
            if current.utf8.count + character.utf8.count > 45 {
                chunks.append(current)
                current = ""
            }
            current.append(character)
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks.map { "=?UTF-8?B?\(Data($0.utf8).base64EncodedString())?=" }.joined(separator: "\n ")
    }

    /// `text` in quoted-printable (RFC 2045 §6.7), lines of at most 76 characters.
    static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        var lineLength = 0
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (number, line) in lines.enumerated() {
            let bytes = Array(line.utf8)
            for (offset, byte) in bytes.enumerated() {
                let last = offset == bytes.count - 1
                let literal = (byte >= 33 && byte <= 126 && byte != 61) || (byte == 32 && !last)
                let width = literal ? 1 : 3
                if lineLength + width > 75 {
                    output += Array("=\n".utf8)
                    lineLength = 0
                }
                if literal {
                    output.append(byte)
                } else {
                    output += [61, hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
                }
                lineLength += width
            }
            if number < lines.count - 1 {
                output.append(10)
                lineLength = 0
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `seconds` since 1970 as an RFC 5322 date in UTC: `Tue, 04 Mar 2025 10:15:00 +0000`.
    static func rfc5322Date(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondsOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.civilDate(daysSince1970: days)
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(day)) \(months[Int(month) - 1]) \(year) "
            + "\(two(secondsOfDay / 3600)):\(two(secondsOfDay % 3600 / 60)):\(two(secondsOfDay % 60)) +0000"
    }
}

import MailStore

/// Compares a user's mail on the two hosts of its pair: what "identical" means for the
/// demo is what a sync promises (the design's sync semantics).
///
/// Mailboxes are matched by name and must have the same mailbox GUID, UIDVALIDITY and
/// subscription; their messages are matched by UID and must have the same message GUID,
/// flags, keyword names and body bytes.
struct DemoVerifier {
    /// What the comparison of one user found.
    struct Report: Sendable, Codable {
        var user: String
        var pair: String
        var mailboxes = 0
        var messages = 0
        var bytes: Int64 = 0
        /// Empty when the user's mail is identical on both hosts; else one line per
        /// difference, naming the mailbox and the UID.
        var differences: [String] = []
        var identical: Bool { differences.isEmpty }

        enum CodingKeys: String, CodingKey {
            case user, pair, mailboxes, messages, bytes, differences, identical
        }

        init(user: String, pair: String) {
            self.user = user
            self.pair = pair
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            user = try container.decode(String.self, forKey: .user)
            pair = try container.decode(String.self, forKey: .pair)
            mailboxes = try container.decode(Int.self, forKey: .mailboxes)
            messages = try container.decode(Int.self, forKey: .messages)
            bytes = try container.decode(Int64.self, forKey: .bytes)
            differences = try container.decode([String].self, forKey: .differences)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(user, forKey: .user)
            try container.encode(pair, forKey: .pair)
            try container.encode(mailboxes, forKey: .mailboxes)
            try container.encode(messages, forKey: .messages)
            try container.encode(bytes, forKey: .bytes)
            try container.encode(differences, forKey: .differences)
            try container.encode(identical, forKey: .identical)
        }
    }

    /// At most this many differences are listed per user; the count says how many more.
    static let maximumListed = 20

    let configuration: MailStoreConfiguration

    /// Compares `user`'s mail roots `rootA` (host `hostA`) and `rootB` (host `hostB`).
    func compare(user: String, pair: String, rootA: String, rootB: String, hostA: String, hostB: String) -> Report {
        var report = Report(user: user, pair: pair)
        var differences: [String] = []
        let a = MailStore(root: rootA, configuration: configuration)
        let b = MailStore(root: rootB, configuration: configuration)
        let listedA: [MailboxStatus]
        let listedB: [MailboxStatus]
        do {
            listedA = try a.listMailboxes()
            listedB = try b.listMailboxes()
        } catch {
            report.differences = ["cannot list the mailboxes: \(error)"]
            return report
        }
        let byNameB = Dictionary(listedB.map { (b.displayName($0.name), $0) }, uniquingKeysWith: { first, _ in first })
        let namesA = Set(listedA.map { a.displayName($0.name) })
        for name in byNameB.keys.sorted() where !namesA.contains(name) {
            differences.append("mailbox \(name): only on \(hostB)")
        }
        for statusA in listedA {
            let name = a.displayName(statusA.name)
            guard let statusB = byNameB[name] else {
                differences.append("mailbox \(name): only on \(hostA)")
                continue
            }
            report.mailboxes += 1
            if statusA.guid != statusB.guid {
                differences.append("mailbox \(name): GUID \(statusA.guid) on \(hostA), \(statusB.guid) on \(hostB)")
            }
            if statusA.uidValidity != statusB.uidValidity {
                differences.append("mailbox \(name): UIDVALIDITY \(statusA.uidValidity) on \(hostA), \(statusB.uidValidity) on \(hostB)")
            }
            if statusA.isSubscribed != statusB.isSubscribed {
                differences.append("mailbox \(name): subscribed on \(statusA.isSubscribed ? hostA : hostB) only")
            }
            compareMessages(in: statusA.name, named: name, a: a, b: b, hosts: (hostA, hostB), report: &report, differences: &differences)
        }
        if differences.count > Self.maximumListed {
            let more = differences.count - Self.maximumListed
            differences = Array(differences.prefix(Self.maximumListed)) + ["… and \(more) more differences"]
        }
        report.differences = differences
        return report
    }

    private func compareMessages(
        in mailbox: MailboxName, named name: String, a: MailStore, b: MailStore, hosts: (a: String, b: String),
        report: inout Report, differences: inout [String]
    ) {
        let messagesA: [MessageInfo]
        let messagesB: [MessageInfo]
        do {
            messagesA = try a.listMessages(in: mailbox)
            messagesB = try b.listMessages(in: mailbox)
        } catch {
            differences.append("mailbox \(name): cannot list the messages: \(error)")
            return
        }
        let byUIDB = Dictionary(messagesB.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        let uidsA = Set(messagesA.map(\.uid))
        for message in messagesB where !uidsA.contains(message.uid) {
            differences.append("mailbox \(name): UID \(message.uid): only on \(hosts.b)")
        }
        for message in messagesA {
            guard let other = byUIDB[message.uid] else {
                differences.append("mailbox \(name): UID \(message.uid): only on \(hosts.a)")
                continue
            }
            report.messages += 1
            report.bytes += message.size
            let uid = "mailbox \(name): UID \(message.uid)"
            if message.guid != other.guid {
                differences.append("\(uid): GUID \(message.guid) on \(hosts.a), \(other.guid) on \(hosts.b)")
                continue
            }
            if message.flags.system != other.flags.system || Set(message.flags.keywords) != Set(other.flags.keywords) {
                differences.append(
                    "\(uid): flags \(Self.describe(message.flags)) on \(hosts.a), \(Self.describe(other.flags)) on \(hosts.b)")
            }
            do {
                let bodyA = try Self.body(a, mailbox, message)
                let bodyB = try Self.body(b, mailbox, other)
                if bodyA != bodyB {
                    differences.append(
                        "\(uid): bodies differ (\(bodyA.count) bytes, digest \(Self.digest(bodyA)) on \(hosts.a); "
                            + "\(bodyB.count) bytes, digest \(Self.digest(bodyB)) on \(hosts.b))")
                }
            } catch {
                differences.append("\(uid): cannot read the body: \(error)")
            }
        }
    }

    private static func body(_ store: MailStore, _ mailbox: MailboxName, _ message: MessageInfo) throws -> [UInt8] {
        let reader = try store.openMessage(in: mailbox, message)
        defer { reader.close() }
        return try reader.readAll()
    }

    private static func describe(_ flags: MessageFlags) -> String {
        let names = flags.system.imapNames + flags.keywords.sorted()
        return names.isEmpty ? "(none)" : "(" + names.joined(separator: " ") + ")"
    }

    /// A short digest of a body for the report (64-bit FNV-1a, hex): enough to tell two
    /// different bodies apart in a message; the comparison itself is byte for byte.
    static func digest(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

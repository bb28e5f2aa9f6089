import MailStore

/// The demo's mailbox tree and where its generated messages go: the usual folders, nested
/// ones, and names that are not ASCII (stored in modified UTF-7 on disk, as Dovecot does).
enum DemoMailboxes {
    /// Each mailbox and its share of a user's messages (the shares add up to 100).
    static let layout: [(name: String, share: Int)] = [
        ("INBOX", 38), ("Sent", 14), ("Drafts", 3), ("Trash", 5), ("Junk", 0), ("Archive/2024", 14), ("Archive/2025", 12),
        ("Projekte/Übersicht", 8), ("Reisen/日本", 6),
    ]

    /// Keywords the demo sets, as mail clients do.
    static let keywords = ["$Forwarded", "$label1", "$label2", "$MDNSent", "project-x"]

    /// The flags a generated message in `mailbox` starts with.
    static func initialFlags(in mailbox: String, using random: inout DemoRandom) -> MessageFlags {
        var flags = MessageFlags()
        switch mailbox {
        case "Sent": flags.system = [.seen]
        case "Drafts": flags.system = [.draft, .seen]
        case "Trash": flags.system = random.chance(0.5) ? [.seen, .deleted] : [.seen]
        default:
            if random.chance(0.7) { flags.system.insert(.seen) }
            if random.chance(0.15) { flags.system.insert(.answered) }
            if random.chance(0.05) { flags.system.insert(.flagged) }
        }
        if random.chance(0.12) { flags.keywords.append(random.pick(keywords)) }
        return flags
    }

    /// How many of `total` messages go to each mailbox (at least one message in total).
    static func counts(total: Int) -> [(name: String, count: Int)] {
        var counts = layout.map { (name: $0.name, count: total * $0.share / 100) }
        // What rounding left over goes to INBOX.
        counts[0].count += total - counts.reduce(0) { $0 + $1.count }
        return counts
    }
}

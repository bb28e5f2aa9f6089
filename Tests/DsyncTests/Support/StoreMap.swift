import MailStore

@testable import Dsync

/// One message as the exact assertions see it: its GUID and its flags.
struct MessageEntry: Hashable, CustomStringConvertible {
    var guid: String
    var flags: SyncFlags

    var description: String { flags == SyncFlags() ? guid : "\(guid) \(flags.imapText)" }
}

/// One mailbox of one side: identity, next UID and the UID → (GUID, flags) map.
struct MailboxMap: Hashable, CustomStringConvertible {
    var guid: String
    var uidValidity: UInt32
    var uidNext: UInt32
    var messages: [UInt32: MessageEntry]

    var description: String {
        let list = messages.keys.sorted().map { "\($0): \(messages[$0]!)" }.joined(separator: ", ")
        return "guid \(guid) uidvalidity \(uidValidity) uidnext \(uidNext) [\(list)]"
    }
}

/// Every mailbox of one side by name (levels joined by `/`), plus the subscriptions.
struct StoreMap: Hashable, CustomStringConvertible {
    var mailboxes: [String: MailboxMap]
    var subscriptions: Set<String>

    /// Just the UID → (GUID, flags) maps, by mailbox name.
    var messages: [String: [UInt32: MessageEntry]] { mailboxes.mapValues(\.messages) }

    /// Every message GUID with the number of times it occurs in any mailbox.
    var guidCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for mailbox in mailboxes.values {
            for entry in mailbox.messages.values { counts[entry.guid, default: 0] += 1 }
        }
        return counts
    }

    var description: String {
        mailboxes.keys.sorted().map { "\($0): \(mailboxes[$0]!)" }.joined(separator: "\n")
            + "\nsubscriptions: \(subscriptions.sorted())"
    }
}

/// Reads the exact state of a store: every mailbox's GUID, UIDVALIDITY, next UID and
/// UID → (GUID, flags) map, and the subscriptions.
func mapOf(_ store: MailStore) throws -> StoreMap {
    var mailboxes: [String: MailboxMap] = [:]
    for name in try store.mailboxNames() {
        let (status, messages) = try store.contents(of: name)
        var entries: [UInt32: MessageEntry] = [:]
        for message in messages {
            entries[message.uid] = MessageEntry(guid: message.guid, flags: SyncFlags(message.flags))
        }
        mailboxes[name.joined()] = MailboxMap(
            guid: status.guid.hex, uidValidity: status.uidValidity, uidNext: status.uidNext, messages: entries)
    }
    return StoreMap(mailboxes: mailboxes, subscriptions: Set(try store.subscriptions().map { $0.joined() }))
}

/// `m("guid", "\\Seen $Work")`: an expected message.
func m(_ guid: String, _ flags: String = "") -> MessageEntry {
    MessageEntry(guid: guid, flags: SyncFlags(flags))
}

extension SyncFlags {
    /// Flags from IMAP tokens, e.g. `"\\Seen \\Flagged $Work"`.
    init(_ text: String) {
        // The literals in the tests are valid flag lists.
        self.init(try! MessageFlags(parsing: [text]))
    }

    /// The flags as IMAP tokens.
    var imapText: String {
        (messageFlags.system.imapNames + keywords).joined(separator: " ")
    }
}

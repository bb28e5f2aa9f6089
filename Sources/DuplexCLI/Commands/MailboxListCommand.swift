import ArgumentParser
import MailStore

/// `duplex mailbox list MAILROOT [--json]`: what `doveadm mailbox status 'guid uidvalidity
/// uidnext messages' '*'` shows, plus the subscription.
struct MailboxListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the mailboxes of a Maildir with GUID, UIDVALIDITY, next UID and message count."
    )

    @Argument(help: "The mail root (INBOX's Maildir), e.g. /home/alice/Maildir.")
    var mailRoot: String

    @Flag(help: "Print a JSON array of {name, guid, uidvalidity, uidnext, messages, subscribed}.")
    var json = false

    @OptionGroup var options: StoreOptions

    struct Row: Encodable {
        var name: String
        var guid: String
        var uidvalidity: UInt32
        var uidnext: UInt32
        var messages: Int
        var subscribed: Bool
    }

    func run() throws {
        try runReportingErrors {
            let store = options.store(mailRoot)
            let rows = try store.listMailboxes().map {
                Row(name: store.displayName($0.name), guid: $0.guid.hex, uidvalidity: $0.uidValidity,
                    uidnext: $0.uidNext, messages: $0.messages, subscribed: $0.isSubscribed)
            }
            if json { return try Output.json(rows) }
            Output.write(Output.table(
                header: ["MAILBOX", "GUID", "UIDVALIDITY", "UIDNEXT", "MESSAGES", "SUBSCRIBED"],
                rows: rows.map { [$0.name, $0.guid, String($0.uidvalidity), String($0.uidnext), String($0.messages), $0.subscribed ? "yes" : "no"] },
                rightAligned: [2, 3, 4]))
        }
    }
}

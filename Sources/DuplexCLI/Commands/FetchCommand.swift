import ArgumentParser
import MailStore

/// `duplex fetch MAILROOT MAILBOX [--json]`: what `doveadm fetch 'uid guid flags'` shows,
/// plus the size.
struct FetchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "List a mailbox's messages: UID, GUID, flags and size."
    )

    @Argument(help: "The mail root (INBOX's Maildir).")
    var mailRoot: String

    @Argument(help: "The mailbox name, e.g. INBOX or Archive/2024.")
    var mailbox: String

    @Flag(help: "Print a JSON array of {uid, guid, flags, size}.")
    var json = false

    @OptionGroup var options: StoreOptions

    struct Row: Encodable {
        var uid: UInt32
        var guid: String
        var flags: [String]
        var size: Int64
    }

    func run() throws {
        try runReportingErrors {
            let store = options.store(mailRoot)
            let messages = try store.listMessages(in: try store.mailboxName(mailbox))
            if json {
                return try Output.json(messages.map { Row(uid: $0.uid, guid: $0.guid, flags: $0.flags.imapNames, size: $0.size) })
            }
            Output.write(Output.table(
                header: ["UID", "GUID", "FLAGS", "SIZE"],
                rows: messages.map { [String($0.uid), $0.guid, $0.flags.imapNames.joined(separator: " "), String($0.size)] },
                rightAligned: [0, 3]))
        }
    }
}

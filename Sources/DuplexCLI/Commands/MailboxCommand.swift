import ArgumentParser
import MailStore

/// `duplex mailbox …`: list and change a mail root's mailboxes, like `doveadm mailbox`.
struct MailboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox",
        abstract: "List, create, rename, delete and subscribe mailboxes of a Maildir.",
        subcommands: [
            MailboxListCommand.self, MailboxCreateCommand.self, MailboxRenameCommand.self,
            MailboxDeleteCommand.self, MailboxSubscribeCommand.self, MailboxUnsubscribeCommand.self,
        ]
    )
}

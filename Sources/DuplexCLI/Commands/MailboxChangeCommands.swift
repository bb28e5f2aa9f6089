import ArgumentParser
import MailStore

/// Arguments shared by the commands that change one mailbox.
struct MailboxTarget: ParsableArguments {
    @Argument(help: "The mail root (INBOX's Maildir).")
    var mailRoot: String

    @Argument(help: "The mailbox name, levels separated by --separator (default '/').")
    var name: String

    @OptionGroup var options: StoreOptions

    /// Opens the store and parses the name; name errors exit with 64.
    func resolve() throws -> (MailStore, MailboxName) {
        let store = options.store(mailRoot)
        return (store, try store.mailboxName(name))
    }
}

/// `duplex mailbox create MAILROOT NAME`.
struct MailboxCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a mailbox.")
    @OptionGroup var target: MailboxTarget

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let status = try store.createMailbox(name)
            Output.write("created \(store.displayName(name)) guid=\(status.guid.hex) uidvalidity=\(status.uidValidity)\n")
        }
    }
}

/// `duplex mailbox rename MAILROOT NAME NEW`.
struct MailboxRenameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename", abstract: "Rename a mailbox and its children, keeping GUIDs and UIDs.")
    @OptionGroup var target: MailboxTarget
    @Argument(help: "The new name.")
    var newName: String

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let newMailbox = try store.mailboxName(newName)
            try store.renameMailbox(name, to: newMailbox)
            Output.write("renamed \(store.displayName(name)) to \(store.displayName(newMailbox))\n")
        }
    }
}

/// `duplex mailbox delete MAILROOT NAME`.
struct MailboxDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a mailbox and its messages (children stay).")
    @OptionGroup var target: MailboxTarget

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let guid = try store.deleteMailbox(name)
            Output.write("deleted \(store.displayName(name))\(guid.map { " guid=\($0.hex)" } ?? "")\n")
        }
    }
}

/// `duplex mailbox subscribe MAILROOT NAME`.
struct MailboxSubscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "subscribe", abstract: "Subscribe to a mailbox.")
    @OptionGroup var target: MailboxTarget

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            try store.subscribe(name)
            Output.write("subscribed \(store.displayName(name))\n")
        }
    }
}

/// `duplex mailbox unsubscribe MAILROOT NAME`.
struct MailboxUnsubscribeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unsubscribe", abstract: "Unsubscribe from a mailbox.")
    @OptionGroup var target: MailboxTarget

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            try store.unsubscribe(name)
            Output.write("unsubscribed \(store.displayName(name))\n")
        }
    }
}

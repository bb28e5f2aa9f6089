import ArgumentParser
import MailStore

/// `duplex mail …`: save, flag and expunge messages.
struct MailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mail",
        abstract: "Save, flag and expunge messages in a Maildir.",
        subcommands: [MailSaveCommand.self, MailFlagsCommand.self, MailExpungeCommand.self]
    )
}

/// `duplex mail save MAILROOT MAILBOX FILE [--flags …] [--uid N] [--guid G]`.
struct MailSaveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "save",
        abstract: "Save a message file into a mailbox (through tmp/, fsynced, UID recorded).")

    @OptionGroup var target: MailboxTarget

    @Argument(help: "The RFC 5322 message file to save.")
    var file: String

    @Option(help: ArgumentHelp("Flags and keywords, space separated, e.g. '\\Seen $Label1'.", valueName: "FLAGS"))
    var flags: String = ""

    @Option(help: ArgumentHelp("The UID to give the message; at least the mailbox's next UID.", valueName: "N"))
    var uid: UInt32?

    @Option(help: ArgumentHelp("The message GUID to record (default: the new file's base name).", valueName: "GUID"))
    var guid: String?

    func validate() throws {
        if let uid, uid == 0 || uid == UInt32.max { throw ValidationError("--uid must be between 1 and 4294967294") }
    }

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let parsed = try MessageFlags(parsing: [flags])
            let saved = try store.saveMessage(in: name, contentsOf: file, options: SaveOptions(uid: uid, flags: parsed, guid: guid))
            Output.write("saved uid=\(saved.uid) guid=\(saved.guid) size=\(saved.size)\n")
        }
    }
}

/// `duplex mail flags MAILROOT MAILBOX UID (add|remove|replace) FLAGS…`.
struct MailFlagsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flags", abstract: "Add, remove or replace a message's flags and keywords.")

    @OptionGroup var target: MailboxTarget

    @Argument(help: "The message's UID.")
    var uid: UInt32

    @Argument(help: "add, remove or replace.")
    var action: FlagUpdateAction

    @Argument(help: "Flags such as \\Seen \\Flagged and keywords such as $Label1.")
    var flags: [String] = []

    func validate() throws {
        if flags.isEmpty && action != .replace { throw ValidationError("give at least one flag to \(action.rawValue)") }
    }

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let parsed = try MessageFlags(parsing: flags)
            let changed = try store.updateFlags(in: name, uids: [uid], action, parsed)
            guard !changed.isEmpty else {
                throw MailStoreError(.notFound, "no message with UID \(uid) in mailbox \"\(store.displayName(name))\"")
            }
            Output.write("flags \(action.rawValue) uid=\(uid)\n")
        }
    }
}

extension FlagUpdateAction: ExpressibleByArgument {}

/// `duplex mail expunge MAILROOT MAILBOX UID…`.
struct MailExpungeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expunge", abstract: "Expunge messages by UID; their UIDs are never reused.")

    @OptionGroup var target: MailboxTarget

    @Argument(help: "UIDs to expunge.")
    var uids: [UInt32]

    func validate() throws {
        if uids.isEmpty { throw ValidationError("give at least one UID") }
    }

    func run() throws {
        try runReportingErrors {
            let (store, name) = try target.resolve()
            let done = try store.expunge(in: name, uids: uids)
            Output.write("expunged \(done.count) of \(uids.count) message(s)\(done.isEmpty ? "" : ": " + done.map(String.init).joined(separator: " "))\n")
        }
    }
}

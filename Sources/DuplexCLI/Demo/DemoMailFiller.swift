import Foundation
import MailStore

/// Fills a user's mail root with generated mail, or with a copy of a real Maildir
/// (`duplex demo --maildir PATH --user NAME`), before the fleet starts.
struct DemoMailFiller {
    let factory: DemoMessageFactory
    let seed: UInt64
    /// How the demo's stores write (`fsync` off while filling: a crash loses only the demo).
    let configuration: MailStoreConfiguration

    /// Creates the demo's mailboxes in `root` and saves `total` messages into them, one
    /// batch per mailbox; everything is subscribed.
    ///
    /// - Returns: the messages and bytes saved.
    /// - Throws: ``MailStoreError`` naming the mailbox.
    func fill(root: String, user: String, total: Int) throws -> (messages: Int, bytes: Int64) {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let store = MailStore(root: root, configuration: configuration)
        var random = DemoRandom(seed: seed, stream: "fill/\(user)")
        var messages = 0
        var bytes: Int64 = 0
        var index = 0
        for (name, count) in DemoMailboxes.counts(total: total) {
            let mailbox = try store.mailboxName(name)
            _ = try store.createMailbox(mailbox)
            try store.subscribe(mailbox)
            guard count > 0 else { continue }
            let batch = try store.makeSaveBatch(in: mailbox)
            var made: [(DemoMessageFactory.Message, MessageFlags)] = []
            for _ in 0..<count {
                index += 1
                made.append((factory.make(user: user, mailbox: name, index: index, using: &random),
                    DemoMailboxes.initialFlags(in: name, using: &random)))
            }
            // Delivered in date order, as mail arrives.
            made.sort { $0.0.date < $1.0.date }
            for (message, flags) in made {
                try batch.add(options: SaveOptions(flags: flags, receivedDate: message.date)) { writer in
                    try writer.write(message.bytes)
                }
                bytes += Int64(message.bytes.count)
            }
            messages += try batch.commit().count
        }
        return (messages, bytes)
    }

    /// Copies the Maildir at `source` into `root` (which must not exist yet), then reads it
    /// back with MailStore so that a Maildir it cannot read is refused before anything runs.
    ///
    /// - Returns: the mailboxes and messages found.
    /// - Throws: ``DemoError`` naming the path and what is wrong with it.
    static func importMaildir(from source: String, to root: String, configuration: MailStoreConfiguration) throws -> (mailboxes: Int, messages: Int) {
        try FileManager.default.createDirectory(
            atPath: (root as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            try FileManager.default.copyItem(atPath: source, toPath: root)
        } catch {
            throw DemoError("--maildir \(source): cannot copy it: \(error.localizedDescription)")
        }
        let store = MailStore(root: root, configuration: configuration)
        do {
            let mailboxes = try store.listMailboxes()
            return (mailboxes.count, mailboxes.reduce(0) { $0 + $1.messages })
        } catch {
            throw DemoError("--maildir \(source): not a Maildir Duplex can read: \(error)")
        }
    }

    /// Checks that `path` looks like a Maildir (a directory with `cur/`, `new/` and `tmp/`).
    ///
    /// - Returns: a message naming the path and what is missing, nil when it looks right.
    static func maildirProblem(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return "--maildir \(path): no such file or directory"
        }
        guard isDirectory.boolValue else { return "--maildir \(path): not a directory" }
        let missing = ["cur", "new", "tmp"].filter { sub in
            var isDirectory: ObjCBool = false
            return !FileManager.default.fileExists(atPath: path + "/" + sub, isDirectory: &isDirectory) || !isDirectory.boolValue
        }
        guard missing.isEmpty else {
            return "--maildir \(path): not a Maildir (no \(missing.joined(separator: ", ")) directory)"
        }
        return nil
    }
}

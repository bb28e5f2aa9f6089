import Testing

@testable import MailStore

extension ScratchDirectory {
    /// A store on this directory: no fsync (speed), a short lock timeout (a stuck lock
    /// fails the test quickly instead of hanging it), a fixed host name.
    var store: MailStore {
        MailStore(
            root: path,
            configuration: MailStoreConfiguration(
                lock: DotlockConfiguration(timeout: .seconds(5)),
                subscriptionsLock: DotlockConfiguration(staleAfter: .seconds(30), timeout: .seconds(5)),
                fsync: false,
                hostName: "testhost"))
    }

    /// The uidlist of `mailbox` ("" for INBOX), parsed.
    func uidlist(_ mailbox: String = "") throws -> Uidlist {
        let relative = mailbox.isEmpty ? "dovecot-uidlist" : mailbox + "/dovecot-uidlist"
        return try Uidlist(parsing: try read(relative), path: path(relative))
    }

    /// Lines of the uidlist of `mailbox` ("" for INBOX).
    func uidlistLines(_ mailbox: String = "") throws -> [String] {
        let relative = mailbox.isEmpty ? "dovecot-uidlist" : mailbox + "/dovecot-uidlist"
        return try readText(relative).split(separator: "\n").map(String.init)
    }
}

/// A small message with CRLF and bare LF line ends.
func sampleMessage(_ number: Int) -> [UInt8] {
    Array("From: a@example.org\r\nSubject: message \(number)\r\n\r\nbody \(number)\nsecond line\n".utf8)
}

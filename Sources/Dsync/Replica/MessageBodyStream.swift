import NIOCore

/// One message body a sync wants from a replica: found by `guid` in the mailbox whose GUID
/// was `mailbox` when the replica was read; `uid` is its UID then (a hint: a message may
/// have moved to another UID since).
public struct BodyRequest: Sendable, Hashable, Codable {
    public var mailbox: String
    public var guid: String
    public var uid: UInt32

    public init(mailbox: String, guid: String, uid: UInt32) {
        self.mailbox = mailbox
        self.guid = guid
        self.uid = uid
    }
}

/// What is known of a body before its bytes: its size in bytes and its received date (Unix
/// seconds; Maildir keeps it as the file's modification time).
public struct BodyHeader: Sendable, Hashable, Codable {
    public var size: Int64
    public var receivedDate: Int64?

    public init(size: Int64, receivedDate: Int64?) {
        self.size = size
        self.receivedDate = receivedDate
    }
}

/// The bodies of a list of ``BodyRequest``s, one after the other in request order, each in
/// pieces, so that only one piece is in memory at a time whatever the message size.
///
/// Use: for every request, ``nextMessage()`` then, when it found one, ``nextChunk()`` until
/// it returns nil; then ``finish()`` (also after an error or to stop early: it skips what
/// was not read). One task uses a stream at a time.
public protocol MessageBodyStream: AnyObject {
    /// Moves to the next requested message. Returns its header, or nil when it is gone (it
    /// was expunged since the replica was read).
    ///
    /// - Throws: ``DsyncError`` on I/O or protocol errors; `usage` when called more often
    ///   than there are requests or before the previous body was read to its end.
    func nextMessage() async throws -> BodyHeader?

    /// The next piece of the current body (at most 256 KiB), or nil at its end. At the end
    /// the size (and over the network the SHA-256 digest) has been checked.
    ///
    /// - Throws: ``DsyncError`` `protocolError` when the body is not what was announced.
    func nextChunk() async throws -> ByteBuffer?

    /// Stops using the stream: skips the rest, releases files and connections' pending data.
    func finish() async throws
}

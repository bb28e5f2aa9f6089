import MailStore
import NIOCore

/// The bodies of a ``LocalReplica``: each message file read in 256 KiB pieces.
final class LocalBodyStream: MessageBodyStream {
    private let replica: LocalReplica
    private let requests: [BodyRequest]
    private var index = 0
    private var reader: MessageBodyReader?
    private var remaining: Int64 = 0
    private let allocator = ByteBufferAllocator()

    init(replica: LocalReplica, requests: [BodyRequest]) {
        self.replica = replica
        self.requests = requests
    }

    deinit { reader?.close() }

    func nextMessage() async throws -> BodyHeader? {
        guard index < requests.count else {
            throw DsyncError(.usage, "a body was asked for beyond the \(requests.count) requested")
        }
        reader?.close()
        reader = nil
        let request = requests[index]
        index += 1
        guard let opened = try replica.openBody(mailbox: request.mailbox, guid: request.guid, uidHint: request.uid) else {
            return nil
        }
        let size = try opened.size()
        reader = opened
        remaining = size
        return BodyHeader(size: size, receivedDate: opened.receivedDate)
    }

    func nextChunk() async throws -> ByteBuffer? {
        guard let reader else { return nil }
        let want = Int(min(remaining, Int64(DsyncFrame.maximumBodyChunkLength)))
        if want == 0 {
            // The announced size is read; a file that grew meanwhile is not a Maildir message.
            reader.close()
            self.reader = nil
            return nil
        }
        var buffer = allocator.buffer(capacity: want)
        let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { pointer in
            try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: pointer.prefix(want)))
        }
        guard count > 0 else {
            throw DsyncError(.changedDuringSync, "\(reader.path): the message file shrank while it was read")
        }
        remaining -= Int64(count)
        return buffer
    }

    func finish() async throws {
        reader?.close()
        reader = nil
        index = requests.count
    }
}

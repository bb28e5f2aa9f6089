import Foundation
import MailStore

/// The operations of the sync conversation after the handshake. The client sends one
/// `request` frame per operation; its JSON is a ``DsyncRequestBody``.
///
/// Every `response` payload starts with a status byte: `0` then the operation's result, or
/// `1` then a ``DsyncRemoteError`` as JSON. Results are JSON except for ``read`` and
/// ``stateView``, whose result is a replica view in the binary form of the sync state. A request or response
/// payload too large for one frame is sent as a frame with an empty payload followed by
/// `bodyChunk` frames with the same id and a `bodyEnd` with its size and SHA-256 digest.
package enum DsyncOperation: String, Codable, Sendable {
    /// Take the user's sync lock (`lockTimeoutMilliseconds`); nothing else is allowed before.
    case lock
    /// Release the lock.
    case unlock
    /// Whether the user's mail root exists. Result: `{"exists": Bool}`.
    case exists
    /// Create the user's mail root with an empty INBOX. Result: `{"done": true}`.
    case create
    /// The stamps of every mailbox. Result: a `StoreStamp`, as JSON, or in binary when
    /// both sides offered ``DsyncCapability/binaryStamps``.
    case stamp
    /// Every mailbox with its messages except the `reusing` ones (given without messages:
    /// the client keeps them). Result: the view in binary.
    case read
    /// Bodies of `bodies`, streamed: for each, a response `{"found":…,"size":…,
    /// "receivedDate":…}`, then for a found one its `bodyChunk` frames and `bodyEnd`.
    case bodies
    /// Apply `changes`. The client then pushes the body of every `copyMessage` change in
    /// order: a `request` frame with the same id holding a ``DsyncBodyHeader``, then the
    /// body's chunks and end. Result: an `ApplyReport`.
    case apply
    /// The header of the sync state the serving host saved for this user with its
    /// replication peer (its own replicator's last sync, from its side: A is the serving
    /// host). Result: a ``DsyncStateHeaderResult``, `header` null when it keeps none.
    case stateHeader
    /// The common view of that state. Result: the view in binary; `noSuchUser` when the
    /// host keeps no state for the user.
    case stateView
}

/// Capabilities of the sync conversation, offered in the hello and agreed in the welcome.
package enum DsyncCapability {
    /// The result of ``DsyncOperation/stamp`` is binary, as the stamps of the sync state
    /// are stored (see `SyncState.Header`): a u32 mailbox count, each mailbox's name and its
    /// four file stamps, the subscriptions' stamp and the time taken, nothing after. A
    /// no-change sync is mostly the exchange of stamps; in JSON they were about 340 bytes a
    /// mailbox, and the agent's encoding and the client's decoding of them were the largest
    /// part of its work.
    package static let binaryStamps = "binary-stamps"
}

extension StoreStamp {
    /// The binary form of ``DsyncCapability/binaryStamps``.
    package var wireBinary: [UInt8] {
        var writer = BinaryWriter()
        writer.stamp(self)
        return writer.buffer
    }

    /// Reads the binary form of ``DsyncCapability/binaryStamps``.
    ///
    /// - Throws: ``DsyncError`` `protocolError` for a truncated form or bytes after it.
    package init(wireBinary bytes: [UInt8], from peer: String) throws {
        var reader = BinaryReader(bytes: bytes, offset: 0)
        guard let stamp = reader.stamp(), reader.offset == reader.end else {
            throw DsyncError(.protocolError, "\(peer) sent a malformed stamp (\(bytes.count) bytes)")
        }
        self = stamp
    }
}

/// The JSON of a `request` frame.
package struct DsyncRequestBody: Codable, Sendable {
    package var op: DsyncOperation
    package var lockTimeoutMilliseconds: Int64?
    package var reusing: [MailboxView]?
    package var bodies: [BodyRequest]?
    package var changes: [ReplicaChange]?

    package init(
        op: DsyncOperation, lockTimeoutMilliseconds: Int64? = nil, reusing: [MailboxView]? = nil, bodies: [BodyRequest]? = nil,
        changes: [ReplicaChange]? = nil
    ) {
        self.op = op
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        self.reusing = reusing
        self.bodies = bodies
        self.changes = changes
    }
}

/// The header sent before a streamed body: which message it answers, and its size and
/// received date when it was found.
package struct DsyncBodyHeader: Codable, Sendable, Equatable {
    package var request: BodyRequest
    package var found: Bool
    package var size: Int64?
    package var receivedDate: Int64?
}

/// An error the peer reports for one request (the connection stays usable).
package struct DsyncRemoteError: Codable, Sendable {
    package var code: DsyncError.Code
    package var message: String
}

/// The result of ``DsyncOperation/stateHeader``.
package struct DsyncStateHeaderResult: Codable, Sendable {
    package var header: SyncState.Header?
}

/// The result of ``DsyncOperation/exists``.
package struct DsyncExistsResult: Codable, Sendable {
    package var exists: Bool
}

/// The result of ``DsyncOperation/lock`` and ``DsyncOperation/unlock``.
package struct DsyncDone: Codable, Sendable {
    package var done = true

    /// Its JSON, encoded once.
    package static let encoded: [UInt8] = (try? DsyncJSON.encode(DsyncDone())) ?? Array(#"{"done":true}"#.utf8)
}

/// JSON coding for the conversation.
package enum DsyncJSON {
    package static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            throw DsyncError(.protocolError, "cannot encode a \(T.self): \(error)")
        }
    }

    package static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw DsyncError(.protocolError, "the peer sent a malformed \(what): \(Self.describe(error))")
        }
    }

    /// A decoding error without the payload.
    static func describe(_ error: Error) -> String {
        guard let error = error as? DecodingError else { return "not valid JSON" }
        switch error {
        case .dataCorrupted(let context): return "corrupt data at \(path(context))"
        case .keyNotFound(let key, let context): return "missing key \(key.stringValue) at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context))"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        @unknown default: return "not valid"
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        let path = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return path.isEmpty ? "the top level" : path
    }
}

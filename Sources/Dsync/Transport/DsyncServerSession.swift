import Logging
import MailStore
import NIOCore
import Synchronization

/// The serving side of one connection after the handshake: takes the user's lock when
/// asked (nothing else is served before), then answers requests on the user's
/// ``LocalReplica`` until `unlock` or `goodbye`.
///
/// An error of one request (the replica's: lock timeout, no such user, changed during sync)
/// is answered and the connection goes on; a protocol error ends the connection, which
/// releases the lock.
struct DsyncServerSession {
    let connection: DsyncConnection
    let user: String
    let configuration: DsyncServerConfiguration
    let logger: Logger
    /// Whether stamps are answered in binary (``DsyncCapability/binaryStamps`` agreed).
    var binaryStamps = false

    func run() async throws {
        while true {
            let frame = try await connection.receive(while: "waiting for a request")
            switch frame {
            case .goodbye:
                return
            case .request(let id, let buffer):
                let request = try await decode(buffer, id: id)
                guard request.op == .lock else {
                    try await connection.respond(id: id, error: DsyncError(.usage, "\(request.op.rawValue) before the user's lock was taken"))
                    continue
                }
                if try await locked(id: id, request) { return }
            default:
                throw DsyncError(.protocolError, "\(connection.peer) sent a \(frame.kind) frame where a request belongs")
            }
        }
    }

    private func decode(_ buffer: ByteBuffer, id: UInt32) async throws -> DsyncRequestBody {
        let payload = try await connection.receivePayload(buffer, id: id, what: "a request")
        return try DsyncJSON.decode(DsyncRequestBody.self, from: payload, what: "request")
    }

    /// Takes the lock and serves until unlock (false) or goodbye (true).
    private func locked(id: UInt32, _ request: DsyncRequestBody) async throws -> Bool {
        let root: String
        do {
            root = try configuration.mailRoot.mailRoot(for: user)
        } catch let error as DsyncError {
            try await connection.respond(id: id, error: error)
            return false
        }
        let replica = LocalReplica(store: MailStore(root: root, configuration: configuration.store), createsParents: true)
        let asked = Duration.milliseconds(max(0, request.lockTimeoutMilliseconds ?? 0))
        let timeout = min(asked, configuration.lockTimeout)
        let entered = Flag()
        do {
            return try await replica.withUserLock(timeout: timeout) {
                entered.set()
                // Answered before it is logged: the client waits for this answer.
                try await connection.respond(id: id, result: DsyncDone.encoded)
                logger.info("sync started", metadata: ["mail_root": "\(root)"])
                let goodbye = try await serve(replica)
                logger.info("sync finished")
                return goodbye
            }
        } catch let error as DsyncError where !entered.isSet {
            logger.info("lock refused: \(error.message)")
            try await connection.respond(id: id, error: error)
            return false
        }
    }

    /// Requests while holding the lock.
    private func serve(_ replica: LocalReplica) async throws -> Bool {
        while true {
            let frame = try await connection.receive(while: "waiting for a request")
            guard case .request(let id, let buffer) = frame else {
                if case .goodbye = frame { return true }
                throw DsyncError(.protocolError, "\(connection.peer) sent a \(frame.kind) frame where a request belongs")
            }
            let request = try await decode(buffer, id: id)
            do {
                switch request.op {
                case .lock:
                    throw DsyncError(.usage, "the lock is already held")
                case .unlock:
                    try await connection.respond(id: id, result: DsyncDone.encoded)
                    return false
                case .create:
                    try await replica.create()
                    try await connection.respond(id: id, result: DsyncDone.encoded)
                case .exists:
                    let exists = try await replica.exists()
                    try await connection.respond(id: id, result: try DsyncJSON.encode(DsyncExistsResult(exists: exists)))
                case .stamp:
                    let stamp = try await replica.stamp()
                    try await connection.respond(id: id, result: binaryStamps ? stamp.wireBinary : try DsyncJSON.encode(stamp))
                case .read:
                    var reusing: [String: MailboxView] = [:]
                    for mailbox in request.reusing ?? [] { reusing[mailbox.displayName] = mailbox }
                    let view = try await replica.read(reusing: reusing)
                    try await connection.respond(id: id, result: view.binaryEncoded())
                case .bodies:
                    let requests = request.bodies ?? []
                    let stream = try await replica.bodies(requests)
                    try await connection.sendBodies(stream, for: requests, id: id, response: true)
                case .stateHeader:
                    let header = try configuration.pairState?.store(user: user, root: replica.description).loadHeader()
                    try await connection.respond(id: id, result: try DsyncJSON.encode(DsyncStateHeaderResult(header: header)))
                case .stateView:
                    guard let store = configuration.pairState?.store(user: user, root: replica.description), let header = try store.loadHeader() else {
                        throw DsyncError(.noSuchUser, "this host keeps no sync state of \(user)")
                    }
                    try await connection.respond(id: id, result: try store.loadView(header).binaryEncoded())
                case .apply:
                    let changes = request.changes ?? []
                    let source = PushedBodies(connection: connection, id: id, expected: changes.bodyRequests)
                    let outcome: Result<ApplyReport, DsyncError>
                    do {
                        outcome = .success(try await replica.apply(changes, source: source))
                    } catch let error as DsyncError where error.code != .protocolError {
                        outcome = .failure(error)
                    }
                    try await source.drain()
                    switch outcome {
                    case .success(let report): try await connection.respond(id: id, result: try DsyncJSON.encode(report))
                    case .failure(let error): throw error
                    }
                }
            } catch let error as DsyncError where error.code != .protocolError && error.code != .authenticationFailed {
                logger.info("\(request.op.rawValue) failed: \(error.message)")
                try await connection.respond(id: id, error: error)
            }
        }
    }
}

/// The bodies a client pushes after an `apply` request, as the source the local apply
/// reads them from: each ``bodies(_:)`` call takes the next ones in order.
final class PushedBodies: Replica, @unchecked Sendable {
    let connection: DsyncConnection
    let id: UInt32
    let expected: [BodyRequest]
    private var next = 0
    private var open: WireBodyStream?

    init(connection: DsyncConnection, id: UInt32, expected: [BodyRequest]) {
        self.connection = connection
        self.id = id
        self.expected = expected
    }

    var description: String { connection.peer }

    func bodies(_ requests: [BodyRequest]) async throws -> any MessageBodyStream {
        try await closeOpen()
        let end = next + requests.count
        guard end <= expected.count, Array(expected[next..<end]) == requests else {
            throw DsyncError(.protocolError, "the apply asked for bodies in another order than they were pushed")
        }
        let stream = WireBodyStream(connection: connection, id: id, responses: false, requests: requests)
        next = end
        open = stream
        return stream
    }

    private func closeOpen() async throws {
        if let open { try await open.finish() }
        open = nil
    }

    /// Reads and drops every pushed body the apply did not take.
    func drain() async throws {
        try await closeOpen()
        if next < expected.count {
            let rest = WireBodyStream(connection: connection, id: id, responses: false, requests: Array(expected[next...]))
            next = expected.count
            try await rest.finish()
        }
    }

    func withUserLock<T: Sendable>(timeout: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        throw DsyncError(.usage, "pushed bodies are no replica to lock")
    }

    func exists() async throws -> Bool { true }
    func stamp() async throws -> StoreStamp { throw DsyncError(.usage, "pushed bodies have no stamp") }
    func create() async throws { throw DsyncError(.usage, "pushed bodies cannot be created") }
    func read(reusing: [String: MailboxView]) async throws -> ReplicaView { throw DsyncError(.usage, "pushed bodies cannot be read") }
    func apply(_ changes: [ReplicaChange], source: any Replica) async throws -> ApplyReport {
        throw DsyncError(.usage, "pushed bodies cannot be changed")
    }
}

import Logging
import MailStore

/// The serving side of a purge connection (the hello agreed to ``DsyncPurge/capability``):
/// reads the one ``DsyncPurgeOrder``, checks it and answers it.
///
/// The order is carried out only when every check passes, in this order: the client's
/// certificate names one of the purge identities (a peer host may sync but never purge),
/// the order's user is the hello's, the order names this host's pair and not as the
/// user's current one, and the ``DsyncPurgeAuthority`` confirms that the coordinator no
/// longer has the user on this pair. A refusal is answered as the request's error and
/// deletes nothing.
struct DsyncPurgeSession {
    let connection: DsyncConnection
    /// The user the hello named.
    let user: String
    /// The client certificate's allowed name.
    let identity: String
    let configuration: DsyncServerConfiguration
    let service: DsyncPurgeService
    let logger: Logger

    func run() async throws {
        let frame = try await connection.receive(while: "waiting for the purge order")
        guard case .request(let id, let buffer) = frame else {
            if case .goodbye = frame { return }
            throw DsyncError(.protocolError, "\(connection.peer) sent a \(frame.kind) frame where the purge order belongs")
        }
        let payload = try await connection.receivePayload(buffer, id: id, what: "the purge order")
        let order = try DsyncJSON.decode(DsyncPurgeOrder.self, from: payload, what: "purge order")
        do {
            let result = try await carryOut(order)
            try await connection.respond(id: id, result: try DsyncJSON.encode(result))
        } catch let error as DsyncError where error.code != .protocolError {
            logger.warning("purge refused: \(error.message)", metadata: ["move": "\(order.move)", "user_id": "\(order.userID)"])
            try await connection.respond(id: id, error: error)
        }
        // The client says goodbye; a client that just closes is fine too.
        _ = try? await connection.receive(while: "waiting for the goodbye")
    }

    private func carryOut(_ order: DsyncPurgeOrder) async throws -> DsyncPurgeResult {
        guard service.allows(identity) else {
            throw DsyncError(
                .authenticationFailed,
                "\(identity) may not order purges: only \(service.identities.joined(separator: ", ")) may")
        }
        guard order.user == user else {
            throw DsyncError(.usage, "the purge order is for user \(order.user) but the hello named \(user)")
        }
        guard order.pair == service.pair else {
            throw DsyncError(.usage, "the purge order is for pair \(order.pair), but this host is of pair \(service.pair)", user: user)
        }
        guard order.currentPair != service.pair else {
            throw DsyncError(.usage, "pair \(service.pair) is the user's current pair: its copy is the live one", user: user)
        }
        try await service.authority.confirmPurge(order)
        let root = try configuration.mailRoot.mailRoot(for: user)
        let replica = LocalReplica(store: MailStore(root: root, configuration: configuration.store))
        let existed = try await DsyncPurge.deleteMailRoot(root, replica: replica, lockTimeout: configuration.lockTimeout)
        logger.notice(
            existed ? "purged the copy of a user who moved to another pair" : "purge of a user whose copy was already gone",
            metadata: [
                "mail_root": "\(root)", "move": "\(order.move)", "user_id": "\(order.userID)", "epoch": "\(order.epoch)",
                "current_pair": "\(order.currentPair)",
            ])
        return DsyncPurgeResult(existed: existed, mailRoot: root)
    }
}

import Foundation

/// A registered agent.
struct AgentRepresentation: Encodable, Sendable {
    var host: String
    var pair: String
    var side: String
    var version: String
    var lastHeartbeat: Date

    init(_ agent: AgentRecord) {
        host = agent.host.value
        pair = agent.pair.value
        side = agent.side.rawValue
        version = agent.version
        lastHeartbeat = agent.lastHeartbeat
    }
}

/// One entry of a pair's change log, as agents pull it.
struct ChangeRepresentation: Encodable, Sendable {
    var version: Int64
    var userId: Int64
    var user: String
    /// `present` (replicate it) or `gone` (stop replicating it).
    var kind: String
    var noreplicate: Bool

    init(_ change: UserChange) {
        version = change.version
        userId = change.userID.rawValue
        user = change.userName.value
        switch change.kind {
        case .present(let record):
            kind = "present"
            noreplicate = record.noreplicate
        case .gone:
            kind = "gone"
            noreplicate = false
        }
    }
}

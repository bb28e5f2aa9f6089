import Foundation

/// A host of a pair as the API shows it: name, endpoints and health.
struct HostRepresentation: Encodable, Sendable {
    var name: String
    var dsync: String
    var admin: String
    var health: String

    init(_ host: PairHost) {
        name = host.name.value
        dsync = host.dsyncEndpoint.description
        admin = host.adminEndpoint.description
        health = host.health.rawValue
    }
}

/// A pair as the API shows it.
struct PairRepresentation: Encodable, Sendable {
    var id: Int64
    var name: String
    var state: String
    var capacity: Int
    var weight: Int
    var users: Int
    var hostA: HostRepresentation
    var hostB: HostRepresentation
    var createdAt: Date

    init(_ pair: PairRecord) {
        id = pair.id.rawValue
        name = pair.name.value
        state = pair.state.rawValue
        capacity = pair.capacity
        weight = pair.weight
        users = pair.userCount
        hostA = HostRepresentation(pair.hostA)
        hostB = HostRepresentation(pair.hostB)
        createdAt = pair.createdAt
    }
}

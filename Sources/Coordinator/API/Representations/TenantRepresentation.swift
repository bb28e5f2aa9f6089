import Foundation

/// A tenant as the API shows it.
struct TenantRepresentation: Encodable, Sendable {
    var id: Int64
    var name: String
    @EncodesNull var allowedPairs: [String]?
    @EncodesNull var userQuota: Int?
    var users: Int
    var createdAt: Date

    init(_ tenant: TenantRecord) {
        id = tenant.id.rawValue
        name = tenant.name.value
        allowedPairs = tenant.allowedPairs?.map(\.value)
        userQuota = tenant.userQuota
        users = tenant.userCount
        createdAt = tenant.createdAt
    }
}

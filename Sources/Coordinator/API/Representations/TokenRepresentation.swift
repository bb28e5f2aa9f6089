import Foundation

/// An API token without its secret.
struct TokenRepresentation: Encodable, Sendable {
    var id: Int64
    var label: String
    var role: String
    var createdAt: Date
    @EncodesNull var revokedAt: Date?

    init(_ token: TokenRecord) {
        id = token.id.rawValue
        label = token.label
        role = token.role.text
        createdAt = token.createdAt
        revokedAt = token.revokedAt
    }
}

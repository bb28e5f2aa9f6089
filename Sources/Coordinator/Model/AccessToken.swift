import Crypto
import Foundation

/// Who a bearer token speaks for.
public enum TokenRole: Hashable, Sendable {
    /// Everything.
    case admin
    /// Only this tenant's users and status.
    case tenant(CoordinatorName)
    /// Only this pair's users and status (an agent of the pair).
    case agent(pair: CoordinatorName)
}

/// A stored API token: its role and label. The secret itself is never stored, only its
/// SHA-256 digest.
public struct TokenRecord: Hashable, Sendable {
    public var id: TokenID
    /// What the token is for, as its creator described it (at most 200 bytes).
    public var label: String
    public var role: TokenRole
    public var createdAt: Date
    /// When it was revoked; a revoked token verifies as nothing.
    public var revokedAt: Date?

    public init(id: TokenID, label: String, role: TokenRole, createdAt: Date, revokedAt: Date?) {
        self.id = id
        self.label = label
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A token just created: the record and the secret, which is shown this once.
public struct IssuedToken: Sendable {
    public var record: TokenRecord
    /// `dpx_` followed by 43 base64url characters (32 random bytes).
    public var secret: String

    public init(record: TokenRecord, secret: String) {
        self.record = record
        self.secret = secret
    }
}

/// How token secrets are made and hashed.
public enum TokenSecret {
    /// What every secret starts with, so leaked secrets are easy to spot.
    public static let prefix = "dpx_"

    /// A new secret from 32 bytes of the system's secure random generator.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let base64 = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return prefix + base64
    }

    /// The lower-case hex SHA-256 digest of the secret's UTF-8 bytes: what the store keeps.
    public static func digest(of secret: String) -> String {
        // Every request's token is hashed: hex digits by table, not by String(radix:).
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(2 * SHA256.byteCount)
        for byte in SHA256.hash(data: Array(secret.utf8)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

import Foundation
import Hummingbird

/// A request the API refuses: the HTTP status, a stable `code` and a message naming what is
/// wrong and where, sent as `{"error": {"code": …, "message": …}}` (docs/coordinator-api.md).
///
/// Messages name fields, tenants, pairs, users and ids; they never hold SQL, bound values
/// other than those names, or token secrets.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable error codes of the API, one per status (two for 422).
    public enum Code: String, Sendable, CaseIterable {
        /// 400: malformed JSON, an unknown, missing or mistyped field, an invalid name or value.
        case badRequest = "bad_request"
        /// 401: no token, an unknown or a revoked one.
        case unauthorized
        /// 403: the token's role does not cover this tenant, pair or operation.
        case forbidden
        /// 404: no such tenant, pair, user, move, token or route.
        case notFound = "not_found"
        /// 409: it exists already, or its state forbids the change.
        case conflict
        /// 413: the body is over ``CoordinatorAPI/maximumBodySize``.
        case tooLarge = "too_large"
        /// 422: no allowed pair has room.
        case capacityExhausted = "capacity_exhausted"
        /// 422: the tenant is at its quota.
        case quotaExceeded = "quota_exceeded"
        /// 500: the database holds something this version cannot read.
        case `internal`
        /// 502: an agent refused an order of the coordinator or could not be reached.
        case agentFailed = "agent_failed"
        /// 503: the database cannot be reached, or the operation is not configured.
        case unavailable

        /// The HTTP status this code is sent with.
        public var status: HTTPResponse.Status {
            switch self {
            case .badRequest: .badRequest
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .conflict: .conflict
            case .tooLarge: .contentTooLarge
            case .capacityExhausted, .quotaExceeded: .unprocessableContent
            case .internal: .internalServerError
            case .agentFailed: .badGateway
            case .unavailable: .serviceUnavailable
            }
        }
    }

    public var code: Code
    /// What is wrong, for people; clients branch on ``code``.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The API's answer to a store error: the code maps to a status, the message is the
    /// store's description (operation, names, reason; never SQL).
    public init(_ error: CoordinatorStoreError) {
        let code: Code =
            switch error.code {
            case .notFound: .notFound
            case .conflict: .conflict
            case .capacityExhausted: .capacityExhausted
            case .quotaExceeded: .quotaExceeded
            case .invalid: .badRequest
            case .unavailable: .unavailable
            case .corrupt: .internal
            }
        self.init(code, error.description)
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The error as the API sends it.
    var response: Response {
        APIJSON.response(Envelope(error: .init(code: code.rawValue, message: message)), status: code.status)
    }

    /// `{"error": {"code", "message"}}`.
    struct Envelope: Codable, Equatable {
        struct Problem: Codable, Equatable {
            var code: String
            var message: String
        }

        var error: Problem
    }
}

/// Why a body POSTed to the Dovecot event endpoint was refused (HTTP 400). Nothing of a
/// refused body is queued, not even its valid events.
public struct DovecotEventError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is; stable across releases (the `code` of the JSON answer
    /// and the `reason` label of `duplex_replicator_events_rejected_total`).
    public enum Code: String, Sendable, Equatable, CaseIterable {
        /// The body is longer than the endpoint's limit.
        case bodyTooLarge
        /// The body (or one of its lines) is not JSON, or it is empty.
        case notJSON
        /// An event is not a JSON object (a number, a string, an array inside the array…).
        case notAnObject
        /// A field the mapping needs is absent: `event`, `fields`, the user field, the
        /// command field.
        case missingField
        /// A field has the wrong JSON type (`"event": 3`, `"fields": []`, a numeric user).
        case wrongType
        /// The user field, or the owner a shared mailbox names, is empty, too long or
        /// contains control characters.
        case invalidUser
    }

    /// The stable problem code.
    public var code: Code
    /// What is wrong, in words, naming the event and field.
    public var message: String
    /// The event's position in the body, from 1 (a body of one object is event 1).
    public var event: Int?
    /// The body's line, from 1, for newline-delimited bodies that do not parse.
    public var line: Int?
    /// The field concerned, as a path (`event`, `fields.user`).
    public var field: String?

    public init(_ code: Code, _ message: String, event: Int? = nil, line: Int? = nil, field: String? = nil) {
        self.code = code
        self.message = message
        self.event = event
        self.line = line
        self.field = field
    }

    public var description: String {
        if let event { return "event \(event): \(message)" }
        if let line { return "line \(line): \(message)" }
        return message
    }
}

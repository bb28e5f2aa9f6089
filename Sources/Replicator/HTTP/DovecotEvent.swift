/// One event as Dovecot's `event_exporter` serializes it with `format = json`: an object
/// with the event's name under `event`, and `hostname`, `start_time`, `end_time`,
/// `categories` and `fields` (each left out when the metric's `exporter_include` leaves
/// it out). Dovecot flattens the event before exporting it, so `fields` also holds what
/// the event inherits: `user` from the mail user, `mailbox`, `cmd_name`…
///
/// ```json
/// {"event":"mail_delivery_finished","hostname":"mx1","start_time":"2025-03-04T10:15:02.125366Z",
///  "end_time":"2025-03-04T10:15:02.131920Z","categories":["local-delivery"],
///  "fields":{"user":"alice@example.com","rcpt_to":"alice@example.com","message_size":2817}}
/// ```
///
/// Only `event` and `fields` are read; the rest is accepted whatever it holds.
struct DovecotEvent: Sendable, Equatable {
    /// The event name (`mail_delivery_finished`, `imap_command_finished`).
    var name: String
    /// The event's fields by name; values are strings, numbers, timestamps (strings or
    /// numbers) or, for list fields, arrays.
    var fields: [String: JSONValue]

    init(name: String, fields: [String: JSONValue] = [:]) {
        self.name = name
        self.fields = fields
    }

    /// Reads the event at position `position` (from 1) of a body.
    ///
    /// - Throws: ``DovecotEventError`` `notAnObject`, `missingField` (no `event`) or
    ///   `wrongType` (`event` not a string, `fields` not an object).
    init(_ value: JSONValue, position: Int) throws(DovecotEventError) {
        guard case .object(let object) = value else {
            throw DovecotEventError(.notAnObject, "an event must be a JSON object, not \(value.typeName)", event: position)
        }
        switch object["event"] {
        case .string(let name):
            self.name = name
        case nil:
            throw DovecotEventError(
                .missingField, "missing \"event\" (the event name: keep \"name\" in the metric's exporter_include)",
                event: position, field: "event")
        case let other?:
            throw DovecotEventError(.wrongType, "\"event\" must be a string, not \(other.typeName)", event: position, field: "event")
        }
        switch object["fields"] {
        case .object(let fields):
            self.fields = fields
        case nil:
            self.fields = [:]
        case let other?:
            throw DovecotEventError(.wrongType, "\"fields\" must be an object, not \(other.typeName)", event: position, field: "fields")
        }
    }

    /// The string value of field `name`, checked.
    ///
    /// - Throws: ``DovecotEventError`` `missingField` or `wrongType`, naming the event
    ///   (`position`) and the field.
    func string(_ name: String, position: Int) throws(DovecotEventError) -> String {
        switch fields[name] {
        case .string(let value):
            return value
        case nil:
            throw DovecotEventError(
                .missingField, "\"\(self.name)\" has no \"fields.\(name)\" (list it in the metric's fields)",
                event: position, field: "fields." + name)
        case let other?:
            throw DovecotEventError(
                .wrongType, "\"fields.\(name)\" must be a string, not \(other.typeName)", event: position, field: "fields." + name)
        }
    }
}

import Dsync
import Foundation

/// One request on the replicator's admin socket (`duplex replicator …`), sent as a JSON
/// object on one line whose `command` names it.
///
/// The wire forms: `{"command":"status"}`, `{"command":"status","mask":"a*"}`,
/// `{"command":"dsync-status"}`,
/// `{"command":"replicate","mask":"a*","priority":"low","full":false}` (priority and full
/// may be left out: `low`, `false`), `{"command":"add","mask":"alice"}`,
/// `{"command":"remove","user":"alice"}`,
/// `{"command":"release","user":"alice","mode":"restore"}`. Unknown fields are ignored.
public enum ReplicatorAdminRequest: Sendable, Equatable {
    /// The overview counters (no mask), or one row per known user matching `mask`.
    case status(mask: String?)
    /// The running syncs and the number of sync slots.
    case dsyncStatus
    /// Raises the priority of the matching users (a plain name is added when unknown);
    /// with `full` their next sync is a full one.
    case replicate(mask: String, priority: ReplicationPriority = .low, full: Bool = false)
    /// Makes a user known (a wildcard touches nobody: the replicator has no user database
    /// to expand it against).
    case add(mask: String)
    /// Forgets a user.
    case remove(user: String)
    /// Lets a user held by the mass-loss guard sync again.
    case release(user: String, mode: ReleaseMode)

    /// What the operator decided about a user held after a mass disappearance; it applies
    /// to the user's next sync (see ``Replicator/release(_:resolution:)``).
    public enum ReleaseMode: String, Sendable, Codable, CaseIterable {
        /// Copy the vanished mail back to the side that lost it, from the side that still
        /// has it (``MassExpungeResolution/restore``).
        case restore
        /// Let the disappearance reach the other side (``MassExpungeResolution/accept``).
        case accept

        /// The sync option this decision sets.
        public var resolution: MassExpungeResolution {
            switch self {
            case .restore: .restore
            case .accept: .accept
            }
        }
    }

    /// The `command` field of the wire form.
    public var command: String {
        switch self {
        case .status: "status"
        case .dsyncStatus: "dsync-status"
        case .replicate: "replicate"
        case .add: "add"
        case .remove: "remove"
        case .release: "release"
        }
    }

    /// Every command name, for messages.
    static let commands = ["status", "dsync-status", "replicate", "add", "remove", "release"]

    /// Parses one request line (without its newline).
    ///
    /// - Throws: ``ReplicatorAdminError`` `badRequest` saying what is wrong: not JSON, not
    ///   an object, an unknown command, a missing, empty or mistyped field.
    public init(line: some Sequence<UInt8>) throws {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(line))
        } catch let error as ReplicatorAdminError {
            throw error
        } catch DecodingError.typeMismatch {
            throw ReplicatorAdminError(.badRequest, "a request must be a JSON object")
        } catch {
            throw ReplicatorAdminError(.badRequest, "not valid JSON")
        }
    }
}

extension ReplicatorAdminRequest: Codable {
    private enum CodingKeys: String, CodingKey {
        case command, mask, user, priority, full, mode
    }

    public init(from decoder: any Decoder) throws {
        let fields = Fields(container: try decoder.container(keyedBy: CodingKeys.self))
        guard let command = try fields.string(.command) else {
            throw ReplicatorAdminError(.badRequest, "missing field \"command\"")
        }
        switch command {
        case "status":
            self = .status(mask: try fields.string(.mask))
        case "dsync-status":
            self = .dsyncStatus
        case "replicate":
            let priority = try fields.string(.priority).map { name in
                guard let priority = ReplicationPriority(name: name) else {
                    throw ReplicatorAdminError(.badRequest, "invalid priority \"\(name)\" (none, low, high or sync)")
                }
                return priority
            }
            self = .replicate(
                mask: try fields.name(.mask, for: command), priority: priority ?? .low, full: try fields.bool(.full) ?? false)
        case "add":
            self = .add(mask: try fields.name(.mask, for: command))
        case "remove":
            self = .remove(user: try fields.name(.user, for: command))
        case "release":
            let user = try fields.name(.user, for: command)
            guard let name = try fields.string(.mode) else {
                throw ReplicatorAdminError(.badRequest, "\"release\" needs the field \"mode\" (restore or accept)")
            }
            guard let mode = ReleaseMode(rawValue: name) else {
                throw ReplicatorAdminError(.badRequest, "invalid mode \"\(name)\" (restore or accept)")
            }
            self = .release(user: user, mode: mode)
        default:
            throw ReplicatorAdminError(
                .badRequest, "unknown command \"\(command)\" (\(Self.commands.joined(separator: ", ")))")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(command, forKey: .command)
        switch self {
        case .status(let mask):
            try container.encodeIfPresent(mask, forKey: .mask)
        case .dsyncStatus:
            break
        case .replicate(let mask, let priority, let full):
            try container.encode(mask, forKey: .mask)
            try container.encode(priority.description, forKey: .priority)
            try container.encode(full, forKey: .full)
        case .add(let mask):
            try container.encode(mask, forKey: .mask)
        case .remove(let user):
            try container.encode(user, forKey: .user)
        case .release(let user, let mode):
            try container.encode(user, forKey: .user)
            try container.encode(mode, forKey: .mode)
        }
    }

    /// Reads fields with messages that name the field and what it must be.
    private struct Fields {
        let container: KeyedDecodingContainer<CodingKeys>

        func string(_ key: CodingKeys) throws -> String? {
            do {
                return try container.decodeIfPresent(String.self, forKey: key)
            } catch {
                throw ReplicatorAdminError(.badRequest, "the field \"\(key.stringValue)\" must be a string")
            }
        }

        func bool(_ key: CodingKeys) throws -> Bool? {
            do {
                return try container.decodeIfPresent(Bool.self, forKey: key)
            } catch {
                throw ReplicatorAdminError(.badRequest, "the field \"\(key.stringValue)\" must be true or false")
            }
        }

        /// A user name or mask the command needs: present, not empty, no control characters.
        func name(_ key: CodingKeys, for command: String) throws -> String {
            guard let value = try string(key) else {
                throw ReplicatorAdminError(.badRequest, "\"\(command)\" needs the field \"\(key.stringValue)\"")
            }
            guard !value.isEmpty else {
                throw ReplicatorAdminError(.badRequest, "the field \"\(key.stringValue)\" must not be empty")
            }
            guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw ReplicatorAdminError(.badRequest, "the field \"\(key.stringValue)\" must not contain control characters")
            }
            return value
        }
    }
}

/// Which exported Dovecot events mean that a user's mail changed, and how urgently the user
/// then needs a sync: Dovecot 2.4's replacement for the 2.3 `replication` plugin's
/// notifications.
///
/// An event is looked up by name (``rules``). Its rule either always applies one
/// ``Action``, or picks the action by the IMAP command the event reports (the
/// ``commandField``, `cmd_name`, of `imap_command_finished`). A `queue` action takes the
/// user from ``userField`` (`user`). Events with no rule, commands not listed and `ignore`
/// actions change nothing; the endpoint counts them.
///
/// The defaults (``dovecot``), with the names of Dovecot 2.4's event list
/// (`dovecot/documentation` `data/events.js`) and the priorities of Dovecot 2.3's
/// replication plugin (saves `high`, every other change `low`):
///
/// | Event | `cmd_name` | Action |
/// | --- | --- | --- |
/// | `mail_delivery_finished` (LMTP, LDA) | | `high` |
/// | `imap_command_finished` | `APPEND` | `high` |
/// | `imap_command_finished` | `STORE`, `UID STORE` (flags, keywords) | `low` |
/// | `imap_command_finished` | `COPY`, `UID COPY`, `MOVE`, `UID MOVE` | `low` |
/// | `imap_command_finished` | `EXPUNGE`, `UID EXPUNGE`, `CLOSE` (expunges `\Deleted`) | `low` |
/// | `imap_command_finished` | `CREATE`, `DELETE`, `RENAME`, `SUBSCRIBE`, `UNSUBSCRIBE` | `low` |
/// | `mail_expunged` (any expunge: POP3, doveadm, autoexpunge) | | `low` |
///
/// Dovecot 2.4 has no event of its own for flag changes, saves or mailbox changes (the
/// `mailbox:create`… reason codes are values of `reason_code`, not event names), hence the
/// IMAP commands. A `FETCH` of a body without `PEEK` sets `\Seen` too; it is not listed
/// because every read would queue a sync: the user's next sync carries it. A failed
/// command or delivery still queues: a sync that finds nothing to do costs little, a
/// partly applied command that is missed costs a day (the next full sync).
///
/// Dovecot's side (2.4 syntax; the exporter sends each event as one POST; the filter is
/// one line in the file, wrapped here):
///
/// ```
/// event_exporter duplex {
///   driver = http-post
///   http_post_url = http://127.0.0.1:PORT/v1/events/dovecot
///   format = json
///   time_format = rfc3339
/// }
/// metric duplex_mail_changes {
///   exporter = duplex
///   exporter_include = name fields
///   fields = user cmd_name
///   filter = event=mail_delivery_finished OR event=mail_expunged OR (event=imap_command_finished AND
///     (cmd_name=APPEND OR cmd_name=STORE OR cmd_name="UID STORE" OR cmd_name=COPY OR cmd_name="UID COPY"
///     OR cmd_name=MOVE OR cmd_name="UID MOVE" OR cmd_name=EXPUNGE OR cmd_name="UID EXPUNGE" OR cmd_name=CLOSE
///     OR cmd_name=CREATE OR cmd_name=DELETE OR cmd_name=RENAME OR cmd_name=SUBSCRIBE OR cmd_name=UNSUBSCRIBE))
/// }
/// ```
///
/// `fields = user cmd_name mailbox` is optional (Dovecot exports every field by default)
/// but keeps the bodies small and out of them what the replicator does not need.
///
/// Shared mailboxes: when an event carries the mailbox (``mailboxField``, `mailbox`, which
/// mail and mailbox events such as `mail_expunged` inherit) and it lies in the shared
/// namespace the replicator is given (``ReplicatorSettings/sharedNamespace``, default
/// `shared/$user/`), the mailbox's owner is queued instead of the user: a change bob makes
/// in `shared/alice@example.com/Projects` queues alice, never bob. An event without the
/// field queues its user.
public struct EventMapping: Sendable, Equatable {
    /// What an event means for the replicator.
    public enum Action: Sendable, Equatable, CustomStringConvertible {
        /// The user's mail changed: raise the user's priority to at least this one.
        case queue(ReplicationPriority)
        /// Nothing to do.
        case ignore

        /// Parses `low`, `high`, `sync` or `ignore` (a configuration value); nil otherwise.
        /// `none` is refused: it would queue nothing and read as if it did.
        public init?(name: some StringProtocol) {
            if name == "ignore" {
                self = .ignore
            } else if let priority = ReplicationPriority(name: name), priority != .none {
                self = .queue(priority)
            } else {
                return nil
            }
        }

        /// `low`, `high`, `sync` or `ignore`.
        public var description: String {
            switch self {
            case .queue(let priority): priority.description
            case .ignore: "ignore"
            }
        }
    }

    /// How the action of one event name is found.
    public enum Rule: Sendable, Equatable {
        /// Every event of this name gets the action.
        case always(Action)
        /// The action depends on the command the event reports (in ``EventMapping/commandField``);
        /// keys are command names in upper case (`UID STORE`); unlisted commands are ignored.
        case byCommand([String: Action])
    }

    /// The rules by event name; events without one are ignored (and counted as unknown).
    public let rules: [String: Rule]
    /// The field that names the user (default `user`).
    public let userField: String
    /// The field that names the command for ``Rule/byCommand(_:)`` rules (default `cmd_name`).
    public let commandField: String
    /// The field that names the mailbox changed (default `mailbox`), as the user sees it:
    /// in the shared namespace it names the owner to queue.
    public let mailboxField: String

    /// The longest user name accepted, in UTF-8 bytes.
    public static let maximumUserLength = 512

    /// A mapping of `rules`; command names are matched without regard to case.
    ///
    /// - Parameters:
    ///   - rules: The rule of each event name that matters.
    ///   - userField: The field holding the user name.
    ///   - commandField: The field holding the command name.
    ///   - mailboxField: The field holding the mailbox name.
    public init(rules: [String: Rule], userField: String = "user", commandField: String = "cmd_name", mailboxField: String = "mailbox") {
        self.rules = rules.mapValues { rule in
            guard case .byCommand(let commands) = rule else { return rule }
            return .byCommand(Dictionary(commands.map { ($0.key.uppercased(), $0.value) }, uniquingKeysWith: { _, last in last }))
        }
        self.userField = userField
        self.commandField = commandField
        self.mailboxField = mailboxField
    }

    /// The defaults for Dovecot 2.4 (see the table above).
    public static let dovecot: EventMapping = {
        let changes = [
            "STORE", "UID STORE", "COPY", "UID COPY", "MOVE", "UID MOVE", "EXPUNGE", "UID EXPUNGE", "CLOSE",
            "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE",
        ]
        var commands = Dictionary(uniqueKeysWithValues: changes.map { ($0, Action.queue(.low)) })
        commands["APPEND"] = .queue(.high)
        return EventMapping(rules: [
            "mail_delivery_finished": .always(.queue(.high)),
            "mail_expunged": .always(.queue(.low)),
            "imap_command_finished": .byCommand(commands),
        ])
    }()

    // MARK: Deciding

    /// Why an event queued nothing (the `reason` label of
    /// `duplex_replicator_events_ignored_total`).
    public enum IgnoreReason: String, Sendable, Equatable, CaseIterable {
        /// No rule for the event's name.
        case unknownEvent = "unknown_event"
        /// A ``Rule/byCommand(_:)`` rule does not list the event's command.
        case unlistedCommand = "unlisted_command"
        /// The rule says ``Action/ignore``.
        case ignoredByRule = "ignored_by_rule"
    }

    /// What to do with one event.
    enum Decision: Sendable, Equatable {
        case queue(user: String, priority: ReplicationPriority)
        case ignore(IgnoreReason)
    }

    /// The decision for `event`, the `position`-th of its body (for messages). The user (and
    /// the mailbox) are read and checked only when the event queues; a mailbox in
    /// `sharedNamespace` makes its owner the user queued.
    ///
    /// - Throws: ``DovecotEventError`` `missingField` or `wrongType` for the command or
    ///   user field, `wrongType` for a mailbox that is not a string, `invalidUser` for an
    ///   empty, over-long or control-character user or shared mailbox owner.
    func decision(
        for event: DovecotEvent, position: Int, sharedNamespace: SharedNamespace? = nil
    ) throws(DovecotEventError) -> Decision {
        guard let rule = rules[event.name] else { return .ignore(.unknownEvent) }
        let action: Action
        switch rule {
        case .always(let always):
            action = always
        case .byCommand(let commands):
            let command = try event.string(commandField, position: position)
            guard let listed = commands[command.uppercased()] else { return .ignore(.unlistedCommand) }
            action = listed
        }
        guard case .queue(let priority) = action else { return .ignore(.ignoredByRule) }
        let user = try event.string(userField, position: position)
        if let problem = Self.problem(with: user) {
            throw DovecotEventError(.invalidUser, "\"fields.\(userField)\" \(problem)", event: position, field: "fields." + userField)
        }
        guard let sharedNamespace, event.fields[mailboxField] != nil else { return .queue(user: user, priority: priority) }
        let mailbox = try event.string(mailboxField, position: position)
        guard let owner = sharedNamespace.owner(ofMailbox: mailbox, changedBy: user) else { return .queue(user: user, priority: priority) }
        if let problem = Self.problem(with: owner) {
            throw DovecotEventError(
                .invalidUser, "\"fields.\(mailboxField)\" is in the shared namespace \(sharedNamespace) but its owner \(problem)",
                event: position, field: "fields." + mailboxField)
        }
        return .queue(user: owner, priority: priority)
    }

    private static func problem(with user: String) -> String? {
        if user.isEmpty { return "is empty" }
        if user.utf8.count > maximumUserLength { return "is longer than \(maximumUserLength) bytes" }
        if user.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains control characters"
        }
        return nil
    }
}

/// Event bodies as Dovecot 2.4's `event_exporter` (`driver = http-post`, `format = json`,
/// `time_format = rfc3339`, everything included) POSTs them: one compact object per
/// request, fields flattened from the event's parents (`user`, `session`, the connection's
/// addresses). Shapes follow `src/stats/event-exporter-fmt-json.c` and the field lists of
/// `dovecot/documentation` `data/events.js`; values are made up.
///
/// Kept as string literals: test resources would need the package manifest to declare them.
enum DovecotEventFixtures {
    // MARK: Mail changes

    /// LMTP delivered a message to alice (`mail_delivery_finished`, category `local-delivery`).
    static let delivery = #"""
        {"event":"mail_delivery_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:15:02.125366Z","end_time":"2025-03-04T10:15:02.131920Z","categories":["local-delivery","lmtp"],"fields":{"user":"alice@example.com","session":"lmtp-2hT0cNcYwmd8XwAArm/+Xg:1","connection_id":"2hT0cNcYwmd8XwAArm/+Xg","protocol":"lmtp","transaction_id":"2hT0cNcYwmd8XwAArm/+Xg:1","mail_from":"newsletter@shop.example","rcpt_to":"alice@example.com","message_id":"<20250304101501.4F2A1C0123@mx.shop.example>","message_subject":"Your March offers","message_from":"newsletter@shop.example","message_size":18342,"message_vsize":18731,"data_size":18342,"duration":6554}}
        """#

    /// Alice's client marked message 4 as read (`UID STORE … +FLAGS (\Seen)`).
    static let flagChange = #"""
        {"event":"imap_command_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:16:40.002113Z","end_time":"2025-03-04T10:16:40.003480Z","categories":["imap"],"fields":{"user":"alice@example.com","session":"eGQvd8EYqtB/AAAB","local_ip":"192.0.2.10","local_port":993,"remote_ip":"198.51.100.23","remote_port":51544,"cmd_tag":"A0012","cmd_name":"UID STORE","cmd_input_name":"UID STORE","cmd_args":"4 +FLAGS (\\Seen)","cmd_human_args":"4 +FLAGS (\\Seen)","tagged_reply_state":"OK","tagged_reply":"OK Store completed (0.001 + 0.000 secs).","last_run_time":"2025-03-04T10:16:40.003401Z","running_usecs":1288,"lock_wait_usecs":41,"net_in_bytes":33,"net_out_bytes":96,"duration":1367}}
        """#

    /// Bob's client saved a draft (`APPEND` to Drafts).
    static let append = #"""
        {"event":"imap_command_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:17:05.410072Z","end_time":"2025-03-04T10:17:05.418551Z","categories":["imap"],"fields":{"user":"bob@example.com","session":"qKlM2cEYJMLAqAAB","cmd_tag":"7","cmd_name":"APPEND","cmd_input_name":"append","cmd_args":"Drafts (\\Draft \\Seen) {2310}","cmd_human_args":"Drafts (\\Draft \\Seen) <2310 byte literal>","tagged_reply_state":"OK","tagged_reply":"OK [APPENDUID 1709547411 12] Append completed (0.007 + 0.000 secs).","last_run_time":"2025-03-04T10:17:05.418463Z","running_usecs":7214,"lock_wait_usecs":0,"net_in_bytes":2355,"net_out_bytes":85,"duration":8479}}
        """#

    /// Carol's client moved a message to the Trash (`UID MOVE`), lower case as typed.
    static let move = #"""
        {"event":"imap_command_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:18:11.030017Z","end_time":"2025-03-04T10:18:11.036662Z","categories":["imap"],"fields":{"user":"carol@example.com","session":"Xp3v5MEYNsbAqAAB","cmd_tag":"a9","cmd_name":"UID MOVE","cmd_input_name":"uid move","cmd_args":"213 Trash","cmd_human_args":"213 Trash","tagged_reply_state":"OK","tagged_reply":"OK [COPYUID 1709547411 213 88] Move completed (0.005 + 0.000 secs).","running_usecs":6120,"lock_wait_usecs":12,"net_in_bytes":23,"net_out_bytes":140,"duration":6645}}
        """#

    /// Dave's POP3 session deleted a message (`mail_expunged`, one per UID).
    static let expunged = #"""
        {"event":"mail_expunged","hostname":"mail1.example.com","start_time":"2025-03-04T10:19:30.551203Z","end_time":"2025-03-04T10:19:30.551240Z","categories":["mailbox"],"fields":{"user":"dave@example.com","session":"NqQ+7MEYrMPAqAAB","service":"pop3","mailbox":"INBOX","mailbox_guid":"0b8a9c1e6f5a7c65d61700009f5a2e1b","uid":57,"duration":37}}
        """#

    /// A delivery exported with `time_format = unix` (timestamps as numbers).
    static let deliveryUnixTime = #"""
        {"event":"mail_delivery_finished","hostname":"mail1.example.com","start_time":1741083302.125366,"end_time":1741083302.13192,"categories":["local-delivery"],"fields":{"user":"erin@example.com","rcpt_to":"erin@example.com","message_size":912,"duration":4411}}
        """#

    // MARK: Not mail changes

    /// Alice's client read a message: a listed event, an unlisted command.
    static let fetch = #"""
        {"event":"imap_command_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:16:39.870001Z","end_time":"2025-03-04T10:16:39.871204Z","categories":["imap"],"fields":{"user":"alice@example.com","session":"eGQvd8EYqtB/AAAB","cmd_tag":"A0011","cmd_name":"UID FETCH","cmd_input_name":"UID FETCH","cmd_args":"4 (BODY.PEEK[])","cmd_human_args":"4 (BODY.PEEK[])","tagged_reply_state":"OK","tagged_reply":"OK Fetch completed (0.001 + 0.000 secs).","running_usecs":1044,"lock_wait_usecs":0,"net_in_bytes":31,"net_out_bytes":18700,"duration":1203}}
        """#

    /// A login: an event the mapping does not know.
    static let login = #"""
        {"event":"auth_request_finished","hostname":"mail1.example.com","start_time":"2025-03-04T10:16:38.100231Z","end_time":"2025-03-04T10:16:38.141005Z","categories":["auth"],"fields":{"user":"alice@example.com","original_user":"alice@example.com","service":"imap","mechanism":"PLAIN","transport":"TLS","remote_ip":"198.51.100.23","success":"yes","duration":40774}}
        """#

    // MARK: Bad bodies

    /// A delivery cut off in the middle.
    static let truncated = #"{"event":"mail_delivery_finished","hostname":"mail1.example.com","fields":{"user":"ali"#

    /// Dovecot's `tab-text` format sent to the JSON endpoint.
    static let tabText = "event:mail_delivery_finished\thostname:mail1.example.com\tfield:user=alice@example.com\n"

    /// A bare string, not an event object.
    static let bareString = #""mail_delivery_finished""#

    /// An event exported without its name (`exporter_include = fields`).
    static let withoutName = #"""
        {"hostname":"mail1.example.com","categories":["local-delivery"],"fields":{"user":"alice@example.com","rcpt_to":"alice@example.com"}}
        """#

    /// The name as a number.
    static let numericName = #"{"event":42,"fields":{"user":"alice@example.com"}}"#

    /// `fields` as an array.
    static let fieldsArray = #"{"event":"mail_delivery_finished","fields":["user","alice@example.com"]}"#

    /// A delivery without `user` (the metric's `fields` left it out).
    static let deliveryWithoutUser = #"""
        {"event":"mail_delivery_finished","hostname":"mail1.example.com","fields":{"rcpt_to":"alice@example.com","message_size":18342}}
        """#

    /// A delivery whose user is a number (a uid).
    static let numericUser = #"{"event":"mail_delivery_finished","fields":{"user":1001}}"#

    /// A delivery whose user is empty.
    static let emptyUser = #"{"event":"mail_delivery_finished","fields":{"user":""}}"#

    /// A delivery whose user carries a line break.
    static let userWithNewline = #"{"event":"mail_delivery_finished","fields":{"user":"alice@example.com\nbob@example.com"}}"#

    /// A store without `cmd_name`.
    static let storeWithoutCommand = #"{"event":"imap_command_finished","fields":{"user":"alice@example.com","cmd_tag":"A1"}}"#
}

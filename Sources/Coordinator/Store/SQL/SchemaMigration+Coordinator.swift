extension SchemaMigration {
    /// The column types that differ between the two databases.
    struct Types {
        /// An id column drawn from a sequence that never reuses values.
        var id: String
        var timestamp: String
        var boolean: String
        var falseValue: String
        /// Whether the database has `LATERAL` subqueries (SQLite has none).
        var hasLateral: Bool
        /// Whether the database announces changes to other sessions (PostgreSQL's `NOTIFY`;
        /// SQLite, used by one process, has no such thing).
        var hasNotify: Bool

        static let postgres = Types(
            id: "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", timestamp: "timestamptz", boolean: "boolean",
            falseValue: "false", hasLateral: true,
            hasNotify: true)
        static let sqlite = Types(
            id: "INTEGER PRIMARY KEY AUTOINCREMENT", timestamp: "integer", boolean: "integer", falseValue: "0",
            hasLateral: false, hasNotify: false)
    }

    /// The coordinator's migrations, in order, with the column types of one database.
    ///
    /// Applied migrations are never edited: a change of schema is a new migration at the end.
    static func coordinator(_ types: Types) -> [SchemaMigration] {
        let id = types.id
        let time = types.timestamp
        let bool = types.boolean
        let no = types.falseValue
        return [
            SchemaMigration(version: 1, statements: [
                """
                CREATE TABLE duplex_tenants (
                    id \(id),
                    name text NOT NULL UNIQUE,
                    restricted \(bool) NOT NULL DEFAULT \(no),
                    user_quota bigint CHECK (user_quota >= 0),
                    created_at \(time) NOT NULL
                )
                """,
                """
                CREATE TABLE duplex_pairs (
                    id \(id),
                    name text NOT NULL UNIQUE,
                    state text NOT NULL CHECK (state IN ('active', 'draining', 'disabled')),
                    capacity bigint NOT NULL CHECK (capacity >= 0),
                    weight bigint NOT NULL CHECK (weight BETWEEN 1 AND 1000),
                    user_count bigint NOT NULL DEFAULT 0 CHECK (user_count >= 0),
                    change_version bigint NOT NULL DEFAULT 0,
                    created_at \(time) NOT NULL
                )
                """,
                """
                CREATE TABLE duplex_hosts (
                    pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    side text NOT NULL CHECK (side IN ('a', 'b')),
                    name text NOT NULL UNIQUE,
                    address text NOT NULL,
                    dsync_endpoint text NOT NULL,
                    admin_endpoint text NOT NULL,
                    health text NOT NULL CHECK (health IN ('up', 'down', 'unknown')),
                    PRIMARY KEY (pair_id, side)
                )
                """,
                """
                CREATE TABLE duplex_tenant_pairs (
                    tenant_id bigint NOT NULL REFERENCES duplex_tenants (id) ON DELETE CASCADE,
                    pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    PRIMARY KEY (tenant_id, pair_id)
                )
                """,
                """
                CREATE TABLE duplex_users (
                    id \(id),
                    name text NOT NULL,
                    tenant_id bigint NOT NULL REFERENCES duplex_tenants (id),
                    pair_id bigint REFERENCES duplex_pairs (id) ON DELETE SET NULL,
                    preferred_host text NOT NULL CHECK (preferred_host IN ('a', 'b')),
                    state text NOT NULL CHECK (state IN ('active', 'moving', 'removed')),
                    noreplicate \(bool) NOT NULL DEFAULT \(no),
                    epoch bigint NOT NULL DEFAULT 1,
                    version bigint NOT NULL,
                    created_at \(time) NOT NULL,
                    updated_at \(time) NOT NULL,
                    CHECK (state = 'removed' OR pair_id IS NOT NULL)
                )
                """,
                "CREATE UNIQUE INDEX duplex_users_current_name ON duplex_users (name) WHERE state <> 'removed'",
                "CREATE INDEX duplex_users_pair ON duplex_users (pair_id, id)",
                "CREATE INDEX duplex_users_tenant ON duplex_users (tenant_id, id)",
                """
                CREATE TABLE duplex_user_changes (
                    pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    version bigint NOT NULL,
                    user_id bigint NOT NULL REFERENCES duplex_users (id),
                    PRIMARY KEY (pair_id, version)
                )
                """,
                """
                CREATE TABLE duplex_moves (
                    id \(id),
                    user_id bigint NOT NULL REFERENCES duplex_users (id),
                    from_pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    to_pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    phase text NOT NULL CHECK (phase IN ('created', 'copying', 'finalSync', 'finished', 'rolledBack')),
                    started_at \(time) NOT NULL,
                    updated_at \(time) NOT NULL,
                    error text
                )
                """,
                """
                CREATE UNIQUE INDEX duplex_moves_open ON duplex_moves (user_id)
                    WHERE phase NOT IN ('finished', 'rolledBack')
                """,
                """
                CREATE TABLE duplex_agents (
                    host text PRIMARY KEY,
                    pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    side text NOT NULL CHECK (side IN ('a', 'b')),
                    version text NOT NULL,
                    registered_at \(time) NOT NULL,
                    last_heartbeat \(time) NOT NULL
                )
                """,
                """
                CREATE TABLE duplex_user_status (
                    user_id bigint NOT NULL REFERENCES duplex_users (id),
                    host text NOT NULL,
                    pair_id bigint NOT NULL REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    queued_priority text CHECK (queued_priority IN ('none', 'low', 'high', 'sync')),
                    last_fast_sync \(time),
                    last_full_sync \(time),
                    last_success \(time),
                    failed \(bool) NOT NULL,
                    held \(bool) NOT NULL,
                    last_error text,
                    reported_at \(time) NOT NULL,
                    PRIMARY KEY (user_id, host)
                )
                """,
                "CREATE INDEX duplex_user_status_pair ON duplex_user_status (pair_id)",
                """
                CREATE TABLE duplex_tokens (
                    id \(id),
                    label text NOT NULL,
                    role text NOT NULL CHECK (role IN ('admin', 'tenant', 'agent')),
                    tenant_id bigint REFERENCES duplex_tenants (id) ON DELETE CASCADE,
                    pair_id bigint REFERENCES duplex_pairs (id) ON DELETE CASCADE,
                    digest text NOT NULL UNIQUE,
                    created_at \(time) NOT NULL,
                    revoked_at \(time),
                    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL) AND (role = 'agent') = (pair_id IS NOT NULL))
                )
                """,
                // What proxies query (Dovecot passdb sql, Postfix): one row per current user.
                // `host` is the host to use now: the preferred one unless it is down and the other
                // is not. Documented in ops/postgresql/duplex_user_route.md; keep them in step.
                """
                CREATE VIEW duplex_user_route AS
                SELECT
                    u.id AS user_id,
                    u.name AS user_name,
                    t.name AS tenant,
                    p.name AS pair,
                    u.epoch AS epoch,
                    u.preferred_host AS preferred_side,
                    CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.name ELSE hp.name END AS host,
                    CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.address ELSE hp.address END AS host_address,
                    CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.dsync_endpoint ELSE hp.dsync_endpoint END
                        AS host_dsync_endpoint,
                    CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.admin_endpoint ELSE hp.admin_endpoint END
                        AS host_admin_endpoint,
                    hp.name AS preferred_host,
                    hp.address AS preferred_address,
                    hp.health AS preferred_health,
                    hp.dsync_endpoint AS preferred_dsync_endpoint,
                    hp.admin_endpoint AS preferred_admin_endpoint,
                    ho.name AS other_host,
                    ho.address AS other_address,
                    ho.health AS other_health,
                    ho.dsync_endpoint AS other_dsync_endpoint,
                    ho.admin_endpoint AS other_admin_endpoint
                FROM duplex_users u
                JOIN duplex_tenants t ON t.id = u.tenant_id
                JOIN duplex_pairs p ON p.id = u.pair_id
                JOIN duplex_hosts hp ON hp.pair_id = u.pair_id AND hp.side = u.preferred_host
                JOIN duplex_hosts ho ON ho.pair_id = u.pair_id AND ho.side <> u.preferred_host
                WHERE u.state <> 'removed'
                """,
            ]),
            // The same view, shaped to be planned quickly: PostgreSQL planned a proxy's lookup as
            // a five-way join, about 1 ms per query and ten times its execution, which bounded
            // lookups at fleet size (ops/bench/coordinator.py). The tenant's and pair's names
            // are scalar subqueries, planned only when selected, and the two hosts a LATERAL
            // subquery kept apart by OFFSET 0, so it is planned on its own as a two-row join:
            // about a fifth of the planning. Same columns, same rows (every current user has
            // its tenant, its pair and the pair's two hosts). SQLite plans the first form
            // quickly and has no LATERAL, so it keeps it. The index holds only failed reports,
            // so the status's list of failed users is read without scanning every report.
            SchemaMigration(
                version: 2,
                statements: ["CREATE INDEX duplex_user_status_failed ON duplex_user_status (reported_at) WHERE failed"]
                    + (types.hasLateral ? [Self.routeViewPlannedQuickly] : [])),
            // A finished move's old copy is deleted only after its catch-up sync ran
            // (`duplex user purge-old`), and the deletion is recorded. Moves finished before
            // this migration count as caught up: their catch-up ran before their leader stopped
            // or is forgotten with it.
            SchemaMigration(version: 3, statements: [
                "ALTER TABLE duplex_moves ADD COLUMN caught_up_at \(time)",
                "ALTER TABLE duplex_moves ADD COLUMN purged_at \(time)",
                "UPDATE duplex_moves SET caught_up_at = updated_at WHERE phase = 'finished'",
            ]),
            // Agents report whether a user's periodic full sync is due and not yet started
            // (Dovecot's "Queued 'full resync' requests"); older agents' reports mean "not due".
            SchemaMigration(version: 4, statements: [
                "ALTER TABLE duplex_user_status ADD COLUMN full_sync_due \(bool) NOT NULL DEFAULT \(no)"
            ]),
            // Every coordinator keeps routes and verified tokens in memory (RouteDirectory) and
            // learns of the changes other coordinators and SQL make from these announcements
            // (StoreChange reads their payloads). SQLite serves one process and keeps no such
            // memory.
            SchemaMigration(version: 5, statements: types.hasNotify ? Self.changeAnnouncements : []),
        ]
    }

    /// The triggers of migration 5 (PostgreSQL): a `NOTIFY duplex_changes` at commit of every
    /// change a route or a token depends on.
    ///
    /// A changed or deleted user announces `u:NAME` (one per row; a row's name never changes);
    /// added users `+` (one per statement, so a bulk load costs one); a change of hosts, or of
    /// a pair's or tenant's name, `f`; any change of tokens `t`. A pair's counters (changed by
    /// every assign) announce nothing: routes do not show them.
    static let changeAnnouncements = [
        """
        CREATE FUNCTION duplex_announce_user() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('duplex_changes', 'u:' || OLD.name);
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE FUNCTION duplex_announce() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('duplex_changes', TG_ARGV[0]);
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE TRIGGER duplex_users_changed AFTER UPDATE OR DELETE ON duplex_users
        FOR EACH ROW EXECUTE FUNCTION duplex_announce_user()
        """,
        """
        CREATE TRIGGER duplex_users_added AFTER INSERT ON duplex_users
        FOR EACH STATEMENT EXECUTE FUNCTION duplex_announce('+')
        """,
        """
        CREATE TRIGGER duplex_hosts_changed AFTER INSERT OR UPDATE OR DELETE ON duplex_hosts
        FOR EACH STATEMENT EXECUTE FUNCTION duplex_announce('f')
        """,
        """
        CREATE TRIGGER duplex_pairs_changed AFTER INSERT OR UPDATE OF name OR DELETE ON duplex_pairs
        FOR EACH STATEMENT EXECUTE FUNCTION duplex_announce('f')
        """,
        """
        CREATE TRIGGER duplex_tenants_changed AFTER INSERT OR UPDATE OF name OR DELETE ON duplex_tenants
        FOR EACH STATEMENT EXECUTE FUNCTION duplex_announce('f')
        """,
        """
        CREATE TRIGGER duplex_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON duplex_tokens
        FOR EACH STATEMENT EXECUTE FUNCTION duplex_announce('t')
        """,
    ]

    /// `duplex_user_route` of migration 2 (PostgreSQL): the columns and rows of migration 1's.
    static let routeViewPlannedQuickly = """
        CREATE OR REPLACE VIEW duplex_user_route AS
        SELECT
            u.id AS user_id,
            u.name AS user_name,
            (SELECT t.name FROM duplex_tenants t WHERE t.id = u.tenant_id) AS tenant,
            (SELECT p.name FROM duplex_pairs p WHERE p.id = u.pair_id) AS pair,
            u.epoch AS epoch,
            u.preferred_host AS preferred_side,
            h.host, h.host_address, h.host_dsync_endpoint, h.host_admin_endpoint,
            h.preferred_host, h.preferred_address, h.preferred_health, h.preferred_dsync_endpoint,
            h.preferred_admin_endpoint,
            h.other_host, h.other_address, h.other_health, h.other_dsync_endpoint, h.other_admin_endpoint
        FROM duplex_users u
        CROSS JOIN LATERAL (
            SELECT
                CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.name ELSE hp.name END AS host,
                CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.address ELSE hp.address END AS host_address,
                CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.dsync_endpoint ELSE hp.dsync_endpoint END
                    AS host_dsync_endpoint,
                CASE WHEN hp.health = 'down' AND ho.health <> 'down' THEN ho.admin_endpoint ELSE hp.admin_endpoint END
                    AS host_admin_endpoint,
                hp.name AS preferred_host,
                hp.address AS preferred_address,
                hp.health AS preferred_health,
                hp.dsync_endpoint AS preferred_dsync_endpoint,
                hp.admin_endpoint AS preferred_admin_endpoint,
                ho.name AS other_host,
                ho.address AS other_address,
                ho.health AS other_health,
                ho.dsync_endpoint AS other_dsync_endpoint,
                ho.admin_endpoint AS other_admin_endpoint
            FROM duplex_hosts hp JOIN duplex_hosts ho ON ho.pair_id = hp.pair_id AND ho.side <> hp.side
            WHERE hp.pair_id = u.pair_id AND hp.side = u.preferred_host
            OFFSET 0
        ) h
        WHERE u.state <> 'removed'
        """
}

"""Versioned schema of the SQLite store: an ordered list of SQL scripts and their runner.

Migration ``n`` (1-based) takes the schema from version ``n - 1`` to ``n``. Never edit a
released script: append a new one. Times are stored as fixed-width ISO-8601 UTC text
(``2026-01-05T09:00:00.000000Z``) so they sort and compare correctly as strings.
"""

from __future__ import annotations

import sqlite3

from promalert.errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: alerts, rule state, notification log, outbox, kv.
    """
    CREATE TABLE alerts (
        fingerprint   TEXT PRIMARY KEY,
        labels        TEXT NOT NULL,
        annotations   TEXT NOT NULL,
        starts_at     TEXT NOT NULL,
        ends_at       TEXT,
        generator_url TEXT NOT NULL DEFAULT '',
        updated_at    TEXT NOT NULL,
        source        TEXT NOT NULL,
        timeout       INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE rule_state (
        key  TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    CREATE TABLE nflog (
        group_key   TEXT NOT NULL,
        receiver    TEXT NOT NULL,
        channel     TEXT NOT NULL,
        integration INTEGER NOT NULL,
        firing      TEXT NOT NULL,
        resolved    TEXT NOT NULL,
        timestamp   TEXT NOT NULL,
        expires_at  TEXT NOT NULL,
        PRIMARY KEY (group_key, receiver, channel, integration)
    );
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at      TEXT NOT NULL,
        receiver        TEXT NOT NULL,
        channel         TEXT NOT NULL,
        integration     INTEGER NOT NULL,
        group_key       TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error      TEXT NOT NULL DEFAULT '',
        sent_at         TEXT,
        first_firing_at TEXT
    );
    CREATE INDEX outbox_by_status ON outbox (status, group_key, receiver, channel, integration, id);
    CREATE INDEX outbox_by_age ON outbox (status, created_at);
    CREATE TABLE kv (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: silences, one JSON document each; ends_at lets expired ones be pruned.
    """
    CREATE TABLE silences (
        id      TEXT PRIMARY KEY,
        data    TEXT NOT NULL,
        ends_at TEXT NOT NULL
    );
    """,
    # 3: delivery log: why an attempt failed, and what providers report after sending.
    """
    ALTER TABLE outbox ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    CREATE TABLE deliveries (
        provider_id TEXT PRIMARY KEY,
        outbox_id   INTEGER NOT NULL,
        channel     TEXT NOT NULL,
        recipient   TEXT NOT NULL DEFAULT '',
        status      TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX deliveries_by_outbox ON deliveries (outbox_id);
    """,
    # 4: incidents (escalation state as one JSON document each) and their timelines.
    """
    CREATE TABLE incidents (
        id           INTEGER PRIMARY KEY,
        policy       TEXT NOT NULL,
        group_key    TEXT NOT NULL,
        group_labels TEXT NOT NULL,
        priority     TEXT NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
        state        TEXT NOT NULL,
        alerts       TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        first_ack_at TEXT,
        resolved_at  TEXT,
        next_due     TEXT
    );
    CREATE INDEX incidents_by_status ON incidents (status, id);
    CREATE INDEX incidents_by_created ON incidents (created_at);
    CREATE TABLE incident_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id INTEGER NOT NULL,
        at          TEXT NOT NULL,
        kind        TEXT NOT NULL,
        by          TEXT,
        via         TEXT,
        detail      TEXT NOT NULL
    );
    CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
    """,
    # 5: write amplification. The pending index was keyed by group key first, so every
    # queued and every sent notification touched its own random page of it; pending rows
    # by id alone (sent ones leave the index) only ever append at its end and remove near
    # its start.
    """
    DROP INDEX outbox_by_status;
    CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
    """,
    # 6: the same for "sent" marks. The pruning index began with the status, so marking
    # a row sent moved its entry too (half the cost of the mark); by creation time alone
    # a mark leaves it as it is, and pruning reads the old end of it all the same.
    """
    DROP INDEX outbox_by_age;
    CREATE INDEX outbox_by_created ON outbox (created_at);
    """,
)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Apply every pending migration, each in its own transaction; return the new version.

    Raises StoreError when the database was written by a newer promalert, because this
    code would misread (and could damage) a schema it does not know.
    """
    version = current_version(conn)
    latest = len(MIGRATIONS)
    if version > latest:
        raise StoreError(
            f"store {path} has schema version {version} but this promalert knows only up to "
            f"{latest}: it was written by a newer promalert; upgrade promalert or point "
            "storage.url at another file"
        )
    for number in range(version + 1, latest + 1):
        script = MIGRATIONS[number - 1]
        try:
            # executescript commits any open transaction first, so the BEGIN/COMMIT here
            # makes the script and its version bump one atomic step.
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\n"
                "DELETE FROM schema_version;\n"
                f"INSERT INTO schema_version (version) VALUES ({number});\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(
                f"store {path}: migration to schema version {number} failed: {exc}"
            ) from exc
    return latest

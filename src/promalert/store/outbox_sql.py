"""The rows the outbox writes: SQL statements and their parameters, in one place.

Used by :class:`~promalert.store.outbox.OutboxStore` (and, through it, the incident
store), which owns the transactions these run in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from promalert.store.records import (
    EncodedPayload,
    NewNotification,
    NflogEntry,
    OutboxRow,
    compact_json,
    encode_time,
)

INSERT_OUTBOX = (
    "INSERT INTO outbox (id, created_at, receiver, channel, integration, group_key, "
    "payload, status, attempts, next_attempt_at, first_firing_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
)
# One statement for a whole batch of marks, each [id, attempts, sent_at]
# (UPDATE ... FROM needs SQLite 3.33; older ones mark row by row).
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
MARK_SENT_EACH = "UPDATE outbox SET status='sent', attempts=?, sent_at=?, last_error='' WHERE id=?"
MARK_SENT = (
    "UPDATE outbox SET status='sent', attempts=json_extract(m.value, '$[1]'), "
    "sent_at=json_extract(m.value, '$[2]'), last_error='' "
    "FROM json_each(?) AS m WHERE outbox.id=json_extract(m.value, '$[0]')"
)
# Alerts are saved with the outbox's deferred writes too (Store.save_alerts(defer=True)).
SAVE_ALERT = (
    "INSERT OR REPLACE INTO alerts (fingerprint, labels, annotations, starts_at, "
    "ends_at, generator_url, updated_at, source, timeout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
WRITE_NFLOG = (
    "INSERT OR REPLACE INTO nflog (group_key, receiver, channel, integration, firing, "
    "resolved, timestamp, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def outbox_params(row_id: int, n: NewNotification) -> tuple[Any, ...]:
    """The INSERT_OUTBOX parameters of a new pending row (index 6 is the payload JSON)."""
    created = encode_time(n.created_at)
    first = None if n.first_firing_at is None else encode_time(n.first_firing_at)
    payload = compact_json(n.payload)
    return (
        row_id,
        created,
        n.receiver,
        n.channel,
        n.integration,
        n.group_key,
        payload,
        created,
        first,
    )


def _fingerprints(fps: frozenset[str]) -> str:
    """A JSON list of fingerprints (hex digits: nothing to escape), sorted."""
    return '["' + '","'.join(sorted(fps)) + '"]' if fps else "[]"


def nflog_params(entry: NflogEntry) -> tuple[Any, ...]:
    """The WRITE_NFLOG parameters of a notification-log entry."""
    k = entry.key
    return (
        k.group_key,
        k.receiver,
        k.channel,
        k.integration,
        _fingerprints(entry.firing),
        _fingerprints(entry.resolved),
        encode_time(entry.timestamp),
        encode_time(entry.expires_at),
    )


def write_marks(conn: sqlite3.Connection, marks: Sequence[tuple[int, str, int]]) -> None:
    """Mark rows sent, each ``(attempts, sent_at, id)``, in one statement.

    One statement, not one per row (each send has its own time): a statement costs
    about as much again as the row it updates, and inside a transaction each further
    one first copies the pages it changes to a statement journal.
    """
    if not marks:
        return
    if not UPDATE_FROM:
        conn.executemany(MARK_SENT_EACH, marks)
        return
    # Encoded times are plain ASCII digits and punctuation: nothing to escape.
    triples = ",".join(f'[{row_id},{attempts},"{at}"]' for attempts, at, row_id in marks)
    conn.execute(MARK_SENT, ("[" + triples + "]",))


def pending_values(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """The ``SELECT {OUTBOX_COLUMNS}`` values of a row inserted with ``params``."""
    return (*params[:7], "pending", 0, params[7], "", None, params[8])


def next_outbox_id(conn: sqlite3.Connection) -> int:
    """The id the next outbox row gets (never one used before, as with AUTOINCREMENT)."""
    row = conn.execute(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name='outbox'), 0), "
        "COALESCE((SELECT MAX(id) FROM outbox), 0))"
    ).fetchone()
    return int(row[0]) + 1


def write_nflog(conn: sqlite3.Connection, entry: NflogEntry) -> None:
    """Insert or replace one notification-log entry."""
    conn.execute(WRITE_NFLOG, nflog_params(entry))


def new_row(row_id: int, n: NewNotification, text: str | None = None) -> OutboxRow:
    """The index's copy of a row just written; with the payload's JSON when it is known."""
    payload = n.payload if text is None else EncodedPayload(n.payload, text)
    return OutboxRow(
        id=row_id,
        created_at=n.created_at,
        receiver=n.receiver,
        channel=n.channel,
        integration=n.integration,
        group_key=n.group_key,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=n.created_at,
        last_error="",
        sent_at=None,
        first_firing_at=n.first_firing_at,
    )

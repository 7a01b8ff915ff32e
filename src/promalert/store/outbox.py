"""The outbox half of the store, with an in-memory index of the pending rows.

Mixed into :class:`~promalert.store.sqlite.Store`. The delivery worker asks for the
pending heads of every lane each time it wakes, and counts the pending rows after every
attempt; answering those from SQLite (decoding every pending payload again) made
delivery quadratic in the backlog. So the pending rows are kept in memory, by lane:

- rows written by this class (queued, sent, retried, failed, deferred) update the index
  in step with the database;
- any other update or deletion in the ``outbox`` table (another module, a hand edit) is
  caught by SQLite triggers and makes the index reload from the database on its next
  use, so it can never silently disagree with the table. (The triggers are created
  with the first load: with delivery in its own process the service never loads it.)

``mark_sent`` is the one write per delivered notification; it is applied to the index at
once and written to the database with the other marks of the same event-loop iteration
in one transaction, at most 50 ms later (and before any read, or any write other than a
group flush's). Alerts saved with ``defer`` go the same way. A crash in between can only
make a notification go out twice, never get lost: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Container, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from promalert.store.outbox_sql import (
    INSERT_OUTBOX,
    SAVE_ALERT,
    WRITE_NFLOG,
    new_row,
    next_outbox_id,
    nflog_params,
    outbox_params,
    pending_values,
    write_marks,
)
from promalert.store.pending import PendingIndex
from promalert.store.records import (
    EncodedPayload,
    Lane,
    NewNotification,
    NflogEntry,
    OutboxRow,
    StoredText,
    decode_time,
    encode_time,
    optional_time,
)

log = logging.getLogger(__name__)

OUTBOX_COLUMNS = (
    "id, created_at, receiver, channel, integration, group_key, payload, status, attempts, "
    "next_attempt_at, last_error, sent_at, first_firing_at"
)
_CHANGED = "promalert_outbox_changed"
# How long "sent" marks wait to be written together. A crash loses at most this much
# of them, and a lost mark only means the notification is sent once more.
_MARK_DELAY = 0.05
# Page cache of the store's connection, in KB (an upper bound: pages are cached as read).
_CACHE_KB = 65536
# The most rows of one group flush handed over before their commit (see write_flushes).
ANNOUNCE_MAX = 64


def _triggers(conn: sqlite3.Connection, changed: Any) -> None:
    """Call ``changed()`` whenever a row of ``outbox`` is updated or deleted.

    Rows are inserted only by :meth:`OutboxStore.write_flushes`, which indexes them, so
    inserts need no trigger (and thousands per second do not pay for one).
    """
    conn.create_function(_CHANGED, 0, changed, deterministic=False)
    for event in ("UPDATE", "DELETE"):
        conn.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS outbox_{event.lower()} AFTER {event} ON outbox "
            f"BEGIN SELECT {_CHANGED}(); END"
        )


def outbox_row(
    values: Sequence[Any], *, keep_json: bool = False, undecoded: bool = False
) -> OutboxRow:
    """A row of ``SELECT {OUTBOX_COLUMNS}``; ValueError or TypeError if it is unreadable.

    With ``keep_json`` the payload carries its stored text (see EncodedPayload); with
    ``undecoded`` it is only that text until something looks inside (StoredText).
    """
    text = values[6]
    payload: dict[str, Any]
    if undecoded and isinstance(text, str) and text[:1] == "{" and text[-1:] == "}":
        payload = StoredText(text)
    else:
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError("payload is not a JSON object")
        if keep_json:
            payload = EncodedPayload(payload, text)
    return OutboxRow(
        id=int(values[0]),
        created_at=decode_time(values[1]),
        receiver=str(values[2]),
        channel=str(values[3]),
        integration=int(values[4]),
        group_key=str(values[5]),
        payload=payload,
        status=str(values[7]),
        attempts=int(values[8]),
        next_attempt_at=decode_time(values[9]),
        last_error=str(values[10]),
        sent_at=optional_time(values[11]),
        first_firing_at=optional_time(values[12]),
    )


class RowAnnouncer(Protocol):
    """Who hears of a group flush's outbox rows while their transaction commits."""

    def announce(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows (``SELECT {OUTBOX_COLUMNS}`` values) about to be committed."""

    def retract(self, ids: list[int]) -> None:
        """The rows of these ids were not committed after all."""


class OutboxStore:
    """Outbox reads and writes of the store (a mixin: the Store provides the connection)."""

    if TYPE_CHECKING:
        path: Path
        _conn: sqlite3.Connection

        def _read(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

        def _raw_tx(self, what: str) -> AbstractContextManager[sqlite3.Connection]: ...

    def _init_outbox(self) -> None:
        """Set up the (not yet loaded) index and the triggers that invalidate it."""
        # Every dispatcher tick and every batch of "sent" marks touches pages spread over
        # the outbox and notification-log indexes; with SQLite's default 2 MB cache they
        # were read back from the file again and again (about a third of the process's
        # system time on the ingest benchmark). A bigger cache keeps them.
        self._conn.execute(f"PRAGMA cache_size=-{_CACHE_KB}")
        self._pending: PendingIndex | None = None
        # Whether the index was (re)loaded since the worker last asked for new heads (it
        # must then look at every lane).
        self._reloaded = True
        # True while this class itself writes the outbox (the index is updated in step).
        self._own_write = False
        self._sent: list[tuple[int, str, int]] = []
        # Alert rows (SAVE_ALERT parameters) saved with defer=True, written the same way.
        self._alert_rows: list[tuple[Any, ...]] = []
        self._flush_scheduled = False
        # Created with the first index load: until then there is nothing to invalidate,
        # and with delivery in its own process the service never loads it, so the rows it
        # marks sent do not pay for a trigger each.
        self._watching = False
        # Told about a group flush's rows before they are committed (see write_flushes).
        self.announce: RowAnnouncer | None = None
        # No id of an announced row whose commit failed is given out again.
        self._id_floor = 0

    def _outbox_changed(self) -> None:
        if not self._own_write:
            self._pending = None  # someone else changed the table: reload on next use

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction that first writes the deferred marks (keeping write order)."""
        with self._marked_tx(what, own=False) as conn:
            yield conn

    @contextmanager
    def _own(self, what: str, *, deferred: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction of this class (it updates the index itself), marks first."""
        with self._marked_tx(what, own=True, deferred=deferred) as conn:
            yield conn

    @contextmanager
    def _marked_tx(
        self, what: str, *, own: bool, deferred: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """A write transaction opening with the deferred "sent" marks and alert saves.

        One commit instead of two: each commit rewrites every page it touched, and the
        marks and the next write share the pages at the end of the outbox. If the
        transaction fails, the deferred writes are queued again with it. Without
        ``deferred`` they are left to the timer (or the next transaction).
        """
        batch: list[tuple[int, str, int]] = []
        alerts: list[tuple[Any, ...]] = []
        if deferred:
            self._flush_scheduled = False
            batch, self._sent = self._sent, []
            alerts, self._alert_rows = self._alert_rows, []
        # Restored, not cleared: record_failure and defer wrap a _tx in their own flag.
        outer = self._own_write
        try:
            with self._raw_tx(what) as conn:
                self._own_write = True
                write_marks(conn, batch)
                if alerts:
                    conn.executemany(SAVE_ALERT, alerts)
                self._own_write = own or outer
                yield conn
        except BaseException:
            self._sent = batch + self._sent
            self._alert_rows = alerts + self._alert_rows  # older first: the newest wins
            raise
        finally:
            self._own_write = outer

    # -- the index -------------------------------------------------------------------------

    def _index(self) -> PendingIndex:
        """The pending rows; loaded from the database when stale.

        Deferred marks are already applied here, so only a reload writes them first.
        """
        while self._pending is None:
            if not self._watching:
                _triggers(self._conn, self._outbox_changed)
                self._watching = True
            self.flush_deferred()
            self._reloaded = True
            index = self._pending = PendingIndex()  # an unreadable row's update resets it
            rows, _ = self._outbox_query(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status='pending' ORDER BY id"
            )
            if self._pending is index:
                for row in rows:
                    index.add(row)
        return self._pending

    def _remove(self, row_id: int) -> None:
        if self._pending is not None:
            self._pending.remove(row_id)

    def _update(self, row_id: int, **changes: Any) -> None:
        if self._pending is not None:
            self._pending.update(row_id, **changes)

    # -- writes ----------------------------------------------------------------------------

    def enqueue(self, entry: NflogEntry, notification: NewNotification) -> int:
        """Write the outbox row and its notification-log entry atomically; return the row id.

        Together they make a crash harmless: either both exist (the worker delivers the
        row, and dedup will not queue it again) or neither does (the next flush does).
        """
        return self.write_flushes([], [(entry, notification)])[0]

    def write_flushes(
        self, entries: Sequence[NflogEntry], queued: Sequence[tuple[NflogEntry, NewNotification]]
    ) -> list[int]:
        """Write log entries and outbox rows (each with its entry) in one transaction.

        The ids of the new outbox rows are returned in the order of ``queued``. One
        transaction per dispatcher tick keeps thousands of group flushes cheap.
        """
        loaded = self._pending is not None
        announce = self.announce if 0 < len(queued) <= ANNOUNCE_MAX else None
        ids: list[int] = []
        # The deferred marks and alerts stay for the timer: this commit stands between
        # the alerts' arrival and their notifications, so it carries only what they need.
        try:
            with self._own("writing to the outbox", deferred=False) as conn:
                first = self._next_id(conn) if queued else 0
                ids = list(range(first, first + len(queued)))
                rows = [outbox_params(i, n) for i, (_, n) in zip(ids, queued, strict=True)]
                if announce is not None:
                    # Before the writes, so that sending overlaps them. A row may then go
                    # out and its commit fail (the flush is retried: at least once, as
                    # ever); the POST that caused it is only answered after the commit.
                    # Only small flushes: a big one is a burst, which the delivery
                    # process, behind anyway, reads from the file in bulk.
                    announce.announce([pending_values(params) for params in rows])
                nflog = [nflog_params(e) for e in entries] + [nflog_params(e) for e, _ in queued]
                conn.executemany(WRITE_NFLOG, nflog)
                conn.executemany(INSERT_OUTBOX, rows)
        except BaseException:
            if announce is not None and ids:
                self._id_floor = ids[-1] + 1  # the announced ids stay unused
                announce.retract(ids)
            raise
        index = self._pending
        if loaded and index is not None:
            for params, (_, notification) in zip(rows, queued, strict=True):
                index.add(new_row(params[0], notification, params[6]))
        return ids

    def _next_id(self, conn: sqlite3.Connection) -> int:
        """The id of the next outbox row: above every row and every announced id."""
        return max(next_outbox_id(conn), self._id_floor)

    def _insert_outbox(
        self, conn: sqlite3.Connection, notifications: Sequence[NewNotification]
    ) -> list[int]:
        """Insert outbox rows inside another write of this class (see :meth:`_own`)."""
        first = self._next_id(conn) if notifications else 0
        ids = list(range(first, first + len(notifications)))
        conn.executemany(
            INSERT_OUTBOX,
            [outbox_params(i, n) for i, n in zip(ids, notifications, strict=True)],
        )
        return ids

    def _index_new(self, ids: Sequence[int], notifications: Sequence[NewNotification]) -> None:
        """Add rows :meth:`_insert_outbox` wrote (once committed) to a loaded index."""
        if self._pending is not None:
            for row_id, notification in zip(ids, notifications, strict=True):
                self._pending.add(new_row(row_id, notification))

    def mark_sent(self, row_id: int, attempts: int, at: datetime) -> None:
        """Record a successful delivery (written with the other marks of this loop turn)."""
        # Checked now: a bad value in the batch would fail every later transaction.
        row_id, attempts = int(row_id), int(attempts)
        self._remove(row_id)
        self._sent.append((attempts, encode_time(at), row_id))
        self._flush_later()

    def _save_alert_rows_later(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Write alert rows with the next transaction (at most ``_MARK_DELAY`` from now)."""
        self._alert_rows += rows
        self._flush_later()

    def _flush_later(self) -> None:
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_deferred()
            return
        self._flush_scheduled = True
        loop.call_later(_MARK_DELAY, self._flush_quietly)

    def _flush_quietly(self) -> None:
        try:
            self.flush_deferred()
        except Exception as exc:  # noqa: BLE001 - a timer callback has no caller to tell
            # They stay queued; the next read or write of the store tries again.
            log.error("could not write delivery marks and alerts (will retry): %s", exc)

    def flush_deferred(self) -> None:
        """Write the deferred marks and alerts now (raises StoreError; kept to retry)."""
        self._flush_scheduled = False
        if self._sent or self._alert_rows:
            with self._own("marking notifications sent and saving alerts"):
                pass

    def mark_retry(self, row_id: int, attempts: int, next_at: datetime, error: str) -> None:
        """Record a failed attempt and when to try again."""
        with self._own("scheduling a notification retry") as conn:
            conn.execute(
                "UPDATE outbox SET attempts=?, next_attempt_at=?, last_error=? WHERE id=?",
                (attempts, encode_time(next_at), error, row_id),
            )
        self._update(row_id, attempts=attempts, next_attempt_at=next_at, last_error=error)

    def mark_failed(self, row_id: int, attempts: int, error: str) -> None:
        """Give up on a notification."""
        self._set_status(row_id, "failed", attempts, error)

    def _set_status(self, row_id: int, status: str, attempts: int | None, error: str) -> None:
        with self._own("updating the outbox") as conn:
            conn.execute(
                "UPDATE outbox SET status=?, attempts=COALESCE(?, attempts), last_error=? "
                "WHERE id=?",
                (status, attempts, error, row_id),
            )
        if status != "pending":
            self._remove(row_id)

    def record_failure(
        self, row_id: int, attempts: int, error: str, reason: str, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up when it is None."""
        self._own_write = True
        try:
            super().record_failure(row_id, attempts, error, reason, retry_at)  # type: ignore[misc]
        finally:
            self._own_write = False
        if retry_at is None:
            self._remove(row_id)
        else:
            self._update(row_id, attempts=attempts, next_attempt_at=retry_at, last_error=error)

    def defer(self, row_ids: Sequence[int], until: datetime) -> None:
        """Move pending rows' next attempt to ``until`` without counting an attempt."""
        self._own_write = True
        try:
            super().defer(row_ids, until)  # type: ignore[misc]
        finally:
            self._own_write = False
        for row_id in row_ids:
            self._update(row_id, next_attempt_at=until)

    def delete_finished_outbox(self, before: datetime) -> int:
        """Drop sent and failed rows created before ``before``; return how many."""
        with self._own("pruning the outbox") as conn:  # pending rows are untouched
            cur = conn.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'failed') AND created_at<?",
                (encode_time(before),),
            )
            return cur.rowcount

    # -- reads -----------------------------------------------------------------------------

    def outbox_heads(self, skip: Container[Lane] = ()) -> list[OutboxRow]:
        """The oldest pending row of every lane not in ``skip``, oldest first."""
        # The worker skips the lanes it has queued already: with a backlog, sorting
        # every head on every wake-up was a visible share of the delivery cost.
        return self._index().heads(skip)

    def new_outbox_heads(self) -> list[OutboxRow] | None:
        """Heads of the lanes that got their first pending row since the last call.

        None when the pending rows were (re)loaded from the database since the last call:
        then any lane may be new, and the caller must look at :meth:`outbox_heads`. A row
        added to a lane that already had one waits behind that lane's head, so only new
        lanes can have become due.
        """
        heads = self._index().take_new_heads()
        if self._reloaded:
            self._reloaded = False
            return None
        return heads

    def pending_outbox_rows(self) -> list[OutboxRow]:
        """Every pending row, oldest first."""
        return self._index().rows()

    def outbox_head(self, lane: Lane) -> OutboxRow | None:
        """The oldest pending row of ``lane``, or None."""
        return self._index().head(lane)

    def count_pending(self) -> int:
        """How many outbox rows wait for delivery."""
        return self._index().count

    def outbox_rows(self, status: str | None = None, limit: int = 1000) -> list[OutboxRow]:
        """The newest outbox rows, optionally of one status, newest first."""
        self.flush_deferred()
        where, args = ("WHERE status=?", [status]) if status else ("", [])
        rows, _ = self._outbox_query(
            f"SELECT {OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        return rows

    def _outbox_query(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[OutboxRow], int]:
        """The readable rows, and how many unreadable ones were marked failed."""
        out: list[OutboxRow] = []
        unreadable = 0
        for row in self._read("reading the outbox", sql, args):
            try:
                out.append(outbox_row(row))
            except (ValueError, TypeError) as exc:
                # A pending row that can never be read would block its lane forever.
                log.warning("outbox row %s is unreadable (%s); marking it failed", row[0], exc)
                with self._raw_tx("updating the outbox") as conn:
                    conn.execute(
                        "UPDATE outbox SET status='failed', last_error=? WHERE id=?",
                        (f"unreadable row: {exc}", int(row[0])),
                    )
                unreadable += 1
        return out, unreadable

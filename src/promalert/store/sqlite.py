"""The SQLite store: alerts, rule state, notification log, outbox and a small kv table.

One connection, used only from the event loop's thread. Every write is a handful of
rows and takes well under a millisecond with WAL and ``synchronous=NORMAL``, so writes
run on the loop thread directly instead of paying for a hop to a worker thread.
Rows that cannot be read back (hand-edited, truncated) are logged and skipped, never
allowed to stop start-up.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from promalert.errors import StoreError
from promalert.model import Alert, Labels
from promalert.store.checkpoint import Checkpointer
from promalert.store.deliveries import DeliveryLog
from promalert.store.incidents import IncidentStore
from promalert.store.migrations import migrate
from promalert.store.outbox import OutboxStore
from promalert.store.outbox_sql import SAVE_ALERT, write_nflog
from promalert.store.records import (
    NflogEntry,
    NflogKey,
    StoredAlert,
    decode_time,
    encode_time,
    optional_time,
    plain_json,
)

log = logging.getLogger(__name__)


class Store(OutboxStore, DeliveryLog, IncidentStore):
    """promalert's durable state in one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an open, migrated connection; use :meth:`open`."""
        self._conn = conn
        self.path = path
        self._init_outbox()
        self._checkpointer = Checkpointer(path)

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating the folder and file) and migrate the database at ``path``."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store's folder {path.parent}: {exc.strerror}"
            ) from exc
        try:
            conn = sqlite3.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        try:
            # Takes effect only for a new file. An outbox row is ~1.5 KB: bigger pages mean
            # fewer WAL frames per commit, smaller ones fewer bytes for the scattered
            # alert and notification-log pages a small batch touches (the commit is on
            # the way from a POST to its webhook); 8 KB measured best for both loads.
            conn.execute("PRAGMA page_size=8192")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints run on a background thread (store/checkpoint.py), never in a commit.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA temp_store=MEMORY")
            migrate(conn, str(path))
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot open store {path}: {exc} (is it a SQLite database?)") from exc
        except StoreError:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        """Write what is still deferred, stop checkpointing and close the connection."""
        try:
            self.flush_deferred()
        except StoreError as exc:
            log.error("could not write the last delivery marks and alerts: %s", exc)
        self._checkpointer.stop()
        self._conn.close()  # the last connection to close checkpoints the rest

    @contextmanager
    def _raw_tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; sqlite errors become StoreError naming ``what``."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {what} failed: {exc}") from exc

    def _read(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        self.flush_deferred()
        try:
            return list(self._conn.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {what} failed: {exc}") from exc

    # -- rule state ----------------------------------------------------------------------

    def load_rule_state(self, key: str) -> dict[str, Any] | None:
        """The saved state of a rule, or None (also when the saved row is unreadable)."""
        rows = self._read("reading rule state", "SELECT data FROM rule_state WHERE key=?", (key,))
        if not rows:
            return None
        try:
            data = json.loads(rows[0][0])
        except (ValueError, TypeError):
            log.warning("ignoring unreadable saved state of rule %s", key)
            return None
        if not isinstance(data, dict):
            log.warning("ignoring saved state of rule %s: not a JSON object", key)
            return None
        return data

    def save_rule_state(self, key: str, data: dict[str, Any]) -> None:
        """Replace the saved state of a rule."""
        text = json.dumps(data, separators=(",", ":"))
        with self._tx("saving rule state") as conn:
            conn.execute("INSERT OR REPLACE INTO rule_state (key, data) VALUES (?, ?)", (key, text))

    def delete_rule_states_except(self, keys: set[str]) -> None:
        """Forget every rule state whose key is not in ``keys``."""
        stored = self._read("listing rule states", "SELECT key FROM rule_state")
        gone = [(row[0],) for row in stored if row[0] not in keys]
        if gone:
            with self._tx("deleting rule states") as conn:
                conn.executemany("DELETE FROM rule_state WHERE key=?", gone)

    # -- alerts --------------------------------------------------------------------------

    def load_alerts(self) -> list[StoredAlert]:
        """Every stored alert; unreadable rows are logged and skipped."""
        rows = self._read(
            "reading alerts",
            "SELECT fingerprint, labels, annotations, starts_at, ends_at, generator_url, "
            "updated_at, source, timeout FROM alerts",
        )
        out: list[StoredAlert] = []
        for row in rows:
            try:
                alert = Alert(
                    labels=Labels(_str_map(json.loads(row[1]))),
                    annotations=Labels(_str_map(json.loads(row[2]))),
                    starts_at=decode_time(row[3]),
                    ends_at=optional_time(row[4]),
                    generator_url=str(row[5]),
                    updated_at=decode_time(row[6]),
                )
                out.append(StoredAlert(alert, str(row[7]), bool(row[8])))
            except (ValueError, TypeError) as exc:
                log.warning("skipping unreadable stored alert %s: %s", row[0], exc)
        return out

    def save_alerts(self, alerts: Sequence[StoredAlert], *, defer: bool = False) -> None:
        """Insert or replace alerts by fingerprint, all in one transaction.

        With ``defer`` they are written with the next write transaction instead, at most
        50 ms later (the notification-log entries of their first flush come in the same
        or a later one): one commit per received batch instead of two.
        """
        rows = [
            (
                s.alert.fingerprint,
                plain_json(s.alert.labels.as_dict()),
                plain_json(s.alert.annotations.as_dict()),
                encode_time(_required(s.alert.starts_at)),
                None if s.alert.ends_at is None else encode_time(s.alert.ends_at),
                s.alert.generator_url,
                encode_time(_required(s.alert.updated_at)),
                s.source,
                int(s.timeout),
            )
            for s in alerts
        ]
        if defer:
            self._save_alert_rows_later(rows)
            return
        with self._tx("saving alerts") as conn:
            conn.executemany(SAVE_ALERT, rows)

    def delete_alerts(self, fingerprints: Collection[str]) -> None:
        """Forget the alerts with these fingerprints."""
        with self._tx("deleting alerts") as conn:
            conn.executemany("DELETE FROM alerts WHERE fingerprint=?", [(f,) for f in fingerprints])

    # -- notification log ----------------------------------------------------------------

    def nflog_entry(self, key: NflogKey, now: datetime) -> NflogEntry | None:
        """The unexpired notification-log entry for ``key``, or None."""
        rows = self._read(
            "reading the notification log",
            "SELECT firing, resolved, timestamp, expires_at FROM nflog WHERE group_key=? "
            "AND receiver=? AND channel=? AND integration=? AND expires_at>?",
            (key.group_key, key.receiver, key.channel, key.integration, encode_time(now)),
        )
        if not rows:
            return None
        row = rows[0]
        try:
            return NflogEntry(
                key,
                frozenset(_str_list(json.loads(row[0]))),
                frozenset(_str_list(json.loads(row[1]))),
                decode_time(row[2]),
                decode_time(row[3]),
            )
        except (ValueError, TypeError) as exc:
            # Treated as "never notified": at worst one repeated notification.
            log.warning("ignoring unreadable notification-log entry for %s: %s", key, exc)
            return None

    def save_nflog(self, entry: NflogEntry) -> None:
        """Record what an integration was told, without a notification to send."""
        with self._tx("writing the notification log") as conn:
            write_nflog(conn, entry)

    def load_nflog(self, now: datetime) -> list[NflogEntry]:
        """Every unexpired notification-log entry (unreadable ones are logged and skipped)."""
        rows = self._read(
            "reading the notification log",
            "SELECT group_key, receiver, channel, integration, firing, resolved, timestamp, "
            "expires_at FROM nflog WHERE expires_at>?",
            (encode_time(now),),
        )
        out: list[NflogEntry] = []
        for row in rows:
            key = NflogKey(str(row[0]), str(row[1]), str(row[2]), int(row[3]))
            try:
                out.append(
                    NflogEntry(
                        key,
                        frozenset(_str_list(json.loads(row[4]))),
                        frozenset(_str_list(json.loads(row[5]))),
                        decode_time(row[6]),
                        decode_time(row[7]),
                    )
                )
            except (ValueError, TypeError) as exc:
                log.warning("ignoring unreadable notification-log entry for %s: %s", key, exc)
        return out

    def delete_expired_nflog(self, now: datetime) -> int:
        """Drop expired notification-log entries; return how many."""
        with self._tx("pruning the notification log") as conn:
            cur = conn.execute("DELETE FROM nflog WHERE expires_at<=?", (encode_time(now),))
            return cur.rowcount

    # -- silences ------------------------------------------------------------------------

    def load_silences(self) -> list[dict[str, Any]]:
        """Every stored silence as the JSON object it was saved as; bad rows are skipped."""
        out: list[dict[str, Any]] = []
        for row in self._read("reading silences", "SELECT id, data FROM silences"):
            try:
                data = json.loads(row[1])
            except ValueError:
                data = None
            if isinstance(data, dict):
                out.append(data)
            else:
                log.warning("skipping unreadable stored silence %s", row[0])
        return out

    def save_silence(self, silence_id: str, data: dict[str, Any], ends_at: datetime) -> None:
        """Insert or replace one silence."""
        with self._tx("saving a silence") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO silences (id, data, ends_at) VALUES (?, ?, ?)",
                (silence_id, json.dumps(data, ensure_ascii=False), encode_time(ends_at)),
            )

    def delete_silences_ended_before(self, before: datetime) -> int:
        """Drop silences that ended before ``before``; return how many."""
        with self._tx("pruning silences") as conn:
            cur = conn.execute("DELETE FROM silences WHERE ends_at<?", (encode_time(before),))
            return cur.rowcount

    # -- kv ------------------------------------------------------------------------------

    def get_kv(self, key: str) -> str | None:
        """The value stored under ``key``, or None."""
        rows = self._read("reading kv", "SELECT value FROM kv WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_kv(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``."""
        with self._tx("writing kv") as conn:
            conn.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))


def _str_map(value: Any) -> Mapping[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("expected a JSON object of strings")
    return value


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a JSON list of strings")
    return value


def _required(moment: datetime | None) -> datetime:
    if moment is None:
        raise StoreError(
            "an alert without starts_at/updated_at cannot be stored (ingest sets them)"
        )
    return moment

"""Incidents and their timelines: the durable half of the escalation engine.

Mixed into :class:`~promalert.store.sqlite.Store`. An incident row holds its escalation
state as one JSON document and its next due time; every change of an incident is
written together with its timeline events and the notifications it causes, in one
transaction (:meth:`IncidentStore.write_incidents`), so after a crash a step has either
happened completely (state advanced, notification queued) or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promalert.store.records import NewNotification, decode_time, encode_time, optional_time

_COLUMNS = (
    "id, policy, group_key, group_labels, priority, status, state, alerts, created_at, "
    "updated_at, first_ack_at, resolved_at, next_due"
)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One incident as stored: identity, escalation state and the alerts it covers."""

    id: int
    policy: str
    group_key: str
    group_labels: Mapping[str, str]
    priority: str
    status: str
    # The escalation state (``EscalationState.to_dict()``) and the manager's own fields.
    state: Mapping[str, Any]
    # Alerts as the incident JSON shows them (fingerprint, status, labels, ...).
    alerts: Sequence[Mapping[str, Any]]
    created_at: datetime
    updated_at: datetime
    first_ack_at: datetime | None = None
    resolved_at: datetime | None = None
    next_due: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """One entry of an incident's timeline."""

    incident_id: int
    at: datetime
    kind: str
    by: str | None = None
    via: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _params(r: IncidentRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.policy,
        r.group_key,
        _dumps(dict(r.group_labels)),
        r.priority,
        r.status,
        _dumps(dict(r.state)),
        _dumps([dict(a) for a in r.alerts]),
        encode_time(r.created_at),
        encode_time(r.updated_at),
        None if r.first_ack_at is None else encode_time(r.first_ack_at),
        None if r.resolved_at is None else encode_time(r.resolved_at),
        None if r.next_due is None else encode_time(r.next_due),
    )


def _record(row: Sequence[Any]) -> IncidentRecord:
    return IncidentRecord(
        id=int(row[0]),
        policy=row[1],
        group_key=row[2],
        group_labels=json.loads(row[3]),
        priority=row[4],
        status=row[5],
        state=json.loads(row[6]),
        alerts=json.loads(row[7]),
        created_at=decode_time(row[8]),
        updated_at=decode_time(row[9]),
        first_ack_at=optional_time(row[10]),
        resolved_at=optional_time(row[11]),
        next_due=optional_time(row[12]),
    )


def _event(row: Sequence[Any]) -> IncidentEvent:
    return IncidentEvent(
        incident_id=int(row[0]),
        at=decode_time(row[1]),
        kind=row[2],
        by=row[3],
        via=row[4],
        detail=json.loads(row[5]),
    )


class IncidentStore:
    """Incident reads and writes of the store (a mixin: the Store provides the connection)."""

    if TYPE_CHECKING:
        path: Path
        _conn: sqlite3.Connection

        def _read(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

        def _own(self, what: str) -> AbstractContextManager[sqlite3.Connection]: ...

        def _insert_outbox(
            self, conn: sqlite3.Connection, notifications: Sequence[NewNotification]
        ) -> list[int]: ...

        def _index_new(
            self, ids: Sequence[int], notifications: Sequence[NewNotification]
        ) -> None: ...

    def write_incidents(
        self,
        incidents: Sequence[IncidentRecord],
        events: Sequence[IncidentEvent],
        notifications: Sequence[NewNotification] = (),
    ) -> list[int]:
        """Write incidents (insert or replace), events and outbox rows in one transaction.

        Returns the ids of the new outbox rows in the order of ``notifications``.
        """
        with self._own("writing incidents") as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO incidents ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_params(r) for r in incidents],
            )
            conn.executemany(
                "INSERT INTO incident_events (incident_id, at, kind, by, via, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (e.incident_id, encode_time(e.at), e.kind, e.by, e.via, _dumps(e.detail))
                    for e in events
                ],
            )
            ids = self._insert_outbox(conn, notifications)
        self._index_new(ids, notifications)
        return ids

    def queue_notifications(self, notifications: Sequence[NewNotification]) -> list[int]:
        """Write outbox rows that belong to no group flush (reports, handoffs)."""
        with self._own("queueing notifications") as conn:
            ids = self._insert_outbox(conn, notifications)
        self._index_new(ids, notifications)
        return ids

    def max_incident_id(self) -> int:
        """The highest incident id ever written (0 for none)."""
        rows = self._read("reading incident ids", "SELECT MAX(id) FROM incidents")
        return int(rows[0][0] or 0)

    def open_incidents(self) -> list[IncidentRecord]:
        """Every incident not resolved, oldest first."""
        return self._incidents("WHERE status != 'resolved' ORDER BY id", ())

    def incident(self, incident_id: int) -> IncidentRecord | None:
        """The incident with ``incident_id``, if any."""
        found = self._incidents("WHERE id = ?", (incident_id,))
        return found[0] if found else None

    def incidents(
        self, *, status: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[IncidentRecord]:
        """Incidents newest first, optionally only those with ``status``."""
        where: list[str] = ["1=1"]
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        sql = f"WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        return self._incidents(sql, (*args, limit))

    def incidents_between(self, start: datetime, end: datetime) -> list[IncidentRecord]:
        """Incidents created in [start, end), oldest first (for reports and stats)."""
        sql = "WHERE created_at >= ? AND created_at < ? ORDER BY id"
        return self._incidents(sql, (encode_time(start), encode_time(end)))

    def incident_events(self, incident_id: int) -> list[IncidentEvent]:
        """The incident's timeline, oldest first."""
        rows = self._read(
            "reading an incident's timeline",
            "SELECT incident_id, at, kind, by, via, detail FROM incident_events "
            "WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        )
        return [_event(r) for r in rows]

    def events_between(self, start: datetime, end: datetime) -> Iterator[IncidentEvent]:
        """Timeline events of every incident in [start, end), oldest first."""
        rows = self._read(
            "reading incident timelines",
            "SELECT incident_id, at, kind, by, via, detail FROM incident_events "
            "WHERE at >= ? AND at < ? ORDER BY id",
            (encode_time(start), encode_time(end)),
        )
        return (_event(r) for r in rows)

    def delete_resolved_incidents(self, before: datetime) -> int:
        """Delete incidents resolved before ``before`` with their timelines; return how many."""
        with self._own("pruning incidents") as conn:
            cut = encode_time(before)
            conn.execute(
                "DELETE FROM incident_events WHERE incident_id IN (SELECT id FROM incidents "
                "WHERE status = 'resolved' AND resolved_at < ?)",
                (cut,),
            )
            cursor = conn.execute(
                "DELETE FROM incidents WHERE status = 'resolved' AND resolved_at < ?", (cut,)
            )
            return int(cursor.rowcount)

    def _incidents(self, where: str, args: Sequence[Any]) -> list[IncidentRecord]:
        rows = self._read("reading incidents", f"SELECT {_COLUMNS} FROM incidents {where}", args)
        return [_record(r) for r in rows]

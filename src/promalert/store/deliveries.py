"""The delivery log: failure reasons, deferrals and what providers report after sending.

Mixed into :class:`~promalert.store.sqlite.Store`. The outbox row says ``pending``,
``sent`` or ``failed``; providers that confirm delivery later (Twilio status callbacks)
add one ``deliveries`` row per provider message, and :func:`effective_status` folds
them into ``delivered``/``read``/``failed`` for the API.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from promalert.store.records import decode_time, encode_time, optional_time

DELIVERY_STATUSES = ("sent", "failed", "delivered", "read")
"""Statuses a provider can report for one message, in the order they may replace each other."""
_RANK = {status: rank for rank, status in enumerate(DELIVERY_STATUSES)}


@dataclass(frozen=True, slots=True)
class ProviderDelivery:
    """What a provider reported about one message it accepted."""

    provider_id: str
    recipient: str
    status: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One notification as ``GET /api/v1/notifications`` shows it (no payload, no secrets)."""

    id: int
    created_at: datetime
    receiver: str
    channel: str
    integration: int
    group_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str
    reason: str
    alerts: int
    firing: int
    deliveries: tuple[ProviderDelivery, ...]


def effective_status(outbox_status: str, deliveries: Sequence[ProviderDelivery]) -> str:
    """The outbox status refined by provider reports: read > delivered (all) > failed."""
    if outbox_status != "sent" or not deliveries:
        return outbox_status
    statuses = {d.status for d in deliveries}
    if "read" in statuses:
        return "read"
    if statuses <= {"delivered", "read"}:
        return "delivered"
    if "failed" in statuses:
        return "failed"
    return "sent"


class DeliveryLog:
    """Delivery-log queries of the store (a mixin: the Store provides the connection)."""

    if TYPE_CHECKING:
        path: Path

        def _tx(self, what: str) -> AbstractContextManager[sqlite3.Connection]: ...

        def _read(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[Any]: ...

    def record_failure(
        self, row_id: int, attempts: int, error: str, reason: str, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up when it is None."""
        with self._tx("recording a failed notification") as conn:
            if retry_at is None:
                conn.execute(
                    "UPDATE outbox SET status='failed', attempts=?, last_error=?, reason=? "
                    "WHERE id=?",
                    (attempts, error, reason, row_id),
                )
            else:
                conn.execute(
                    "UPDATE outbox SET attempts=?, next_attempt_at=?, last_error=?, reason=? "
                    "WHERE id=?",
                    (attempts, encode_time(retry_at), error, reason, row_id),
                )

    def defer(self, row_ids: Sequence[int], until: datetime) -> None:
        """Move pending rows' next attempt to ``until`` without counting an attempt."""
        with self._tx("deferring notifications") as conn:
            conn.executemany(
                "UPDATE outbox SET next_attempt_at=? WHERE id=? AND status='pending'",
                [(encode_time(until), row_id) for row_id in row_ids],
            )

    def record_receipt(
        self, outbox_id: int, channel: str, provider_ids: Sequence[tuple[str, str]], at: datetime
    ) -> None:
        """Remember the provider's message ids of a sent notification (status ``sent``)."""
        if not provider_ids:
            return
        with self._tx("recording provider message ids") as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO deliveries (provider_id, outbox_id, channel, recipient, "
                "status, updated_at) VALUES (?, ?, ?, ?, 'sent', ?)",
                [(pid, outbox_id, channel, who, encode_time(at)) for pid, who in provider_ids],
            )

    def update_delivery(self, provider_id: str, status: str, at: datetime) -> int | None:
        """Apply a provider's report; return the outbox id, or None for an unknown id.

        Reports may arrive out of order, so a status never replaces a later one
        (``delivered`` is not undone by a late ``sent``).
        """
        if status not in _RANK:
            raise ValueError(f"unknown delivery status {status!r}")
        rows = self._read(
            "reading a delivery",
            "SELECT outbox_id, status FROM deliveries WHERE provider_id=?",
            (provider_id,),
        )
        if not rows:
            return None
        outbox_id, current = int(rows[0][0]), str(rows[0][1])
        if _RANK[status] > _RANK.get(current, -1):
            with self._tx("updating a delivery") as conn:
                conn.execute(
                    "UPDATE deliveries SET status=?, updated_at=? WHERE provider_id=?",
                    (status, encode_time(at), provider_id),
                )
        return outbox_id

    def delete_orphan_deliveries(self) -> int:
        """Drop provider reports whose notification was pruned; return how many."""
        with self._tx("pruning deliveries") as conn:
            cur = conn.execute(
                "DELETE FROM deliveries WHERE outbox_id NOT IN (SELECT id FROM outbox)"
            )
            return cur.rowcount

    def notification_log(
        self,
        *,
        limit: int = 100,
        receiver: str | None = None,
        channel: str | None = None,
        before_id: int | None = None,
        group_key: str | None = None,
    ) -> list[NotificationRecord]:
        """The newest notifications first, optionally filtered; ``before_id`` pages back."""
        where, args = [], list[Any]()
        filters = (("receiver", receiver), ("channel", channel), ("group_key", group_key))
        for column, value in filters:
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if before_id is not None:
            where.append("id<?")
            args.append(before_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(
            "reading the delivery log",
            "SELECT id, created_at, receiver, channel, integration, group_key, status, attempts, "
            f"next_attempt_at, sent_at, last_error, reason, payload FROM outbox {clause} "
            "ORDER BY id DESC LIMIT ?",
            [*args, limit],
        )
        deliveries = self._deliveries([int(r[0]) for r in rows])
        return [_record(row, deliveries.get(int(row[0]), ())) for row in rows]

    def _deliveries(self, ids: Sequence[int]) -> dict[int, tuple[ProviderDelivery, ...]]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._read(
            "reading deliveries",
            "SELECT outbox_id, provider_id, recipient, status, updated_at FROM deliveries "
            f"WHERE outbox_id IN ({marks}) ORDER BY provider_id",
            ids,
        )
        out: dict[int, list[ProviderDelivery]] = {}
        for row in rows:
            out.setdefault(int(row[0]), []).append(
                ProviderDelivery(str(row[1]), str(row[2]), str(row[3]), decode_time(row[4]))
            )
        return {k: tuple(v) for k, v in out.items()}


def _record(row: Any, deliveries: tuple[ProviderDelivery, ...]) -> NotificationRecord:
    try:
        payload = json.loads(row[12])
        alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
    except (ValueError, TypeError):
        alerts = []
    alerts = alerts if isinstance(alerts, list) else []
    return NotificationRecord(
        id=int(row[0]),
        created_at=decode_time(row[1]),
        receiver=str(row[2]),
        channel=str(row[3]),
        integration=int(row[4]),
        group_key=str(row[5]),
        status=effective_status(str(row[6]), deliveries),
        attempts=int(row[7]),
        next_attempt_at=decode_time(row[8]),
        sent_at=optional_time(row[9]),
        last_error=str(row[10]),
        reason=str(row[11]),
        alerts=len(alerts),
        firing=sum(1 for a in alerts if isinstance(a, dict) and a.get("status") == "firing"),
        deliveries=deliveries,
    )

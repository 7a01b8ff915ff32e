"""The delivery process's side of the store and metrics: copies that report back.

In the delivery process (:mod:`promalert.notify.process`) the worker reads pending rows
from :class:`ReplicaOutbox`, a copy read from the store's file, and its writes (sent,
failed, retry at, deferred) update that copy at once and go back to the service as
*effects*, which writes them to SQLite — the one writer of the store. Metric updates
are summed up the same way (:class:`RemoteMetrics`) and applied to the service's own
metrics, so ``/metrics`` shows one set of figures.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from promalert.metrics import Metrics
from promalert.store.outbox import OUTBOX_COLUMNS, outbox_row
from promalert.store.pending import PendingIndex
from promalert.store.records import Lane, OutboxRow

log = logging.getLogger(__name__)

Effect = tuple[Any, ...]
# Every pending row (through the index on status), then each time only the rows after the
# last one read, by id (a range of the primary key: the status index would make SQLite
# look at every pending row of a backlog on every read).
_SELECT_ALL = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status='pending' ORDER BY id"
_SELECT_NEW = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id>? AND +status='pending' ORDER BY id"


class ReplicaOutbox:
    """The store's pending rows, read from its SQLite file; writes go back as effects.

    Rows are written by the service (one connection, so ids grow in commit order); this
    copy reads those with an id above the last it read whenever the service says it
    queued some (:meth:`read_new`), and never writes the file.
    """

    def __init__(self, path: Path, emit: Callable[[Effect], None]) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._emit = emit
        # Integrations that send the stored payload text as it is: their rows' payloads
        # are not decoded (see StoredText); set by the delivery process from its config.
        self.text_only: frozenset[tuple[str, int]] = frozenset()
        self._index = PendingIndex()
        self._last_id = 0
        self._reset = True

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def read_new(self) -> None:
        """Take in the pending rows the service committed since the last read."""
        try:
            if self._last_id:
                rows = self._conn.execute(_SELECT_NEW, (self._last_id,)).fetchall()
            else:
                rows = self._conn.execute(_SELECT_ALL).fetchall()
        except sqlite3.Error as exc:
            log.error("cannot read the outbox: %s", exc)
            return
        self._add(rows)

    def take(self, rows: Sequence[Sequence[Any]]) -> None:
        """Take in rows the service is committing now, sent instead of read (ids ascending).

        Rows of earlier commits not read yet are read first; they are in the file.
        """
        if not rows:
            return
        if self._last_id < int(rows[0][0]) - 1:
            self.read_new()
        last = self._last_id
        self._add([values for values in rows if int(values[0]) > last])

    def retract(self, ids: Sequence[int]) -> None:
        """Forget taken rows whose commit failed (those already sent cannot be recalled)."""
        for row_id in ids:
            self._index.remove(row_id)

    def _add(self, rows: Sequence[Sequence[Any]]) -> None:
        index, text_only = self._index, self.text_only
        for values in rows:
            self._last_id = max(self._last_id, int(values[0]))
            try:
                undecoded = (values[2], values[4]) in text_only
                index.add(outbox_row(values, keep_json=True, undecoded=undecoded))
            except (ValueError, TypeError) as exc:
                # A row that can never be read would block its lane forever.
                log.warning("outbox row %s is unreadable (%s); marking it failed", values[0], exc)
                self._emit(("mark_failed", int(values[0]), None, f"unreadable row: {exc}"))

    # -- what the delivery worker reads ----------------------------------------------------

    def outbox_head(self, lane: Lane) -> OutboxRow | None:
        """The oldest pending row of ``lane``, or None."""
        return self._index.head(lane)

    def outbox_heads(self, skip: Container[Lane] = ()) -> list[OutboxRow]:
        """The oldest pending row of every lane not in ``skip``, oldest first."""
        return self._index.heads(skip)

    def new_outbox_heads(self) -> list[OutboxRow] | None:
        """Heads of lanes new since the last call; None after a reset (look at all)."""
        heads = self._index.take_new_heads()
        if self._reset:
            self._reset = False
            return None
        return heads

    def count_pending(self) -> int:
        """How many rows wait for delivery."""
        return self._index.count

    # -- what it writes --------------------------------------------------------------------

    def mark_sent(self, row_id: int, attempts: int, at: datetime) -> None:
        """Record a successful delivery."""
        self._index.remove(row_id)
        self._emit(("mark_sent", row_id, attempts, at))

    def record_failure(
        self, row_id: int, attempts: int, error: str, reason: str, retry_at: datetime | None
    ) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up when it is None."""
        if retry_at is None:
            self._index.remove(row_id)
        else:
            self._index.update(
                row_id, attempts=attempts, next_attempt_at=retry_at, last_error=error
            )
        self._emit(("record_failure", row_id, attempts, error, reason, retry_at))

    def defer(self, row_ids: Sequence[int], until: datetime) -> None:
        """Move pending rows' next attempt to ``until`` without counting an attempt."""
        for row_id in row_ids:
            self._index.update(row_id, next_attempt_at=until)
        self._emit(("defer", list(row_ids), until))

    def record_receipt(
        self, outbox_id: int, channel: str, provider_ids: Sequence[tuple[str, str]], at: datetime
    ) -> None:
        """Remember the provider's message ids of a sent notification."""
        self._emit(("record_receipt", outbox_id, channel, list(provider_ids), at))

    def delete_finished_outbox(self, before: datetime) -> int:
        """Ask the service to prune sent and failed rows (the count is the service's)."""
        self._emit(("delete_finished_outbox", before))
        return 0

    def delete_orphan_deliveries(self) -> int:
        """Ask the service to prune provider reports of pruned rows."""
        self._emit(("delete_orphan_deliveries",))
        return 0


# -- metrics --------------------------------------------------------------------------------

MetricKey = tuple[str, tuple[tuple[str, str], ...]]


class RemoteMetrics:
    """Stands in for :class:`~promalert.metrics.Metrics`, summing updates to send on.

    ``metrics.notifications.labels(channel=..., receiver=...).inc()`` works as on the real
    object; :meth:`take` returns what happened since the last call, which
    :func:`apply_metrics` replays on the service's metrics.
    """

    def __init__(self, on_change: Callable[[], None] = lambda: None) -> None:
        self.on_change = on_change
        self.incs: dict[MetricKey, float] = {}
        self.sets: dict[MetricKey, float] = {}
        self.observations: dict[MetricKey, list[float]] = {}

    def __getattr__(self, name: str) -> _RemoteChild:
        if name.startswith("_"):
            raise AttributeError(name)
        return _RemoteChild(self, (name, ()))

    def take(self) -> tuple[dict[MetricKey, float], ...] | None:
        """The updates since the last call, or None when there were none."""
        if not (self.incs or self.sets or self.observations):
            return None
        taken = (self.incs, self.sets, self.observations)
        self.incs, self.sets, self.observations = {}, {}, {}
        return taken  # type: ignore[return-value]


class _RemoteChild:
    """One metric (and label values) of :class:`RemoteMetrics`."""

    __slots__ = ("_owner", "_key")

    def __init__(self, owner: RemoteMetrics, key: MetricKey) -> None:
        self._owner = owner
        self._key = key

    def labels(self, **values: str) -> _RemoteChild:
        return _RemoteChild(self._owner, (self._key[0], tuple(sorted(values.items()))))

    def inc(self, amount: float = 1.0) -> None:
        owner = self._owner
        owner.incs[self._key] = owner.incs.get(self._key, 0.0) + amount
        owner.on_change()

    def set(self, value: float) -> None:
        self._owner.sets[self._key] = value
        self._owner.on_change()

    def observe(self, value: float) -> None:
        self._owner.observations.setdefault(self._key, []).append(value)
        self._owner.on_change()


def apply_metrics(metrics: Metrics, taken: Sequence[dict[MetricKey, Any]]) -> None:
    """Replay :meth:`RemoteMetrics.take`'s updates on the service's metrics."""
    incs, sets, observations = taken
    for (name, labels), amount in incs.items():
        _child(metrics, name, labels).inc(amount)
    for (name, labels), value in sets.items():
        _child(metrics, name, labels).set(value)
    for (name, labels), values in observations.items():
        child = _child(metrics, name, labels)
        for value in values:
            child.observe(value)


def _child(metrics: Metrics, name: str, labels: tuple[tuple[str, str], ...]) -> Any:
    metric = getattr(metrics, name)
    return metric.labels(**dict(labels)) if labels else metric

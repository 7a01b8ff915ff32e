"""Pending outbox rows in memory, by lane: what the delivery worker reads on every wake-up.

Kept by the store next to its SQLite table (:class:`~promalert.store.outbox.OutboxStore`)
and by the delivery process's copy of it (:mod:`promalert.notify.process`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container
from dataclasses import replace
from operator import attrgetter
from typing import Any

from promalert.store.records import Lane, OutboxRow

_row_id = attrgetter("id")


class PendingIndex:
    """Pending rows by lane, oldest first, with the lanes that got their first row lately."""

    __slots__ = ("lanes", "_lane_of", "_new_lanes", "count")

    def __init__(self) -> None:
        self.lanes: dict[Lane, deque[OutboxRow]] = {}
        self._lane_of: dict[int, Lane] = {}
        self._new_lanes: list[Lane] = []
        self.count = 0

    def add(self, row: OutboxRow) -> None:
        """Append ``row`` to its lane."""
        lane = row.lane
        rows = self.lanes.get(lane)
        if rows is None:
            rows = self.lanes[lane] = deque()
            self._new_lanes.append(lane)
        rows.append(row)
        self._lane_of[row.id] = lane
        self.count += 1

    def remove(self, row_id: int) -> None:
        """Drop a row that is no longer pending (unknown ids are ignored)."""
        lane = self._lane_of.pop(row_id, None)
        if lane is None:
            return
        rows = self.lanes[lane]
        if rows[0].id == row_id:  # the usual case: the head was delivered
            rows.popleft()
            self.count -= 1
        else:
            for i, row in enumerate(rows):
                if row.id == row_id:
                    del rows[i]
                    self.count -= 1
                    break
        if not rows:
            del self.lanes[lane]

    def update(self, row_id: int, **changes: Any) -> None:
        """Replace a pending row's fields (attempts, next attempt, last error)."""
        lane = self._lane_of.get(row_id)
        if lane is None:
            return
        rows = self.lanes[lane]
        for i, row in enumerate(rows):
            if row.id == row_id:
                rows[i] = replace(row, **changes)
                return

    def head(self, lane: Lane) -> OutboxRow | None:
        """The oldest pending row of ``lane``, or None."""
        rows = self.lanes.get(lane)
        return rows[0] if rows else None

    def heads(self, skip: Container[Lane] = ()) -> list[OutboxRow]:
        """The oldest pending row of every lane not in ``skip``, oldest first."""
        if skip:
            heads = [rows[0] for lane, rows in self.lanes.items() if lane not in skip]
        else:
            heads = [rows[0] for rows in self.lanes.values()]
        heads.sort(key=_row_id)
        return heads

    def take_new_heads(self) -> list[OutboxRow]:
        """Heads of the lanes that got their first row since the last call, oldest first."""
        fresh, self._new_lanes = self._new_lanes, []
        lanes = self.lanes
        heads = [rows[0] for rows in map(lanes.get, fresh) if rows]
        heads.sort(key=_row_id)
        return heads

    def rows(self) -> list[OutboxRow]:
        """Every pending row, oldest first."""
        out = [row for rows in self.lanes.values() for row in rows]
        out.sort(key=_row_id)
        return out

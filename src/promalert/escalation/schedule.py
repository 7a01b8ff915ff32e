"""Who is on call when: the rotation arithmetic of on-call schedules (pure, no clock, no I/O).

Semantics of a :class:`~promalert.config.schedules.ScheduleConfig`:

- **Rotation.** A layer's slot ``k`` (``k >= 0``) belongs to ``members[k % len(members)]``.
  Slot 0 starts at the layer's ``start`` anchor; before the anchor the layer covers nothing.
- **Elapsed-time rotations.** ``hourly`` and ``{every: D}`` where ``D`` is not a whole
  number of days: slot ``k`` starts at ``anchor + k * D`` in absolute time, whatever DST does.
- **Calendar rotations.** ``daily``, ``weekly`` and ``{every: D}`` with ``D`` a whole number
  of days: slot ``k`` starts at the anchor's wall-clock time ``k * days`` later in the
  schedule's zone, so a 09:00 handoff stays at 09:00 across DST and a shift lasts 23 or
  25 hours. A wall time that does not exist (spring-forward gap) moves forward by the gap
  (02:30 becomes 03:30); an ambiguous one (fall back) is its first occurrence.
- **Restrictions.** A layer covers a moment only if it is at or after the anchor and inside
  one of its restrictions; outside, lower layers show through. The rotation keeps running
  while restricted out: restrictions never delay a handoff. A restriction window opens on a
  listed weekday at its local start time and closes at its end time, on the next day when
  it wraps (``22:00-06:00``). Its edges follow the local clock: an edge inside a
  spring-forward gap falls at the end of the gap (the first moment whose local time is past
  it), an ambiguous one at its first occurrence.
- **Overrides** win over every layer for ``[start, end)``, later overrides over earlier
  ones. Their times without an offset are wall times, converted like calendar handoffs.
- **Precedence.** Override, else the last layer covering the moment, else nobody (``None``).
- **Shifts** are maximal stretches with one decision (user, deciding layer, override); a
  handoff (:meth:`Schedule.next_handoff`) is a change of the user alone.
- **Horizon.** :meth:`Schedule.shift_at` and :meth:`Schedule.next_handoff` look at most
  :data:`HORIZON` away: a shift that does not end within it is cut there, and
  ``next_handoff`` returns None.

Every instant taken or returned is timezone-aware; returned ones are in UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from promalert.config.schedules import LayerConfig, ScheduleConfig

HORIZON = timedelta(days=400)
"""How far :meth:`Schedule.shift_at` and :meth:`Schedule.next_handoff` search."""

_ONE_DAY = timedelta(days=1)
_FIXED = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}
_CACHE_LIMIT = 4096

Decision = tuple[str | None, int | None, bool]
"""Who is on call, the index of the deciding layer, whether an override decided."""


@dataclass(frozen=True, slots=True)
class Shift:
    """One stretch of time with one person on call (``user`` None: nobody)."""

    start: datetime
    end: datetime
    user: str | None
    layer: int | None  # index of the layer that decided; None for an override or nobody
    override: bool


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive local time in ``zone`` as UTC: a gap moves it forward by the gap, a fold
    takes the first occurrence."""
    # PEP 495: fold=0 reads a skipped time with the offset before the jump (so it lands
    # the gap's length later) and a repeated time as its first occurrence.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def wall_at_or_after(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant whose local time in ``zone`` is ``wall`` or later, as UTC."""
    late = wall_to_utc(wall, zone)
    if late.astimezone(zone).replace(tzinfo=None) == wall:
        return late
    # ``wall`` is skipped: the jump lies between the reading with the offset after it
    # (fold=1, earlier) and the one with the offset before it; find it to the second.
    early = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before = early.astimezone(zone).utcoffset()
    low, high = int(early.timestamp()), int(late.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == before:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, UTC)


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def _in_zone(moment: datetime, zone: ZoneInfo) -> datetime:
    """A config time as UTC: naive times are wall times in ``zone``."""
    return wall_to_utc(moment, zone) if moment.tzinfo is None else moment.astimezone(UTC)


class _Layer:
    """One layer's rotation and restrictions, answering for single instants."""

    def __init__(self, config: LayerConfig, zone: ZoneInfo) -> None:
        self.zone = zone
        self.members = tuple(config.members)
        self.anchor = _in_zone(config.start, zone)
        # Calendar steps count from the anchor's wall time, even when given with an offset.
        self.wall = self.anchor.astimezone(zone).replace(tzinfo=None)
        rotation = config.rotation
        seconds = _FIXED[rotation] if isinstance(rotation, str) else rotation.every
        calendar = rotation in ("daily", "weekly") or (
            not isinstance(rotation, str) and seconds % 86400 == 0
        )
        self.days = int(seconds // 86400) if calendar else 0
        self.span = timedelta(days=self.days) if calendar else timedelta(seconds=seconds)
        self.restrictions = tuple(config.restrictions)
        self.rotates = len(set(self.members)) > 1
        self._windows: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def slot_start(self, k: int) -> datetime:
        """When slot ``k`` begins."""
        if k == 0:
            return self.anchor
        if self.days:
            return wall_to_utc(self.wall + timedelta(days=k * self.days), self.zone)
        return self.anchor + k * self.span

    def slot_of(self, moment: datetime) -> int:
        """The slot holding ``moment`` (at or after the anchor)."""
        # Exact for elapsed time; off by at most one near a DST change for calendar steps.
        k = max(0, (moment - self.anchor) // self.span)
        while k > 0 and self.slot_start(k) > moment:
            k -= 1
        while self.slot_start(k + 1) <= moment:
            k += 1
        return k

    def windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The restriction windows (UTC, half-open) opening on local date ``day``."""
        found = self._windows.get(day)
        if found is None:
            if len(self._windows) >= _CACHE_LIMIT:
                self._windows.clear()
            found = self._windows[day] = tuple(self._open_on(day))
        return found

    def _open_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        midnight = datetime.combine(day, time())
        for restriction in self.restrictions:
            if not restriction.on_weekday(day.weekday()):
                continue
            window = restriction.window
            end = window.end + (24 * 60 if window.wraps else 0)
            opens = wall_at_or_after(midnight + timedelta(minutes=window.start), self.zone)
            closes = wall_at_or_after(midnight + timedelta(minutes=end), self.zone)
            if opens < closes:
                yield opens, closes

    def covers(self, moment: datetime) -> bool:
        """Whether the layer says anything at ``moment``."""
        if moment < self.anchor:
            return False
        if not self.restrictions:
            return True
        today = moment.astimezone(self.zone).date()
        # A window lasts under 25 hours, so only today's and yesterday's can hold the moment.
        return any(
            opens <= moment < closes
            for day in (today - _ONE_DAY, today)
            for opens, closes in self.windows(day)
        )

    def user_at(self, moment: datetime) -> str | None:
        """Who this layer puts on call at ``moment``, None where it does not cover."""
        if not self.covers(moment):
            return None
        return self.members[self.slot_of(moment) % len(self.members)]

    def boundaries(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every instant strictly inside (start, end) where this layer's answer may change."""
        if start < self.anchor < end:
            yield self.anchor
        if self.rotates:
            k = self.slot_of(max(start, self.anchor)) + 1
            while (at := self.slot_start(k)) < end:
                yield at
                k += 1
        if self.restrictions:
            day = start.astimezone(self.zone).date() - _ONE_DAY
            last = end.astimezone(self.zone).date()
            while day <= last:
                for window in self.windows(day):
                    yield from (edge for edge in window if start < edge < end)
                day += _ONE_DAY


class Schedule:
    """An on-call schedule built from its config: who is on call at any instant."""

    def __init__(self, name: str, config: ScheduleConfig) -> None:
        self.name = name
        self.config = config
        self.timezone = config.zone
        self._layers = tuple(_Layer(layer, self.timezone) for layer in config.layers)
        self._overrides = tuple(
            (_in_zone(o.start, self.timezone), _in_zone(o.end, self.timezone), o.user)
            for o in config.overrides
        )

    def members(self) -> frozenset[str]:
        """Every user the schedule can put on call (layer members and override users)."""
        users = {m for layer in self._layers for m in layer.members}
        return frozenset(users | {user for _, _, user in self._overrides})

    def oncall(self, at: datetime) -> str | None:
        """Who is on call at ``at`` (aware), None when nobody is."""
        return self._decide(_utc(at, "at"))[0]

    def shift_at(self, at: datetime) -> Shift:
        """The maximal shift containing ``at``, cut at :data:`HORIZON` either side."""
        at = _utc(at, "at")
        decision = self._decide(at)
        start = self._change_before(at, _whole) or at - HORIZON
        end = self._change_after(at, _whole) or at + HORIZON
        return Shift(start, end, *decision)

    def shifts(self, start: datetime, end: datetime) -> list[Shift]:
        """Contiguous merged shifts covering ``[start, end)`` (cut at both ends)."""
        start, end = _utc(start, "start"), _utc(end, "end")
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        points = {start}
        for layer in self._layers:
            points.update(layer.boundaries(start, end))
        for begins, ends, _ in self._overrides:
            points.update(edge for edge in (begins, ends) if start < edge < end)
        ordered = sorted(points) if end > start else []
        out: list[Shift] = []
        for i, point in enumerate(ordered):
            stop = ordered[i + 1] if i + 1 < len(ordered) else end
            decision = self._decide(point)
            if out and _whole(out[-1]) == decision:
                out[-1] = replace(out[-1], end=stop)
            else:
                out.append(Shift(point, stop, *decision))
        return out

    def next_handoff(self, after: datetime) -> datetime | None:
        """The first instant after ``after`` where the person on call changes, if within
        :data:`HORIZON`."""
        return self._change_after(_utc(after, "after"), _user)

    def _decide(self, at: datetime) -> Decision:
        for begins, ends, user in reversed(self._overrides):
            if begins <= at < ends:
                return (user, None, True)
        for index in range(len(self._layers) - 1, -1, -1):
            member = self._layers[index].user_at(at)
            if member is not None:
                return (member, index, False)
        return (None, None, False)

    def _change_after(self, at: datetime, key: Callable[[Shift], Hashable]) -> datetime | None:
        """The first shift start after ``at`` whose key differs from the key at ``at``."""
        current = key(Shift(at, at, *self._decide(at)))
        for lo, hi in _search_windows(at, forward=True):
            for shift in self.shifts(lo, hi):
                if key(shift) != current:
                    return shift.start
        return None

    def _change_before(self, at: datetime, key: Callable[[Shift], Hashable]) -> datetime | None:
        """The last shift end at or before ``at`` whose key differs from the key at ``at``."""
        current = key(Shift(at, at, *self._decide(at)))
        for lo, hi in _search_windows(at, forward=False):
            for shift in reversed(self.shifts(lo, hi)):
                if key(shift) != current:
                    return shift.end
        return None


def _whole(shift: Shift) -> Decision:
    return (shift.user, shift.layer, shift.override)


def _user(shift: Shift) -> str | None:
    return shift.user


def _search_windows(at: datetime, *, forward: bool) -> Iterator[tuple[datetime, datetime]]:
    """Consecutive windows moving away from ``at``, growing so near answers come cheap."""
    width, covered = _ONE_DAY, timedelta(0)
    while covered < HORIZON:
        width = min(width, HORIZON - covered)
        if forward:
            yield at + covered, at + covered + width
        else:
            yield at - covered - width, at - covered
        covered += width
        width *= 2


def build_schedules(configs: Mapping[str, ScheduleConfig]) -> dict[str, Schedule]:
    """A :class:`Schedule` for every configured schedule, by name."""
    return {name: Schedule(name, config) for name, config in configs.items()}

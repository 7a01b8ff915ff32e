"""Silences (Alertmanager's ``silence`` package): create, update, expire, list, match.

A silence is pending before ``starts_at``, active until ``ends_at`` and expired after;
an active silence mutes every alert all of its matchers match. Updates follow
Alertmanager's rules: a silence is changed in place only when its matchers are the same
and the change is allowed in its state (an active silence keeps its start and may not
end in the past; a pending one may not start in the past); otherwise the old silence is
expired and a new one, with a new id, replaces it. Every change is written to the store;
expired silences are kept for ``retention`` and then forgotten.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from promalert.clock import Clock
from promalert.config.matchers import LABEL_NAME, Matcher, MatchType, go_quote
from promalert.errors import SilenceError, SilenceNotFound, StoreError
from promalert.rules.gotemplate.goregexp import RegexpError, compile_go
from promalert.store import Store, decode_time, encode_time

log = logging.getLogger(__name__)

RETENTION = 120 * 3600.0
"""How long expired silences are kept (Alertmanager's ``--data.retention`` default)."""


class SilenceState(enum.Enum):
    """Where a silence is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


def silence_state(starts_at: datetime, ends_at: datetime, now: datetime) -> SilenceState:
    """The state of a silence spanning ``starts_at``..``ends_at`` at ``now``."""
    if now < starts_at:
        return SilenceState.PENDING
    if now < ends_at:
        return SilenceState.ACTIVE
    return SilenceState.EXPIRED


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence; ``id`` is empty for a silence not created yet."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    id: str = ""
    updated_at: datetime | None = None

    def state(self, now: datetime) -> SilenceState:
        """The silence's state at ``now``."""
        return silence_state(self.starts_at, self.ends_at, now)

    def mutes(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher matches ``labels`` (the state is not considered)."""
        return all(m.matches(labels.get(m.name, "")) for m in self.matchers)

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "id": self.id,
            "matchers": [
                {"name": m.name, "type": m.type.value, "value": m.value} for m in self.matchers
            ],
            "startsAt": encode_time(self.starts_at),
            "endsAt": encode_time(self.ends_at),
            "updatedAt": encode_time(self.updated_at or self.starts_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        """Inverse of :meth:`to_json`; raise ValueError, KeyError or TypeError if malformed."""
        return cls(
            matchers=tuple(
                Matcher.new(str(m["name"]), MatchType(m["type"]), str(m["value"]))
                for m in data["matchers"]
            ),
            starts_at=decode_time(data["startsAt"]),
            ends_at=decode_time(data["endsAt"]),
            created_by=str(data["createdBy"]),
            comment=str(data["comment"]),
            id=str(data["id"]),
            updated_at=decode_time(data["updatedAt"]),
        )


def check_matchers(matchers: Sequence[Matcher]) -> None:
    """Alertmanager's silence validation of matchers; raise SilenceError saying what is wrong."""
    if not matchers:
        raise SilenceError("silence invalid: at least one matcher required")
    for i, m in enumerate(matchers):
        problem = None
        if not LABEL_NAME.match(m.name):
            problem = f"invalid label name {go_quote(m.name)}"
        elif m.is_regex:
            try:
                compile_go(m.value)
            except RegexpError as exc:
                problem = f"invalid regular expression {go_quote(m.value)}: {exc}"
        if problem:
            raise SilenceError(f"silence invalid: invalid label matcher {i}: {problem}")
    if all(m.matches("") for m in matchers):
        raise SilenceError("silence invalid: at least one matcher must not match the empty string")


def _can_update(old: Silence, new: Silence, now: datetime) -> bool:
    """Alertmanager's ``canUpdate``: may ``old`` be changed in place into ``new``?"""
    if old.matchers != new.matchers:
        return False
    state = old.state(now)
    if state is SilenceState.ACTIVE:
        return new.starts_at == old.starts_at and not new.ends_at < now
    if state is SilenceState.PENDING:
        return not new.starts_at < now
    return False


class Silences:
    """Every silence, kept in memory and written through to the store."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        retention: float = RETENTION,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        """Load the stored silences; ``new_id`` makes ids (tests pass a predictable one)."""
        self._store = store
        self._clock = clock
        self._retention = timedelta(seconds=retention)
        self._new_id = new_id
        self._silences: dict[str, Silence] = {}
        for data in store.load_silences():
            try:
                silence = Silence.from_json(data)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable stored silence %s: %s", data.get("id"), exc)
                continue
            self._silences[silence.id] = silence
        # Bumped on every change, so callers can cache what they derived from silences.
        self.version = 0

    def get(self, silence_id: str) -> Silence:
        """The silence with ``silence_id``; raise SilenceNotFound."""
        found = self._silences.get(silence_id)
        if found is None:
            raise SilenceNotFound("silence not found")
        return found

    def all(self) -> list[Silence]:
        """Every silence, in no particular order."""
        return list(self._silences.values())

    def set(self, silence: Silence) -> str:
        """Create ``silence`` (empty id) or update the one with its id; return the id.

        Raise SilenceNotFound for an unknown id and SilenceError for an invalid silence.
        """
        now = self._clock.now()
        check_matchers(silence.matchers)
        if silence.ends_at < silence.starts_at:
            raise SilenceError("silence invalid: end time must not be before start time")
        if silence.id:
            old = self.get(silence.id)
            if _can_update(old, silence, now):
                self._save(replace(silence, updated_at=now))
                return silence.id
            if old.state(now) is not SilenceState.EXPIRED:
                # Keep the history: the old silence ends now, a new one takes over.
                self._expire(old, now)
        starts_at = max(silence.starts_at, now)
        created = replace(silence, id=self._new_id(), starts_at=starts_at, updated_at=now)
        self._save(created)
        return created.id

    def expire(self, silence_id: str) -> None:
        """End a silence now (an expired one stays as it is); raise SilenceNotFound."""
        silence = self.get(silence_id)
        now = self._clock.now()
        if silence.state(now) is not SilenceState.EXPIRED:
            self._expire(silence, now)

    def _expire(self, silence: Silence, now: datetime) -> None:
        if silence.state(now) is SilenceState.PENDING:
            silence = replace(silence, starts_at=now)
        self._save(replace(silence, ends_at=now, updated_at=now))

    def _save(self, silence: Silence) -> None:
        try:
            self._store.save_silence(silence.id, silence.to_json(), silence.ends_at)
        except StoreError as exc:
            raise SilenceError(f"silence not saved: {exc}") from exc
        self._silences[silence.id] = silence
        self.version += 1

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> list[str]:
        """Ids of the active silences that mute ``labels`` at ``now``, sorted."""
        return sorted(
            s.id
            for s in self._silences.values()
            if s.starts_at <= now < s.ends_at and s.mutes(labels)
        )

    def counts(self, now: datetime) -> dict[SilenceState, int]:
        """How many silences are in each state."""
        out = dict.fromkeys(SilenceState, 0)
        for s in self._silences.values():
            out[s.state(now)] += 1
        return out

    def gc(self) -> int:
        """Forget silences that expired more than the retention ago; return how many."""
        cutoff = self._clock.now() - self._retention
        gone = [i for i, s in self._silences.items() if s.ends_at < cutoff]
        if not gone:
            return 0
        try:
            self._store.delete_silences_ended_before(cutoff)
        except StoreError as exc:
            log.error("could not prune expired silences: %s", exc)
            return 0
        for silence_id in gone:
            del self._silences[silence_id]
        self.version += 1
        return len(gone)

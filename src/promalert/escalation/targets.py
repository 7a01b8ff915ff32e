"""Who an escalation step reaches: targets resolved to integrations at a moment.

A level names schedules, users and receivers. At the moment the level is notified, a
schedule becomes whoever is on call then; a user becomes one integration per contact
kind of the level (``channels``) that they have an address for, in their ``user:<name>``
receiver (:func:`promalert.config.people.user_receiver`); a receiver becomes every one of
its integrations. Whatever cannot be reached is reported, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from promalert.config.escalation import ContactKind, TargetConfig
from promalert.config.people import UserConfig, user_receiver_name
from promalert.escalation.schedule import Schedule
from promalert.notify.base import Notifier

Integration = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One integration an escalation step notifies, and the person behind it (if any)."""

    receiver: str
    integration: int
    channel: str
    user: str | None
    send_resolved: bool


@dataclass(frozen=True, slots=True)
class Resolved:
    """The recipients of a set of targets, and why any target reached nobody."""

    recipients: tuple[Recipient, ...]
    problems: tuple[str, ...]


class Directory:
    """Users, schedules and every integration, to resolve targets with."""

    def __init__(
        self,
        users: Mapping[str, UserConfig],
        schedules: Mapping[str, Schedule],
        notifiers: Mapping[Integration, Notifier],
        *,
        twilio_tokens: Sequence[str] = (),
    ) -> None:
        """``notifiers`` holds receivers' and users' integrations alike; ``twilio_tokens``
        are the auth tokens that sign Twilio's calls back about users' SMS and calls."""
        self.users = dict(users)
        self.twilio_tokens = tuple(twilio_tokens)
        self.schedules = dict(schedules)
        self._by_receiver: dict[str, list[tuple[int, Notifier]]] = {}
        for (receiver, index), notifier in sorted(notifiers.items(), key=lambda kv: kv[0]):
            self._by_receiver.setdefault(receiver, []).append((index, notifier))

    def integrations(self, receiver: str) -> list[tuple[int, Notifier]]:
        """The receiver's (index, notifier) pairs in order."""
        return self._by_receiver.get(receiver, [])

    def user_by_phone(self, phone: str) -> str | None:
        """The user whose ``phone`` is ``phone``."""
        return next((n for n, u in self.users.items() if u.phone == phone), None)

    def resolve(
        self, targets: Iterable[TargetConfig], kinds: Sequence[ContactKind], at: datetime
    ) -> Resolved:
        """The integrations ``targets`` mean at ``at``; users are reached on ``kinds``."""
        recipients: list[Recipient] = []
        problems: list[str] = []
        for target in targets:
            if target.receiver is not None:
                found = self._receiver(target.receiver)
                if not found:
                    problems.append(f"receiver {target.receiver!r} has no integrations")
                recipients += found
                continue
            user = target.user
            if target.schedule is not None:
                schedule = self.schedules.get(target.schedule)
                user = schedule.oncall(at) if schedule is not None else None
                if user is None:
                    problems.append(f"nobody is on call in schedule {target.schedule!r}")
                    continue
            if user is not None:
                found, missing = self.user(user, kinds)
                recipients += found
                problems += missing
        return Resolved(tuple(_unique(recipients)), tuple(problems))

    def user(self, name: str, kinds: Sequence[ContactKind]) -> tuple[list[Recipient], list[str]]:
        """The user's integrations for ``kinds``, and the kinds that cannot reach them."""
        if name not in self.users:
            return [], [f"user {name!r} is not defined"]
        by_channel = {n.channel: (i, n) for i, n in self.integrations(user_receiver_name(name))}
        found: list[Recipient] = []
        missing: list[str] = []
        for kind in kinds:
            if kind not in by_channel:
                missing.append(f"user {name!r} cannot be reached by {kind}")
                continue
            index, notifier = by_channel[kind]
            found.append(
                Recipient(user_receiver_name(name), index, kind, name, notifier.send_resolved)
            )
        return found, missing

    def _receiver(self, name: str) -> list[Recipient]:
        return [
            Recipient(name, index, n.channel, None, n.send_resolved)
            for index, n in self.integrations(name)
        ]


def _unique(recipients: Iterable[Recipient]) -> list[Recipient]:
    """Each integration once (a person in two targets of one level is paged once)."""
    seen: set[Integration] = set()
    out: list[Recipient] = []
    for r in recipients:
        if (r.receiver, r.integration) not in seen:
            seen.add((r.receiver, r.integration))
            out.append(r)
    return out

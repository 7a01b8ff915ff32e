"""Who is on call, exported and announced: the ``promalert_oncall`` gauge and handoffs.

At every handoff of a schedule the gauge moves to the incoming person, and when the
schedule has ``handoff_notifications: true`` that person is told on the schedule's
``handoff_channels``. The last handoff announced is kept in the store, so a restart
announces a handoff once, and only the current one (never a backlog of old ones).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from promalert.clock import Clock
from promalert.config.escalation import ContactKind
from promalert.errors import StoreError
from promalert.escalation.targets import Directory
from promalert.metrics import Metrics
from promalert.notify.payload import entries_payload, format_time
from promalert.store import NewNotification, Store, decode_time, encode_time

log = logging.getLogger(__name__)

_CHECK_EVERY = 60.0


def handoff_payload(
    schedule: str, user: str, start: datetime, end: datetime, receiver: str, external_url: str
) -> dict[str, Any]:
    """A v4 payload telling ``user`` they are on call in ``schedule`` from ``start``."""
    entry = {
        "status": "firing",
        "labels": {
            "alertname": "PromalertOnCallHandoff",
            "schedule": schedule,
            "user": user,
            "severity": "info",
        },
        "annotations": {
            "summary": f"You are now on call for {schedule} until {format_time(end)}",
            "description": (
                f"{user} is on call in schedule {schedule} "
                f"from {format_time(start)} until {format_time(end)}."
            ),
        },
        "startsAt": format_time(start),
        "endsAt": format_time(None),
        "generatorURL": f"{external_url}/api/v1/oncall",
        "fingerprint": "",
    }
    return entries_payload(
        receiver=receiver,
        group_key=f"oncall/{schedule}",
        group_labels={"schedule": schedule},
        entries=[entry],
        external_url=external_url,
    )


class OncallWatcher:
    """Keeps ``promalert_oncall`` current and announces handoffs."""

    def __init__(
        self,
        directory: Directory,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        external_url: str,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.directory = directory
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._external_url = external_url.rstrip("/")
        self._on_outbox = on_outbox
        # Built anew at each (re)load: drop the series of schedules and members now gone.
        metrics.oncall.clear()

    def check(self) -> datetime:
        """Update the gauge, announce due handoffs; return when to check next."""
        now = self._clock.now()
        wake = now + timedelta(seconds=_CHECK_EVERY)
        for name, schedule in self.directory.schedules.items():
            shift = schedule.shift_at(now)
            for member in sorted(schedule.members()):
                self._metrics.oncall.labels(schedule=name, user=member).set(
                    1 if member == shift.user else 0
                )
            # The shift ends at the next change of who (or which layer) is on call.
            wake = min(wake, shift.end)
            if schedule.config.handoff_notifications and shift.user is not None:
                self._announce(name, shift.user, shift.start, shift.end)
        return wake

    def _announce(self, name: str, user: str, start: datetime, end: datetime) -> None:
        key = f"handoff:{name}"
        last = self._store.get_kv(key)
        if last is not None and decode_time(last) >= start:
            return  # this shift was announced already
        schedule = self.directory.schedules[name]
        kinds = cast(list[ContactKind], list(schedule.config.handoff_channels))
        recipients, problems = self.directory.user(user, kinds)
        notifications = [
            NewNotification(
                receiver=r.receiver,
                channel=r.channel,
                integration=r.integration,
                group_key=f"oncall/{name}",
                payload=handoff_payload(name, user, start, end, r.receiver, self._external_url),
                created_at=self._clock.now(),
            )
            for r in recipients
        ]
        for problem in problems:
            log.warning("handoff of schedule %r: %s", name, problem)
        self._store.queue_notifications(notifications)
        self._store.set_kv(key, encode_time(start))
        if notifications:
            self._on_outbox()

    async def run(self) -> None:
        """Check at every handoff (and at least every minute) until cancelled."""
        while True:
            try:
                wake = self.check()
            except StoreError as exc:
                log.error("on-call handoff not recorded, retrying: %s", exc)
                wake = self._clock.now() + timedelta(seconds=5)
            delay = max((wake - self._clock.now()).total_seconds(), 0.01)
            await asyncio.ensure_future(self._clock.sleep(delay))

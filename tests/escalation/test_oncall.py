"""The on-call gauge and handoff notifications, on a fake clock with a real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from promalert.clock import FakeClock
from promalert.config.people import ContactChannelsConfig, UserConfig, user_receiver
from promalert.config.schedules import ScheduleConfig
from promalert.escalation.oncall import OncallWatcher
from promalert.escalation.schedule import build_schedules
from promalert.escalation.targets import Directory
from promalert.metrics import Metrics
from promalert.notify.registry import build_notifiers
from promalert.store import Store

USERS = {"alice": UserConfig(email="alice@example.com"), "bob": UserConfig(email="bob@x.org")}
CONTACTS = ContactChannelsConfig.model_validate(
    {"email": {"smarthost": "127.0.0.1:25", "from": "alerts@example.com"}}
)
SCHEDULE = ScheduleConfig.model_validate(
    {
        "timezone": "Europe/Berlin",
        "handoff_notifications": True,
        "layers": [{"rotation": "daily", "start": "2026-01-05T09:00", "members": ["alice", "bob"]}],
    }
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _watcher(
    store: Store, clock: FakeClock, metrics: Metrics, session: aiohttp.ClientSession
) -> OncallWatcher:
    notifiers = {}
    for name, user in USERS.items():
        receiver = user_receiver(name, user, CONTACTS)
        for i, notifier in enumerate(build_notifiers(receiver, session)):
            notifiers[(receiver.name, i)] = notifier
    directory = Directory(USERS, build_schedules({"primary": SCHEDULE}), notifiers)
    return OncallWatcher(directory, store, clock, metrics, external_url="http://pa.example.com")


async def test_gauge_follows_handoffs_and_each_is_announced_once(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    # 2026-01-05 09:30 Berlin: alice's first day; bob takes over at 09:00 the next day.
    clock = FakeClock(datetime(2026, 1, 5, 8, 30, tzinfo=UTC))
    store, metrics = Store.open(tmp_path / "s.db"), Metrics()
    try:
        watcher = _watcher(store, clock, metrics, session)
        wake = watcher.check()
        assert wake == clock.now() + timedelta(seconds=60)  # checks at least every minute
        get = metrics.registry.get_sample_value
        assert get("promalert_oncall", {"schedule": "primary", "user": "alice"}) == 1
        assert get("promalert_oncall", {"schedule": "primary", "user": "bob"}) == 0
        rows = store.outbox_rows()
        assert [(r.receiver, r.channel) for r in rows] == [("user:alice", "email")]
        assert rows[0].payload["alerts"][0]["labels"]["alertname"] == "PromalertOnCallHandoff"
        watcher.check()
        assert len(store.outbox_rows()) == 1  # the same shift is not announced twice

        clock.advance(24 * 3600)  # 08:30 UTC next day = 09:30 Berlin: bob's shift
        # A restart in between: the last announced handoff is in the store.
        store.close()
        store = Store.open(tmp_path / "s.db")
        watcher = _watcher(store, clock, metrics, session)
        watcher.check()
        watcher.check()
        assert [r.receiver for r in sorted(store.outbox_rows(), key=lambda r: r.id)] == [
            "user:alice",
            "user:bob",
        ]
        assert get("promalert_oncall", {"schedule": "primary", "user": "bob"}) == 1
        assert get("promalert_oncall", {"schedule": "primary", "user": "alice"}) == 0
    finally:
        store.close()


async def test_the_next_check_is_at_the_handoff(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    clock = FakeClock(datetime(2026, 1, 6, 7, 59, 30, tzinfo=UTC))  # 08:59:30 Berlin
    store = Store.open(tmp_path / "s.db")
    try:
        wake = _watcher(store, clock, Metrics(), session).check()
        assert wake == datetime(2026, 1, 6, 8, 0, tzinfo=UTC)
    finally:
        store.close()

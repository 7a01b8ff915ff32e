"""End to end across restarts: ingest → dispatcher → outbox → webhook, rebuilt on one store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from promalert.clock import FakeClock
from promalert.config.receivers import WebhookConfig
from promalert.config.routing import RouteConfig
from promalert.dispatch.group import Dispatcher
from promalert.dispatch.ingest import AlertIngest
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.webhook import WebhookNotifier
from promalert.store import Store

ROUTE = RouteConfig.model_validate(
    {"receiver": "team", "group_by": ["alertname"], "group_interval": "5m", "repeat_interval": "4h"}
)


class Instance:
    """One run of the pipeline on the store at ``path`` (a 'process' of promalert)."""

    def __init__(self, path: Path, clock: FakeClock, hook: Any, session: Any) -> None:
        self.clock = clock
        self.store = Store.open(path)
        metrics = Metrics()
        config = WebhookConfig.model_validate({"url": hook.url()})
        notifiers: dict[tuple[str, int], Notifier] = {
            ("team", 0): WebhookNotifier(config, session, "team", 0)
        }
        self.worker = DeliveryWorker(self.store, notifiers, clock, metrics)
        self.dispatcher = Dispatcher(
            ROUTE,
            notifiers,
            self.store,
            clock,
            metrics,
            external_url="http://promalert",
            on_outbox=self.worker.wake,
        )
        self.ingest = AlertIngest(self.store, self.dispatcher, clock, metrics, 300.0)

    async def step(self, seconds: float) -> None:
        """Let ``seconds`` pass, then flush and deliver whatever is due."""
        self.clock.advance(seconds)
        await self.dispatcher.run_due()
        await self.worker.run_due()

    def stop(self) -> None:
        self.store.close()


def firing(clock: FakeClock) -> Alert:
    return Alert(
        Labels({"alertname": "HighCPU", "instance": "web-1"}),
        annotations=Labels({"summary": "CPU at 97%"}),
        starts_at=clock.now(),
    )


def sent(hook: Any) -> list[str]:
    return [r.json["status"] for r in hook.requests]


async def test_restart_while_firing_sends_no_second_firing_but_the_resolve(
    tmp_path: Path, clock: FakeClock, hook: Any, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "promalert.db"
    alert = firing(clock)
    first = Instance(path, clock, hook, session)
    await first.ingest.put([alert], "rules")
    await first.step(30)
    assert sent(hook) == ["firing"]
    first.stop()

    second = Instance(path, clock, hook, session)
    await second.step(10)  # the restored group flushes at once: the log says nothing is new
    await second.ingest.put([alert], "rules")  # the rule engine keeps sending it
    for _ in range(3):
        await second.step(300)
    assert sent(hook) == ["firing"]
    await second.ingest.put([alert.resolve(clock.now())], "rules")
    await second.step(300)
    assert sent(hook) == ["firing", "resolved"]
    second.stop()

    third = Instance(path, clock, hook, session)
    await third.step(600)
    assert sent(hook) == ["firing", "resolved"]
    third.stop()


async def test_resolve_received_just_before_a_restart_still_goes_out(
    tmp_path: Path, clock: FakeClock, hook: Any, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "promalert.db"
    alert = firing(clock)
    first = Instance(path, clock, hook, session)
    await first.ingest.put([alert], "rules")
    await first.step(30)
    await first.ingest.put([alert.resolve(clock.now())], "rules")
    first.stop()  # before the group's next flush

    second = Instance(path, clock, hook, session)
    await second.step(60)
    assert sent(hook) == ["firing", "resolved"]
    second.stop()


async def test_notification_queued_before_a_crash_is_delivered_once_after_it(
    tmp_path: Path, clock: FakeClock, hook: Any, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "promalert.db"
    first = Instance(path, clock, hook, session)
    await first.ingest.put([firing(clock)], "rules")
    clock.advance(30)
    await first.dispatcher.run_due()  # queued in the outbox; the worker never ran
    first.stop()
    assert hook.requests == []

    second = Instance(path, clock, hook, session)
    await second.step(0)
    await second.step(300)
    assert sent(hook) == ["firing"]
    second.stop()

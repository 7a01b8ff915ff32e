"""Delivery in its own process, end to end: a real store, the real child process and a real
webhook receiver on 127.0.0.1; and the service's inline mode still delivering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from promalert.clock import SystemClock
from promalert.config.loader import load_all
from promalert.config.models import Config
from promalert.metrics import Metrics
from promalert.notify import process
from promalert.notify.process import DeliveryProcess
from promalert.service import Service
from promalert.store import NewNotification, NflogEntry, NflogKey, Store
from promalert.store.outbox import ANNOUNCE_MAX
from support.prometheus import free_port

CHILD_MODULE = "promalert.notify.process"


@dataclass
class Receiver:
    """A webhook endpoint that records each body.

    While ``gate`` is clear, answers wait for it, except to the first ``hold_after`` requests.
    """

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    hold_after: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        if len(self.bodies) > self.hold_after:
            await self.gate.wait()
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    def groups(self) -> list[str]:
        return [str(body["groupKey"]) for body in self.bodies]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on a free port of 127.0.0.1, answering at once (gate open)."""
    hook = Receiver()
    hook.gate.set()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    hook.url = f"http://{host}:{port}/hook"
    yield hook
    hook.gate.set()
    await runner.cleanup()


def write_config(folder: Path, url: str, *, server: dict[str, Any] | None = None) -> Path:
    """A promalert.yml with one webhook receiver ``team`` and the store in ``folder``."""
    config: dict[str, Any] = {
        "storage": {"url": "sqlite:///promalert.db"},
        "route": {"receiver": "team", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [
            {
                "name": "team",
                "webhook_configs": [{"url": url, "retry": {"base_delay": "200ms"}}],
            }
        ],
    }
    if server is not None:
        config["server"] = server
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load(path: Path) -> Config:
    config, _ = load_all(path)
    return config


def queue(store: Store, groups: list[str]) -> list[int]:
    """Pending rows for receiver ``team``'s webhook, one lane per group, due now."""
    now = SystemClock().now()
    queued = []
    for group in groups:
        key = NflogKey(group, "team", "webhook", 0)
        entry = NflogEntry(key, frozenset({"f"}), frozenset(), now, now + timedelta(days=1))
        payload = {"version": "4", "groupKey": group, "status": "firing", "alerts": []}
        queued.append((entry, NewNotification("team", "webhook", 0, group, payload, now, now)))
    return store.write_flushes([], queued)


async def until(check: Callable[[], Any], within: float = 15.0) -> None:
    """Poll ``check()`` every 20 ms until it is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def delivery_children() -> list[int]:
    """Pids of our child processes running the delivery process module."""
    pids: list[int] = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if CHILD_MODULE.encode() in argv:
                    pids.append(int(pid))
    return pids


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def journals(folder: Path) -> list[Path]:
    return list(folder.glob("promalert.db-sent.*"))


def sent_count(metrics: Metrics) -> float:
    labels = {"channel": "webhook", "receiver": "team"}
    return metrics.registry.get_sample_value("promalert_notifications_total", labels) or 0.0


def pending(store: Store) -> int:
    return len(store.outbox_rows(status="pending"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "promalert.db")
    yield s
    s.close()


@contextlib.asynccontextmanager
async def running(store: Store, config: Config, metrics: Metrics) -> AsyncIterator[DeliveryProcess]:
    """A configured DeliveryProcess running until the block ends (then stopped by cancel)."""
    delivery = DeliveryProcess(store, metrics)
    delivery.configure(config)
    task = asyncio.create_task(delivery.run())
    try:
        await asyncio.wait_for(delivery.started(), 20)
        yield delivery
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_rows_are_delivered_once_by_the_process(
    tmp_path: Path, store: Store, receiver: Receiver
) -> None:
    config = load(write_config(tmp_path, receiver.url))
    assert config.storage_path() == store.path
    metrics = Metrics()
    early = [f"early-{i}" for i in range(10)]
    late = [f"late-{i}" for i in range(30)]
    burst = [f"burst-{i}" for i in range(ANNOUNCE_MAX + 1)]
    other = [f"other-{i}" for i in range(3)]
    queue(store, early)  # read by the process when it starts
    async with running(store, config, metrics) as delivery:
        (child,) = delivery_children()
        await until(lambda: len(receiver.bodies) == len(early))
        queue(store, late)  # handed over while committed (the wake after adds nothing)
        delivery.wake()
        await until(lambda: len(receiver.bodies) == len(early) + len(late))
        queue(store, burst)  # too many to hand over: read when the service says so
        delivery.wake()
        # Rows another part of the service writes (incident pages) are read too.
        now = SystemClock().now()
        store.queue_notifications(
            [NewNotification("team", "webhook", 0, g, {"groupKey": g}, now, now) for g in other]
        )
        delivery.wake()
        sent_so_far = len(early) + len(late) + len(burst) + len(other)
        await until(lambda: len(receiver.bodies) == sent_so_far)
        # A handed-over flush nobody wakes for, then, a loop turn later, another write
        # and its wake: that wake is not mistaken for the flush's.
        queue(store, ["quiet"])
        await asyncio.sleep(0)
        store.queue_notifications(
            [NewNotification("team", "webhook", 0, "after", {"groupKey": "after"}, now, now)]
        )
        delivery.wake()
        other += ["quiet", "after"]
        total = len(early) + len(late) + len(burst) + len(other)
        await until(lambda: len(receiver.bodies) == total)
        await until(lambda: sent_count(metrics) == total)
    assert delivery_children() == []  # stopped when its task was cancelled
    assert not alive(child)  # and reaped
    assert sorted(receiver.groups()) == sorted(early + late + burst + other)  # each once
    rows = store.outbox_rows()
    assert len(rows) == total
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}
    assert all(r.sent_at is not None for r in rows)
    assert sent_count(metrics) == total
    get = metrics.registry.get_sample_value
    assert get("promalert_notification_latency_seconds_count", {"channel": "webhook"}) == total
    assert get("promalert_outbox_pending", {}) == 0
    assert journals(tmp_path) == []  # journals applied and removed


async def test_a_killed_process_is_replaced_and_no_row_is_lost(
    tmp_path: Path, store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "_RESTART_DELAY", 0.1)
    config = load(write_config(tmp_path, receiver.url))
    metrics = Metrics()
    in_flight = process._CONCURRENCY  # noqa: SLF001 - the process's lanes in flight
    groups = [f"g-{i}" for i in range(20 + in_flight + 20)]  # 20 left waiting at the kill
    queue(store, groups)
    receiver.hold_after = 20  # then every send hangs until the kill
    receiver.gate.clear()
    async with running(store, config, metrics) as delivery:
        (first,) = delivery_children()
        await until(lambda: len(receiver.bodies) == 20 + in_flight)
        # The 20 answered are marked sent.
        await until(lambda: pending(store) == len(groups) - 20)
        os.kill(first, signal.SIGKILL)
        await until(lambda: delivery_children() not in ([], [first]))
        receiver.gate.set()
        await delivery.started()
        await until(lambda: pending(store) == 0)
        (second,) = delivery_children()
        assert second != first
    assert delivery_children() == []
    got = receiver.groups()
    assert sorted(set(got)) == sorted(groups)  # every row arrived
    # Only the sends in flight when the process died went out twice.
    assert len(got) == len(groups) + in_flight
    assert {g for g in got if got.count(g) > 1} == set(got[20 : 20 + in_flight])
    rows = store.outbox_rows()
    assert {r.status for r in rows} == {"sent"}
    assert sent_count(metrics) == len(groups)


async def test_a_failing_webhook_is_retried_through_the_process(
    tmp_path: Path, store: Store, receiver: Receiver
) -> None:
    config = load(write_config(tmp_path, receiver.url))
    metrics = Metrics()
    receiver.statuses = [500]
    (row_id,) = queue(store, ["flaky"])

    def row() -> Any:
        return next(r for r in store.outbox_rows() if r.id == row_id)

    async with running(store, config, metrics):
        await until(lambda: len(receiver.bodies) == 1)
        receiver.gate.clear()  # hold the retry's answer while looking at the store
        await until(lambda: row().attempts == 1)
        failed = row()
        assert failed.status == "pending" and "500" in failed.last_error
        await until(lambda: len(receiver.bodies) == 2)
        assert row().status == "pending"
        receiver.gate.set()
        await until(lambda: row().status == "sent")
    assert row().attempts == 2
    assert receiver.groups() == ["flaky", "flaky"]
    get = metrics.registry.get_sample_value
    reason = {"channel": "webhook", "receiver": "team", "reason": "http_5xx"}
    assert get("promalert_notifications_failed_total", reason) == 1
    assert get("promalert_notification_retries_total", {"channel": "webhook"}) == 1
    assert sent_count(metrics) == 1


async def test_an_unreadable_row_at_start_is_failed_and_the_rest_delivered(
    tmp_path: Path, store: Store, receiver: Receiver
) -> None:
    config = load(write_config(tmp_path, receiver.url))
    bad, good = queue(store, ["broken", "fine"])
    with sqlite3.connect(store.path) as hand:
        hand.execute("UPDATE outbox SET payload='{oops' WHERE id=?", (bad,))
    hand.close()
    raw = store._conn.execute  # noqa: SLF001 - the broken row cannot be decoded
    status = "SELECT status FROM outbox WHERE id=?"
    async with running(store, config, Metrics()):
        await until(lambda: raw(status, (bad,)).fetchone() == ("failed",))
        await until(lambda: pending(store) == 0)
    assert receiver.groups() == ["fine"]
    (error,) = raw("SELECT last_error FROM outbox WHERE id=?", (bad,)).fetchone()
    assert error.startswith("unreadable row: ")
    assert [r.id for r in store.outbox_rows(status="sent")] == [good]


async def test_inline_delivery_still_works(tmp_path: Path, receiver: Receiver) -> None:
    port = free_port()
    server = {"listen": f"127.0.0.1:{port}", "delivery_process": False}
    service = Service(write_config(tmp_path, receiver.url, server=server))
    await service.start()
    try:
        assert delivery_children() == []
        alert = [{"labels": {"alertname": "InlineCheck", "job": "x"}}]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/api/v2/alerts"
            async with session.post(url, json=alert) as response:
                assert response.status == 200, await response.text()
        await until(lambda: len(receiver.bodies) == 1)
        await until(lambda: sent_count(service.metrics) == 1)
        assert delivery_children() == []
    finally:
        await service.stop()
    (body,) = receiver.bodies
    assert [a["labels"]["alertname"] for a in body["alerts"]] == ["InlineCheck"]

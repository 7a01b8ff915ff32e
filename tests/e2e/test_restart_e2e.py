"""Acceptance 4: restarting ``promalert run`` keeps firing alerts, resolves and ``for`` timers.

A real Prometheus scrapes a test exporter every second; the real ``promalert run``
console script evaluates two rules every second and notifies a local webhook. While one
alert fires and another is pending (``for: 8s``), the process is stopped (SIGTERM, or
SIGKILL for a crash), kept down about 3 s and started again. Then: the firing alert is
not notified a second time, the pending alert fires at its original ``activeAt + for``
(its ``startsAt`` is from before the restart), and both resolves still go out.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from e2e.conftest import PromalertProcess, eventually, get_json, scrape, write_promalert
from e2e.hooks import serve_hooks
from support.exporter import Exporter, serve_exporter
from support.prometheus import RunningPrometheus, running_prometheus

pytestmark = [pytest.mark.prometheus, pytest.mark.asyncio(loop_scope="module")]

FOR = 8.0
"""The pending rule's ``for``: long enough that a reset timer shows."""

DOWNTIME = 3.0
"""How long promalert stays stopped."""

WITHIN = 10.0


@dataclass
class Stack:
    """The module's exporter and the Prometheus scraping it."""

    exporter: Exporter
    prometheus: RunningPrometheus


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One exporter and one Prometheus scraping it every second, shared by the module."""
    folder = tmp_path_factory.mktemp("restart_e2e")
    async with serve_exporter() as exporter:
        exporter.set("e2e_restart_up", None, 1.0)
        async with running_prometheus(folder, scrape_targets=[exporter.target]) as prom:
            await prom.wait_for("e2e_restart_up")
            yield Stack(exporter, prom)


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
async def test_restart_keeps_firing_alert_resolve_and_pending_timer(
    stack: Stack, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    exporter, prom = stack.exporter, stack.prometheus
    case = {"case": stop_signal.name.lower()}
    selector = f'{{case="{case["case"]}"}}'
    exporter.set("e2e_restart_fire", case, 97.0)
    exporter.set("e2e_restart_pend", case, 10.0)
    await prom.wait_for(f"e2e_restart_fire{selector} and e2e_restart_pend{selector}")
    loop = asyncio.get_running_loop()
    wall_offset = time.time() - loop.time()  # turns the sink's loop times into Unix times

    async with serve_hooks() as hooks:
        config = write_promalert(
            tmp_path,
            hook_url=hooks.url,
            datasource=prom.url,
            rules=[
                {"alert": "E2ERestartFiring", "expr": f"e2e_restart_fire{selector} > 90"},
                {
                    "alert": "E2ERestartPending",
                    "expr": f"e2e_restart_pend{selector} > 90",
                    "for": f"{FOR:g}s",
                },
            ],
        )
        first = PromalertProcess(config)
        await first.start()
        try:
            await hooks.wait_for(lambda: bool(hooks.alerts("firing", "E2ERestartFiring")), WITHIN)
            exporter.set("e2e_restart_pend", case, 97.0)
            pending = await eventually(lambda: _pending_alert(first.url), within=WITHIN, every=0.1)
            active_at = _parse_time(pending["active_at"])
            # Steady state before the stop: the firing notification is marked delivered.
            await eventually(lambda: _outbox_empty(first.url), within=WITHIN)
            status = await first.stop(stop_signal)
        finally:
            await first.kill()
        if stop_signal is signal.SIGTERM:
            assert status == 0, first.logs()

        await asyncio.sleep(DOWNTIME)  # the outage itself, not a wait for a condition
        second = PromalertProcess(config)
        restarted = loop.time()
        await second.start()
        try:
            await hooks.wait_for(
                lambda: bool(hooks.alerts("firing", "E2ERestartPending")), FOR + WITHIN
            )
            fired_at = hooks.first_at("firing", "E2ERestartPending")
            assert fired_at is not None
            fired = hooks.alerts("firing", "E2ERestartPending")[0]
            # The timer was not reset: the alert started before the restart and fired
            # sooner than a timer started by the new process ever could.
            assert _parse_time(fired["startsAt"]) == pytest.approx(active_at, abs=1e-3)
            assert _parse_time(fired["startsAt"]) < wall_offset + restarted
            assert fired_at < restarted + FOR
            assert fired_at + wall_offset - active_at < FOR + 3.0

            exporter.set("e2e_restart_fire", case, 10.0)
            exporter.set("e2e_restart_pend", case, 10.0)
            await hooks.wait_for(
                lambda: (
                    bool(hooks.alerts("resolved", "E2ERestartFiring"))
                    and bool(hooks.alerts("resolved", "E2ERestartPending"))
                ),
                WITHIN,
            )
            # The delivery process reports the gauge a moment after the webhook call.
            await eventually(lambda: _outbox_empty(second.url), within=WITHIN)
        finally:
            status = await second.stop()
        assert status == 0, second.logs()

    for name in ("E2ERestartFiring", "E2ERestartPending"):
        assert len(hooks.alerts("firing", name)) == 1, (name, hooks.payloads)
        assert len(hooks.alerts("resolved", name)) == 1, (name, hooks.payloads)
    resolved = hooks.alerts("resolved", "E2ERestartFiring")[0]
    assert resolved["startsAt"] == hooks.alerts("firing", "E2ERestartFiring")[0]["startsAt"]


async def _pending_alert(url: str) -> dict[str, Any] | None:
    """The pending alert of rule E2ERestartPending, once there is one."""
    rules = await get_json(f"{url}/api/v1/rules")
    rule = next(r for r in rules if r["name"] == "E2ERestartPending")
    return rule["alerts"][0] if rule["state"] == "pending" else None


async def _outbox_empty(url: str) -> bool | None:
    samples = await scrape(url)
    delivered = samples.total("promalert_notifications_total")
    return True if samples.get("promalert_outbox_pending") == 0 and delivered >= 1 else None

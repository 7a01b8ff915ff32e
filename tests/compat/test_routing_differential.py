"""Differential test: one routing config (nested routes, continue, regex and negative
matchers, inhibition, silences, grouping, send_resolved) loaded by a real Alertmanager
0.25 and by promalert; the same scripted alerts posted to both; the notifications each
delivers to a webhook must be the same set of (receiver, group labels, alert
fingerprints and statuses).

Every scenario labels its alerts ``scenario=<name>`` and every route groups by it, so
all scenarios run at once without touching each other's groups. Groups flush 1 s after
they are created and then every 3 s; scripted events keep half a second away from those
ticks so that neither server's scheduling jitter can change what a flush contains.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from amcompat import ALERTMANAGER, Hooks, post_json, run_alertmanager, run_promalert, serve_hooks

pytestmark = pytest.mark.skipif(ALERTMANAGER is None, reason="needs Alertmanager 0.25")

RECEIVERS = ["default", "db", "db-pager", "web", "web-staging", "billing", "ops", "geo", "cache"]
SIDES = ("am", "pa")


def config(hook_url: str, side: str) -> dict[str, Any]:
    """The shared routing config; only the webhook path differs between the two sides."""

    def receiver(name: str) -> dict[str, Any]:
        hook = {"url": f"{hook_url}/{side}/{name}", "send_resolved": name != "ops"}
        return {"name": name, "webhook_configs": [hook]}

    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "default",
            "group_by": ["scenario", "alertname"],
            "group_wait": "1s",
            "group_interval": "3s",
            "repeat_interval": "1h",
            "routes": [
                {
                    "matchers": ['team="db"'],
                    "receiver": "db",
                    "group_by": ["scenario", "alertname", "instance"],
                    "continue": True,
                    "routes": [{"matchers": ['severity=~"critical|page"'], "receiver": "db-pager"}],
                },
                {
                    "matchers": ['team=~"web|api"', 'env!="dev"'],
                    "receiver": "web",
                    "routes": [
                        {
                            "match": {"env": "staging"},
                            "receiver": "web-staging",
                            "group_by": ["..."],
                        }
                    ],
                },
                {"match_re": {"service": "(pay|bill).*"}, "receiver": "billing"},
                {"matchers": ['team="ops"'], "receiver": "ops"},
                {"matchers": ['owner=~"Zürich.*|Genève"'], "receiver": "geo"},
                {"matchers": ['team="cache"', 'tier!~"front.*"'], "receiver": "cache"},
            ],
        },
        "receivers": [receiver(n) for n in RECEIVERS],
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["scenario", "instance"],
            },
            {
                "source_match": {"alertname": "NodeDown"},
                "target_match_re": {"alertname": "Disk.*|Cpu.*"},
                "equal": ["scenario", "node"],
            },
        ],
    }


@dataclass
class Script:
    """What a scenario can do to both servers at once."""

    urls: dict[str, str]
    name: str
    start: float

    async def until(self, seconds: float) -> None:
        """Sleep until ``seconds`` after the scenario started."""
        delay = self.start + seconds - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def fire(self, *alerts: dict[str, str], ends_in: float | None = None) -> None:
        """Post alerts (labels) to both; ``ends_in`` sets endsAt that far from now."""
        body = []
        for labels in alerts:
            item: dict[str, Any] = {"labels": {"scenario": self.name, **labels}}
            if ends_in is not None:
                item["endsAt"] = iso(datetime.now(UTC) + timedelta(seconds=ends_in))
            body.append(item)
        results = await asyncio.gather(
            *(post_json(u, "/api/v2/alerts", body) for u in self.urls.values())
        )
        assert all(code == 200 for code, _ in results), results

    async def resolve(self, *alerts: dict[str, str]) -> None:
        """Post the alerts as resolved now."""
        await self.fire(*alerts, ends_in=0)

    async def silence(self, *matchers: tuple[str, str, bool], hours: float = 1) -> dict[str, str]:
        """Create the same silence on both; return its id per side."""
        now = datetime.now(UTC)
        body = {
            "matchers": [
                {"name": "scenario", "value": self.name, "isRegex": False},
                *({"name": n, "value": v, "isRegex": r} for n, v, r in matchers),
            ],
            "startsAt": iso(now),
            "endsAt": iso(now + timedelta(hours=hours)),
            "createdBy": "test",
            "comment": self.name,
        }
        ids = {}
        for side, url in self.urls.items():
            code, answer = await post_json(url, "/api/v2/silences", body)
            assert code == 200, answer
            ids[side] = answer["silenceID"]
        return ids

    async def expire(self, ids: dict[str, str]) -> None:
        """Expire a silence made by :meth:`silence` on both."""
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for side, url in self.urls.items():
                async with session.delete(f"{url}/api/v2/silence/{ids[side]}") as resp:
                    assert resp.status == 200


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Scenario = Callable[[Script], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


A = {"alertname": "A"}


@scenario
async def single_alert_fires_and_resolves(s: Script) -> None:
    await s.fire(A)
    await s.until(2.5)
    await s.resolve(A)


@scenario
async def two_alerts_one_group_one_resolves(s: Script) -> None:
    await s.fire({**A, "instance": "1"}, {**A, "instance": "2"})
    await s.until(2.5)
    await s.resolve({**A, "instance": "1"})


@scenario
async def nested_route_takes_critical_db_alerts(s: Script) -> None:
    await s.fire({**A, "team": "db", "severity": "critical", "instance": "db1"})
    await s.fire({**A, "team": "db", "severity": "warning", "instance": "db2"})


@scenario
async def continue_reaches_a_later_sibling(s: Script) -> None:
    await s.fire({**A, "team": "db", "service": "payments", "instance": "p1"})


@scenario
async def regex_and_negative_matchers(s: Script) -> None:
    await s.fire(
        {**A, "team": "web", "env": "prod"}, {"alertname": "B", "team": "api", "env": "dev"}
    )


@scenario
async def group_by_everything_on_staging(s: Script) -> None:
    await s.fire(
        {**A, "team": "api", "env": "staging", "instance": "1"},
        {**A, "team": "api", "env": "staging", "instance": "2"},
    )
    await s.until(2.5)
    await s.resolve({**A, "team": "api", "env": "staging", "instance": "2"})


@scenario
async def inhibition_lifts_when_the_source_resolves(s: Script) -> None:
    outage = {"alertname": "Outage", "severity": "critical", "instance": "x"}
    await s.fire(outage, {"alertname": "Degraded", "severity": "warning", "instance": "x"})
    await s.until(2.5)
    await s.resolve(outage)


@scenario
async def inhibition_needs_equal_labels(s: Script) -> None:
    await s.fire(
        {"alertname": "Outage", "severity": "critical", "instance": "x"},
        {"alertname": "Degraded", "severity": "warning", "instance": "y"},
    )


@scenario
async def node_down_inhibits_disk_and_cpu_alerts_of_its_node(s: Script) -> None:
    await s.fire(
        {"alertname": "NodeDown", "node": "n1"},
        {"alertname": "DiskFull", "node": "n1"},
        {"alertname": "CpuHigh", "node": "n2"},
    )


@scenario
async def silence_mutes_one_alert(s: Script) -> None:
    await s.silence(("alertname", "Foo", False))
    await s.fire({"alertname": "Foo"}, {"alertname": "Bar"})


@scenario
async def regex_silence(s: Script) -> None:
    await s.silence(("instance", "web-.*", True))
    await s.fire({**A, "instance": "web-1"}, {**A, "instance": "db-1"})


@scenario
async def expired_silence_lets_the_alert_through(s: Script) -> None:
    ids = await s.silence(("alertname", "A", False))
    await s.fire(A)
    await s.until(2.5)
    await s.expire(ids)


@scenario
async def silenced_resolve_is_not_sent(s: Script) -> None:
    await s.fire(A)
    await s.until(2.5)
    await s.silence(("alertname", "A", False))
    await s.resolve(A)


@scenario
async def fires_and_resolves_before_the_first_flush(s: Script) -> None:
    await s.fire(A)
    await s.until(0.3)
    await s.resolve(A)


@scenario
async def late_alert_joins_at_the_next_interval(s: Script) -> None:
    await s.fire({**A, "instance": "1"})
    await s.until(2.5)
    await s.fire({**A, "instance": "2"})


@scenario
async def send_resolved_false_receiver(s: Script) -> None:
    await s.fire({**A, "team": "ops"})
    await s.until(2.5)
    await s.resolve({**A, "team": "ops"})


@scenario
async def continue_chain_to_pager_and_billing(s: Script) -> None:
    await s.fire({**A, "team": "db", "severity": "page", "service": "billing", "instance": "b1"})
    await s.until(2.5)
    await s.resolve({**A, "team": "db", "severity": "page", "service": "billing", "instance": "b1"})


@scenario
async def utf8_matcher_values(s: Script) -> None:
    await s.fire(
        {**A, "owner": "Zürich-Ost"},
        {"alertname": "B", "owner": "Genève"},
        {"alertname": "C", "owner": "Bern"},
    )


@scenario
async def alert_fires_again_after_resolving(s: Script) -> None:
    await s.fire(A)
    await s.until(2.5)
    await s.resolve(A)
    await s.until(5.5)
    await s.fire(A)


@scenario
async def explicit_end_in_the_future_times_out(s: Script) -> None:
    await s.fire(A, ends_in=2.5)


@scenario
async def negative_regex_matcher_route(s: Script) -> None:
    await s.fire(
        {**A, "team": "cache", "tier": "backend"},
        {"alertname": "B", "team": "cache", "tier": "frontend"},
    )


@scenario
async def duplicate_posts_notify_once(s: Script) -> None:
    await s.fire(A)
    await s.fire(A)
    await s.until(2.5)
    await s.fire(A)


@scenario
async def new_alert_in_a_notified_group_with_a_resolved_one(s: Script) -> None:
    await s.fire({**A, "instance": "1"}, {**A, "instance": "2"})
    await s.until(2.5)
    await s.resolve({**A, "instance": "1"})
    await s.fire({**A, "instance": "3"})


@scenario
async def inhibited_alert_is_not_resolved_to_anyone(s: Script) -> None:
    outage = {"alertname": "Outage", "severity": "critical", "instance": "z"}
    degraded = {"alertname": "Degraded", "severity": "warning", "instance": "z"}
    await s.fire(outage, degraded)
    await s.until(2.5)
    await s.resolve(degraded)


def notifications(payloads: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    """Each notification as (scenario, receiver, group key and labels, {(fingerprint, status)})."""
    return Counter(
        (
            p["groupLabels"].get("scenario") or p["commonLabels"].get("scenario"),
            p["receiver"],
            p["groupKey"],
            tuple(sorted(p["groupLabels"].items())),
            tuple(sorted((a["fingerprint"], a["status"]) for a in p["alerts"])),
        )
        for p in payloads
    )


async def test_same_notifications_as_alertmanager(tmp_path: Path) -> None:
    assert len(SCENARIOS) >= 20
    async with serve_hooks() as hooks:
        hooks_: Hooks = hooks
        async with (
            run_alertmanager(tmp_path / "am", config(hooks.url, "am")) as am_url,
            run_promalert(tmp_path / "pa", config(hooks.url, "pa")) as pa_url,
        ):
            urls = {"am": am_url, "pa": pa_url}
            start = asyncio.get_running_loop().time() + 0.2
            await asyncio.gather(*(fn(Script(urls, name, start)) for name, fn in SCENARIOS.items()))
            await Script(urls, "", start).until(9.0)  # the last events' ticks (7 s) and margin
        got, want = notifications(hooks_.at("pa")), notifications(hooks_.at("am"))
    by_scenario: dict[str, list[str]] = {}
    for note in (got - want) + (want - got):
        side = "promalert only" if note in got - want else "Alertmanager only"
        by_scenario.setdefault(str(note[0]), []).append(f"{side}: {note[1:]}")
    assert not by_scenario, by_scenario
    seen = {str(n[0]) for n in want}
    # The scenarios are not vacuous: almost all of them deliver something.
    assert len(seen) >= 18, sorted(set(SCENARIOS) - seen)

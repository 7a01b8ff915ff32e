"""The real ``amtool`` against a real Alertmanager 0.25 and against promalert: the same
commands give the same results once ids, timestamps and ordering are normalised."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from amcompat import ALERTMANAGER, AMTOOL, amtool, run_alertmanager, run_promalert

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None or AMTOOL is None,
    reason="needs Alertmanager 0.25 and amtool (apt-get install prometheus-alertmanager)",
)

CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "route": {
        "receiver": "default",
        "group_by": ["alertname"],
        "routes": [{"matchers": ['team="db"'], "receiver": "db"}],
    },
    "receivers": [{"name": "default"}, {"name": "db"}],
    "inhibit_rules": [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["instance"],
        }
    ],
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC|Z|[+-]\d\d:\d\d)?")
_FINGERPRINT_SORT = ("fingerprint", "id")


def text(output: str) -> list[str]:
    """Table output without ids, times, column padding or row order."""
    lines = [
        re.sub(r"\s+", " ", _TIME.sub("<t>", _UUID.sub("<id>", line))).strip()
        for line in output.splitlines()
    ]
    return sorted(line for line in lines if line)


def structured(output: str) -> Any:
    """JSON output without ids, times and the fields only a server's clock decides."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items()) if k not in ("updatedAt",)}
        if isinstance(value, list):
            items = [clean(v) for v in value]
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        if isinstance(value, str):
            return _TIME.sub("<t>", _UUID.sub("<id>", value))
        return value

    return clean(json.loads(output))


async def session(url: str, tmp_path: Path) -> list[tuple[str, Any]]:
    """One amtool session; returns (step, normalised output) pairs."""
    results: list[tuple[str, Any]] = []
    end = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def run(step: str, *args: str, json_out: bool = False) -> str:
        code, out, err = await amtool(url, *args)
        assert "version" not in err, err  # no version-mismatch warning against promalert
        shown = structured(out) if json_out else text(out)
        results.append((step, (code, shown, text(err) if code else [])))
        return out

    await run(
        "add-1",
        "alert",
        "add",
        "alertname=DiskFull",
        "severity=critical",
        "instance=db1",
        "team=db",
        "--annotation=summary=Disk is full",
    )
    await run(
        "add-2", "alert", "add", "CpuHigh", "severity=warning", "instance=db1", f"--end={end}"
    )
    await run(
        "add-3",
        "alert",
        "add",
        "alertname=CpuHigh",
        "severity=warning",
        "instance=web1",
        "--annotation=summary=Busy",
        "--generator-url=http://prom/graph",
    )
    await run("query", "alert", "query")
    await run(
        "query-all", "alert", "query", "--active", "--inhibited", "--silenced", "-o", "extended"
    )
    await run(
        "query-filter", "alert", "query", "-i", 'severity=~"warn.*"', "-o", "json", json_out=True
    )
    await run("query-receiver", "alert", "query", "-r", "db", "-o", "json", json_out=True)
    sid = (
        await run(
            "silence-add",
            "silence",
            "add",
            "instance=web1",
            "alertname=~Cpu.*",
            "-c",
            "maintenance",
            "-a",
            "alice",
            "-d",
            "1h",
        )
    ).strip()
    await run(
        "silence-add-2",
        "silence",
        "add",
        "team=db",
        "-c",
        "later",
        "-a",
        "bob",
        "--start",
        (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--end",
        (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    await run("silence-query", "silence", "query")
    await run("silence-query-json", "silence", "query", "-o", "json", json_out=True)
    await run("query-silenced", "alert", "query", "--silenced", "-o", "json", json_out=True)
    await run("query-active-only", "alert", "query", "--active")
    await run("silence-expire", "silence", "expire", sid)
    await run("silence-expire-again", "silence", "expire", sid)
    await run("silence-expired", "silence", "query", "--expired")
    exported = await run("silence-export", "silence", "query", "-o", "json", json_out=True)
    export = tmp_path / f"export-{abs(hash(url))}.json"
    export.write_text(exported)
    await run("silence-import", "silence", "import", str(export))
    await run("silence-after-import", "silence", "query", "-q")
    await run("silence-after-import-json", "silence", "query", "-o", "json", json_out=True)
    await run("bad-silence", "silence", "add", "foo=", "-c", "x")
    await run("bad-alert", "alert", "add", "0bad=x")
    await run("config-routes", "config", "routes", "test", "team=db")
    return results


async def test_amtool_sees_the_same_on_both(tmp_path: Path) -> None:
    async with run_alertmanager(tmp_path / "am", CONFIG) as am_url:
        reference = await session(am_url, tmp_path)
    async with run_promalert(tmp_path / "pa", CONFIG) as pa_url:
        ours = await session(pa_url, tmp_path)
    assert [step for step, _ in ours] == [step for step, _ in reference]
    for (step, got), (_, want) in zip(ours, reference, strict=True):
        assert got == want, f"step {step}: promalert {got} != Alertmanager {want}"

"""``promalert demo`` brings up Prometheus, the workload and the rules, and alerts fire."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.prometheus


@pytest.mark.timeout(150)
def test_demo_fires_alerts_and_stops_by_itself(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    folder = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "promalert", "demo", "--duration", "60", "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[FIRING:1] DemoHighCPU" in done.stdout
    payloads = [json.loads(line) for line in (folder / "inbox.jsonl").read_text().splitlines()]
    fired = {a["labels"]["alertname"] for p in payloads for a in p["alerts"]}
    assert {"DemoHighCPU", "DemoQueueBacklog"} <= fired
    cpu = next(
        a for p in payloads for a in p["alerts"] if a["labels"]["alertname"] == "DemoHighCPU"
    )
    assert cpu["labels"]["instance"] == "web-1"
    assert cpu["annotations"]["summary"].startswith("CPU on web-1 at 9")
    # The high-severity queue alert opened an incident that escalated past level 1.
    levels = {p["incident"]["level"] for p in payloads if "incident" in p}
    assert {1, 2} <= levels, levels
    assert "level 2 (team-lead)" in done.stdout

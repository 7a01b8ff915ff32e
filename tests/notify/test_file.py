"""The file/console notifier: JSON lines in a file, one readable line on the console."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from promalert.config.receivers import FileConfig
from promalert.errors import NotifyError
from promalert.notify.base import Message
from promalert.notify.file import FileNotifier, summary_line


def payload(status: str = "firing", n: int = 1) -> dict[str, Any]:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": "HighCPU", "instance": f"web-{i}"},
            "annotations": {"summary": "CPU at 97%"},
        }
        for i in range(n)
    ]
    common = {"alertname": "HighCPU"} if n > 1 else dict(alerts[0]["labels"])
    return {
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": common,
        "commonAnnotations": {"summary": "CPU at 97%"},
    }


async def test_appends_json_lines_creating_the_folder(tmp_path: Path) -> None:
    n = FileNotifier(FileConfig(path="inbox/alerts.jsonl"), "team", 0, base_dir=tmp_path)
    await n.notify(Message("team", "{}:{}", payload()))
    await n.notify(Message("team", "{}:{}", payload("resolved")))
    lines = (tmp_path / "inbox" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["firing", "resolved"]
    assert json.loads(lines[0]) == payload()


async def test_console_line(tmp_path: Path) -> None:
    out = io.StringIO()
    n = FileNotifier(FileConfig(console=True), "team", 0, stream=out)
    await n.notify(Message("team", "{}:{}", payload()))
    assert out.getvalue() == "[FIRING:1] HighCPU instance=web-0 — CPU at 97%\n"


def test_summary_lines() -> None:
    assert summary_line(payload("resolved")) == "[RESOLVED] HighCPU instance=web-0 — CPU at 97%"
    assert summary_line(payload(n=3)) == "[FIRING:3] HighCPU — CPU at 97% (3 alerts)"
    bare = {"status": "firing", "alerts": [{"status": "firing"}]}
    assert summary_line(bare) == "[FIRING:1]"


async def test_unwritable_path_is_a_retryable_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    n = FileNotifier(FileConfig(path=str(blocker / "x.jsonl")), "team", 2)
    with pytest.raises(NotifyError) as info:
        await n.notify(Message("team", "{}:{}", payload()))
    assert (info.value.retryable, info.value.reason) == (True, "other")
    assert str(info.value).startswith("file[2] of receiver 'team': cannot write to ")

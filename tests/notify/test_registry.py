"""Building notifiers from a receiver config."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from promalert.config.receivers import ReceiverConfig
from promalert.notify.file import FileNotifier
from promalert.notify.registry import build_notifiers
from promalert.notify.webhook import WebhookNotifier


async def test_webhooks_then_files_in_config_order(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    receiver = ReceiverConfig.model_validate(
        {
            "name": "team",
            "webhook_configs": [
                {"url": "http://127.0.0.1:1/a", "send_resolved": False},
                {"url": "http://127.0.0.1:1/b"},
            ],
            "file_configs": [{"path": "inbox.jsonl"}],
        }
    )
    notifiers = build_notifiers(receiver, session, base_dir=tmp_path)
    assert [type(n) for n in notifiers] == [WebhookNotifier, WebhookNotifier, FileNotifier]
    assert [n.channel for n in notifiers] == ["webhook", "webhook", "file"]
    assert [n.send_resolved for n in notifiers] == [False, True, True]
    webhook, file = notifiers[1], notifiers[2]
    assert isinstance(webhook, WebhookNotifier) and isinstance(file, FileNotifier)
    assert webhook.name == "webhook[1] of receiver 'team'"
    assert file.name == "file[0] of receiver 'team'"
    assert file.path == tmp_path / "inbox.jsonl"
    assert build_notifiers(ReceiverConfig(name="null"), session) == []

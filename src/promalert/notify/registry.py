"""Builds a receiver's notifiers from its config: one per channel config, in a fixed order."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from promalert.config.receivers import ReceiverConfig
from promalert.notify.base import Notifier
from promalert.notify.file import FileNotifier
from promalert.notify.webhook import WebhookNotifier


def build_notifiers(
    receiver: ReceiverConfig, session: aiohttp.ClientSession, *, base_dir: Path | None = None
) -> list[Notifier]:
    """The receiver's notifiers: webhook configs first, then file configs.

    A notifier's position in this list is its integration index (the key of its
    notification-log entries and outbox rows), so the order must stay stable; new
    channels are appended after the existing ones. ``base_dir`` resolves relative paths.
    """
    notifiers: list[Notifier] = []
    for i, webhook in enumerate(receiver.webhook_configs):
        notifiers.append(WebhookNotifier(webhook, session, receiver.name, i))
    for i, file in enumerate(receiver.file_configs):
        notifiers.append(FileNotifier(file, receiver.name, i, base_dir=base_dir))
    return notifiers

"""``promalert notify test RECEIVER``: one test message through every channel of a receiver.

The message goes straight to each integration (not through the outbox, no retries),
so what is printed is exactly what the provider answered:

    slack[0] of receiver 'team': ok
    sms[0] of receiver 'team': FAILED (auth): sms[0] of receiver 'team': HTTP 401: ...
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from promalert.clock import Clock, SystemClock
from promalert.config.loader import load_config
from promalert.config.models import Config
from promalert.errors import ConfigError, NotifyError
from promalert.model import Alert, Labels
from promalert.notify.base import Message, integration_name
from promalert.notify.payload import build_payload
from promalert.notify.registry import build_notifiers
from promalert.notify.templates import Templates, user_template_files

TEST_GROUP_KEY = '{}:{alertname="PromalertTest"}'


def trial_payload(receiver: str, external_url: str, now: datetime) -> dict[str, Any]:
    """A v4 payload with one firing test alert."""
    alert = Alert(
        Labels({"alertname": "PromalertTest", "severity": "info", "receiver": receiver}),
        annotations=Labels(
            {"summary": "Test notification from promalert", "description": "Nothing is wrong."}
        ),
        starts_at=now,
    )
    return build_payload(
        receiver=receiver,
        group_key=TEST_GROUP_KEY,
        group_labels={"alertname": "PromalertTest"},
        alerts=[alert],
        external_url=external_url,
        now=now,
    )


async def send_test(
    config: Config, receiver_name: str, out: TextIO, *, clock: Clock | None = None
) -> int:
    """Send the test message through each integration; print results; 0 when all worked."""
    names = [r.name for r in config.receivers]
    if receiver_name not in names:
        print(f"error: no receiver {receiver_name!r} (receivers: {', '.join(names)})", file=out)
        return 2
    receiver = config.receiver(receiver_name)
    clock = clock or SystemClock()
    fallbacks: list[str] = []
    base_dir = Path(config.base_dir)
    templates = Templates(
        user_template_files(config.templates, base_dir), on_fallback=fallbacks.append
    )
    failed = 0
    async with aiohttp.ClientSession() as session:
        notifiers = build_notifiers(
            receiver,
            session,
            base_dir=base_dir,
            templates=templates,
            clock=clock,
            external_url=config.global_.external_url,
        )
        if not notifiers:
            print(f"receiver {receiver_name!r} has no integrations: nothing to send", file=out)
            return 0
        payload = trial_payload(receiver_name, config.global_.external_url, clock.now())
        counts: dict[str, int] = {}
        for notifier in notifiers:
            index = counts.get(notifier.channel, 0)
            counts[notifier.channel] = index + 1
            name = integration_name(notifier.channel, receiver_name, index)
            fallbacks.clear()
            try:
                await notifier.notify(Message(receiver_name, TEST_GROUP_KEY, payload))
            except NotifyError as exc:
                failed += 1
                print(f"{name}: FAILED ({exc.reason}): {exc}", file=out)
                continue
            except Exception as exc:  # report a notifier bug without its (maybe secret) text
                failed += 1
                print(f"{name}: FAILED (other): {type(exc).__name__}", file=out)
                continue
            note = " (template failed: sent as plain text, see the log)" if fallbacks else ""
            print(f"{name}: ok{note}", file=out)
    return 1 if failed else 0


async def run_notify_test(config_path: str, receiver: str, out: TextIO) -> int:
    """Load the config and run :func:`send_test`; exit 1 on an invalid config."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    return await send_test(config, receiver, out)

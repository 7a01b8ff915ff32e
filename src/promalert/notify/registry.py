"""Builds a receiver's notifiers from its config: one per channel config, in a fixed order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from promalert.clock import Clock, SystemClock
from promalert.config.models import Config
from promalert.config.people import user_receiver
from promalert.config.receivers import ChannelConfig, ReceiverConfig
from promalert.metrics import Metrics
from promalert.notify.base import Notifier
from promalert.notify.channel import ChannelContext
from promalert.notify.dingtalk import DingTalkNotifier
from promalert.notify.discord import DiscordNotifier
from promalert.notify.email import EmailNotifier
from promalert.notify.file import FileNotifier
from promalert.notify.pagerduty import PagerDutyNotifier
from promalert.notify.policy import DeliveryPolicy
from promalert.notify.slack import SlackNotifier
from promalert.notify.teams import TeamsNotifier
from promalert.notify.telegram import TelegramNotifier
from promalert.notify.templates import Templates, user_template_files
from promalert.notify.twilio import SMSNotifier, VoiceNotifier
from promalert.notify.webhook import WebhookNotifier
from promalert.notify.wecom import WeComNotifier

# (receiver field, notifier class) after webhook and file, in integration-index order.
_CHANNELS: Sequence[tuple[str, Callable[..., Notifier]]] = (
    ("email_configs", EmailNotifier),
    ("slack_configs", SlackNotifier),
    ("pagerduty_configs", PagerDutyNotifier),
    ("sms_configs", SMSNotifier),
    ("voice_configs", VoiceNotifier),
    ("wecom_configs", WeComNotifier),
    ("dingtalk_configs", DingTalkNotifier),
    ("teams_configs", TeamsNotifier),
    ("telegram_configs", TelegramNotifier),
    ("discord_configs", DiscordNotifier),
)


def build_notifiers(
    receiver: ReceiverConfig,
    session: aiohttp.ClientSession,
    *,
    base_dir: Path | None = None,
    templates: Templates | None = None,
    clock: Clock | None = None,
    external_url: str = "",
) -> list[Notifier]:
    """The receiver's notifiers: webhook configs, file configs, then the other channels.

    A notifier's position in this list is its integration index (the key of its
    notification-log entries and outbox rows), so the order must stay stable; new
    channels are appended after the existing ones. ``base_dir`` resolves relative paths.
    """
    context = ChannelContext(
        session,
        templates or Templates(),
        clock or SystemClock(),
        external_url=external_url,
        base_dir=base_dir,
    )
    notifiers: list[Notifier] = []
    for i, webhook in enumerate(receiver.webhook_configs):
        notifiers.append(WebhookNotifier(webhook, context, receiver.name, i))
    for i, file in enumerate(receiver.file_configs):
        notifiers.append(FileNotifier(file, receiver.name, i, base_dir=base_dir))
    for field, make in _CHANNELS:
        for i, config in enumerate(getattr(receiver, field)):
            notifiers.append(make(config, context, receiver.name, i))
    return notifiers


def _channel_configs(receiver: ReceiverConfig) -> list[Any]:
    """Every config of the receiver in integration-index order (as build_notifiers)."""
    configs: list[Any] = [*receiver.webhook_configs, *receiver.file_configs]
    for field, _ in _CHANNELS:
        configs.extend(getattr(receiver, field))
    return configs


def delivery_policies(receiver: ReceiverConfig) -> list[DeliveryPolicy]:
    """Each integration's retry, rate-limit and digest policy, in integration-index order."""
    return [
        DeliveryPolicy.from_config(c) if isinstance(c, ChannelConfig) else DeliveryPolicy()
        for c in _channel_configs(receiver)
    ]


Integration = tuple[str, int]


def build_integrations(
    config: Config, session: aiohttp.ClientSession, clock: Clock, metrics: Metrics
) -> tuple[dict[Integration, Notifier], dict[Integration, DeliveryPolicy]]:
    """Every receiver's and user's notifiers and delivery policies by (receiver, index)."""
    base_dir = Path(config.base_dir)
    templates = Templates(
        user_template_files(config.templates, base_dir),
        on_fallback=lambda channel: metrics.notification_template_failures.labels(
            channel=channel
        ).inc(),
    )
    notifiers: dict[Integration, Notifier] = {}
    policies: dict[Integration, DeliveryPolicy] = {}
    users = [user_receiver(n, u, config.contact_channels) for n, u in config.users.items()]
    for receiver in [*config.receivers, *users]:
        built = build_notifiers(
            receiver,
            session,
            base_dir=base_dir,
            templates=templates,
            clock=clock,
            external_url=config.global_.external_url,
        )
        for index, (notifier, policy) in enumerate(
            zip(built, delivery_policies(receiver), strict=True)
        ):
            notifiers[(receiver.name, index)] = notifier
            policies[(receiver.name, index)] = policy
    return notifiers, policies

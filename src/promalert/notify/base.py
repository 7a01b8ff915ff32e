"""What every channel shares: the message it is given, the protocol it follows, why it failed.

A notifier makes exactly one attempt and raises :class:`~promalert.errors.NotifyError`
saying whether another attempt may succeed; the delivery worker alone owns retries,
backoff, deadlines and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from promalert.errors import NotifyError

FAILURE_REASONS: tuple[str, ...] = (
    "timeout",
    "connection",
    "tls",
    "auth",
    "http_4xx",
    "http_5xx",
    "rate_limited",
    "provider_error",
    "rejected",
    "template",
    "config",
    "other",
)
"""The closed set of failure reasons; used as the ``reason`` metric label.

``timeout``/``connection``/``tls``: the provider could not be reached safely;
``auth``: credentials refused (HTTP 401/403, SMTP 535, a provider's auth error code);
``http_4xx``/``http_5xx``: any other HTTP error status; ``rate_limited``: HTTP 429 or a
provider's rate-limit code; ``provider_error``: the provider answered with its own error
code (WeCom/DingTalk ``errcode``, Twilio ``code``, Telegram ``ok: false``);
``rejected``: the provider refused the message or its recipients (SMTP 5xx);
``template``: the message could not be built; ``config``: the integration is no longer
configured; ``other``: anything else.
"""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a provider said about an accepted message: its ids, for delivery callbacks.

    ``provider_ids`` pairs each provider message id (Twilio's ``SM...``/``CA...`` sid)
    with the recipient it went to.
    """

    provider_ids: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to deliver: the Alertmanager version 4 payload of a group flush."""

    receiver: str
    group_key: str
    payload: dict[str, Any]
    # Outbox row id: stable across retries, so a channel can use it as an idempotency key.
    id: int = 0


class Notifier(Protocol):
    """One configured integration of a receiver (e.g. its first webhook)."""

    @property
    def channel(self) -> str:
        """Channel name (``webhook``, ``file``): the ``channel`` metric label."""
        ...

    @property
    def send_resolved(self) -> bool:
        """Whether resolved alerts are sent to this integration."""
        ...

    async def notify(self, message: Message) -> Receipt | None:
        """Make one delivery attempt; raise NotifyError(retryable=..., reason=...) on failure.

        Channels whose provider reports delivery later return a Receipt with its ids.
        """
        ...


def integration_name(channel: str, receiver: str, index: int) -> str:
    """How errors and logs name an integration: ``webhook[0] of receiver 'team'``.

    ``index`` counts configs of this channel within the receiver, as Alertmanager does.
    """
    return f"{channel}[{index}] of receiver {receiver!r}"


def notify_error(
    name: str, problem: str, *, retryable: bool, reason: str, retry_after: float | None = None
) -> NotifyError:
    """A NotifyError whose message starts with the integration's name."""
    if reason not in FAILURE_REASONS:
        reason = "other"
    return NotifyError(
        f"{name}: {problem}", retryable=retryable, reason=reason, retry_after=retry_after
    )

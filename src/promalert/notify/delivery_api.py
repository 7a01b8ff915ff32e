"""What the HTTP API serves about deliveries: the delivery log and Twilio status callbacks.

Kept apart from the aiohttp handlers so the logic is tested without a server; the
handlers in :mod:`promalert.api.server` only parse the request and call these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from promalert.clock import Clock
from promalert.config.receivers import ReceiverConfig, TwilioConfig
from promalert.metrics import Metrics
from promalert.notify.payload import format_time
from promalert.notify.twilio import STATUS_PATH, callback_status, valid_signature
from promalert.store import Store
from promalert.store.deliveries import NotificationRecord

log = logging.getLogger(__name__)


def notification_json(record: NotificationRecord) -> dict[str, Any]:
    """One delivery-log entry as JSON: status, attempts, reason; never the payload."""
    return {
        "id": record.id,
        "created_at": format_time(record.created_at),
        "receiver": record.receiver,
        "channel": record.channel,
        "integration": record.integration,
        "group_key": record.group_key,
        "status": record.status,
        "attempts": record.attempts,
        "next_attempt_at": format_time(record.next_attempt_at)
        if record.status == "pending"
        else None,
        "sent_at": format_time(record.sent_at) if record.sent_at else None,
        "last_error": record.last_error,
        "reason": record.reason,
        "alerts": record.alerts,
        "firing": record.firing,
        "deliveries": [
            {
                "provider_id": d.provider_id,
                "recipient": d.recipient,
                "status": d.status,
                "updated_at": format_time(d.updated_at),
            }
            for d in record.deliveries
        ],
    }


def twilio_tokens(receivers: Iterable[ReceiverConfig]) -> dict[str, list[str]]:
    """Auth tokens of every configured Twilio account, by account SID."""
    tokens: dict[str, list[str]] = {}
    for receiver in receivers:
        configs: list[TwilioConfig] = [*receiver.sms_configs, *receiver.voice_configs]
        for config in configs:
            token = config.auth_token.get_secret_value()
            known = tokens.setdefault(config.account_sid, [])
            if token not in known:
                known.append(token)
    return tokens


def twilio_status(
    *,
    external_url: str,
    path_qs: str,
    params: Mapping[str, str],
    signature: str,
    tokens: Mapping[str, list[str]],
    store: Store,
    clock: Clock,
    metrics: Metrics,
) -> tuple[int, str]:
    """Apply a Twilio status callback; return the HTTP status and a short reason.

    Twilio signs the URL it called, which is ``global.external_url`` plus the path
    (and query) promalert gave it; a request whose signature matches none of the
    account's tokens is refused with 403 and changes nothing.
    """
    url = external_url.rstrip("/") + path_qs
    account = params.get("AccountSid", "")
    if not signature or not any(
        valid_signature(token, url, params, signature) for token in tokens.get(account, [])
    ):
        log.warning("refused a Twilio status callback: signature does not match")
        return 403, "invalid X-Twilio-Signature"
    found = callback_status(params)
    if found is None:
        return 400, "expected MessageSid and MessageStatus, or CallSid and CallStatus"
    provider_id, status = found
    outbox_id = store.update_delivery(provider_id, status, clock.now())
    if outbox_id is None:
        # Not ours (or pruned): acknowledge so Twilio does not keep calling.
        return 200, "unknown message"
    channel = "voice" if "CallSid" in params else "sms"
    metrics.notification_deliveries.labels(channel=channel, status=status).inc()
    log.info("notification %d: Twilio reports %s for %s", outbox_id, status, provider_id)
    return 200, status


__all__ = ["STATUS_PATH", "notification_json", "twilio_status", "twilio_tokens"]

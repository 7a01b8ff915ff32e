"""Alertmanager's webhook receiver: POSTs the version 4 payload as JSON.

The URL is a secret (Alertmanager has ``url_file`` for it: tokens often live in the
path or query), so no error message or log line here ever contains it; neither do the
HMAC secret or custom header values. Errors name the integration and the status only.
With ``template`` set, the body is that template's ``body`` block instead of the
payload (for endpoints that want their own JSON); the signature covers it the same way.
"""

from __future__ import annotations

import hashlib
import hmac

import aiohttp

from promalert.config.receivers import WebhookConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel
from promalert.notify.keepalive import KeepAliveClient
from promalert.notify.payload import truncate_payload
from promalert.store.records import compact_json

SIGNATURE_HEADER = "X-Promalert-Signature"
"""Header carrying ``sha256=<hex HMAC-SHA256 of the body>`` when ``hmac_secret`` is set."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(TemplatedChannel):
    """One ``webhook_configs`` entry of a receiver."""

    channel = "webhook"

    def __init__(
        self,
        config: WebhookConfig,
        session: aiohttp.ClientSession | ChannelContext,
        receiver: str,
        index: int,
    ) -> None:
        """``index`` is the position among the receiver's webhook configs."""
        context = session if isinstance(session, ChannelContext) else ChannelContext(session)
        self._url = config.url.get_secret_value()
        hmac_secret = config.hmac_secret.get_secret_value() if config.hmac_secret else ""
        custom = {k: v.get_secret_value() for k, v in config.headers.items()}
        secrets = [self._url, hmac_secret, *custom.values()]
        self._headers = {"Content-Type": "application/json", **custom}
        # Its own keep-alive pool: one webhook per alert group made aiohttp's per-request
        # cost most of the delivery cost (https URLs still go through the session).
        super().__init__(
            config, context, receiver, index, secrets=secrets, keepalive=KeepAliveClient()
        )
        self._config = config
        self._hmac_secret = hmac_secret

    @property
    def sends_stored_text(self) -> bool:
        """Whether the body is the payload's stored JSON as it is (no template, no cut)."""
        return self._config.template is None and self._config.max_alerts == 0

    def body(self, message: Message) -> bytes:
        """The exact bytes POSTed for ``message`` (after ``max_alerts`` truncation)."""
        if self.sends_stored_text:
            return (compact_json(message.payload) + "\n").encode()
        payload = truncate_payload(message.payload, self._config.max_alerts)
        if self._config.template is not None:
            truncated = Message(message.receiver, message.group_key, payload, message.id)
            return self.render(truncated)[1]["body"].encode()
        # Compact JSON ending in a newline, as Go's json.Encoder writes it; the text the
        # outbox stored when the payload comes from there, rather than encoding it again.
        return (compact_json(payload) + "\n").encode()

    async def notify(self, message: Message) -> None:
        """POST the payload once; raise NotifyError saying whether to retry."""
        body = self.body(message)
        headers = self._headers
        if self._hmac_secret:
            headers = {**headers, SIGNATURE_HEADER: sign(self._hmac_secret, body)}
        response = await self._http.post(self._url, data=body, headers=headers)
        self._http.check(response)

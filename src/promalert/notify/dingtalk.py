"""DingTalk group robot: signed markdown messages with at-mentions.

With a ``secret`` the robot's URL gets ``timestamp`` (milliseconds) and ``sign``: the
base64 HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed with the secret, URL-encoded;
DingTalk rejects a timestamp more than an hour off. People are mentioned through
``at.atMobiles``/``at.atUserIds`` and must also appear as ``@...`` in the text.
Errors come back as HTTP 200 with a non-zero ``errcode`` (130101: sending too fast;
310000: security check failed: bad signature, keyword or IP; 300001: bad token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from promalert.config.receivers import DingTalkConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel, cut
from promalert.notify.robots import check_errcode

RATE_CODES = frozenset({130101, 130102})
BUSY_CODES = frozenset({-1})
AUTH_CODES = frozenset({310000, 300001, 400013, 40014, 43004})
_MAX_TEXT = 20000


def sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value before URL encoding."""
    text = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with ``timestamp`` and the URL-encoded ``sign`` appended."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={quote_plus(sign(secret, timestamp_ms))}"


def dingtalk_body(config: DingTalkConfig, parts: dict[str, str], firing: bool) -> dict[str, Any]:
    """The markdown message, mentioning the configured people when alerts fire."""
    text = cut(parts["text"], _MAX_TEXT)
    at: dict[str, Any] = {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    if firing:
        at = {
            "atMobiles": list(config.at_mobiles),
            "atUserIds": list(config.at_user_ids),
            "isAtAll": config.at_all,
        }
        names = [f"@{m}" for m in (*config.at_mobiles, *config.at_user_ids)]
        if config.at_all:
            names.append("@all")
        if names:
            text += "\n\n" + " ".join(names)
    return {"msgtype": "markdown", "markdown": {"title": parts["title"], "text": text}, "at": at}


class DingTalkNotifier(TemplatedChannel):
    """One ``dingtalk_configs`` entry of a receiver."""

    channel = "dingtalk"

    def __init__(
        self, config: DingTalkConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's dingtalk configs."""
        self._url = config.url.get_secret_value()
        self._secret = config.secret.get_secret_value() if config.secret is not None else None
        super().__init__(config, context, receiver, index, secrets=[self._url, self._secret or ""])
        self._config = config

    async def notify(self, message: Message) -> None:
        """POST the (signed) markdown message once."""
        data, parts = self.render(message)
        url = self._url
        if self._secret is not None:
            # The wall clock on purpose: DingTalk checks the timestamp against its own.
            timestamp = int(self._context.clock.now().timestamp() * 1000)
            url = signed_url(url, self._secret, timestamp)
        body = dingtalk_body(self._config, parts, data.status == "firing")
        response = await self._http.post(url, json_body=body)
        check_errcode(
            self._http,
            response,
            rate_codes=RATE_CODES,
            busy_codes=BUSY_CODES,
            auth_codes=AUTH_CODES,
        )

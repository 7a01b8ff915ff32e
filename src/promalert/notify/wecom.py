"""WeCom (WeChat Work) group robot: ``{"msgtype": "markdown", "markdown": {"content"}}``.

POSTed to the robot's webhook (``.../cgi-bin/webhook/send?key=KEY``, a secret). The
content may hold at most 4096 bytes; mentions are written into it as ``<@userid>``.
Errors come back as HTTP 200 with a non-zero ``errcode`` (45009: too many requests;
93000: invalid webhook URL; -1: system busy).
"""

from __future__ import annotations

from promalert.config.receivers import WeComConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel
from promalert.notify.robots import check_errcode, cut_bytes

MAX_BYTES = 4096
RATE_CODES = frozenset({45009})
BUSY_CODES = frozenset({-1})
AUTH_CODES = frozenset({93000, 40014, 42001, 93004})


class WeComNotifier(TemplatedChannel):
    """One ``wecom_configs`` entry of a receiver."""

    channel = "wecom"

    def __init__(
        self, config: WeComConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's wecom configs."""
        self._url = config.webhook_url()
        key = config.key.get_secret_value() if config.key is not None else ""
        super().__init__(config, context, receiver, index, secrets=[self._url, key])
        self._config = config

    async def notify(self, message: Message) -> None:
        """POST the markdown message once."""
        data, parts = self.render(message)
        content = parts["text"]
        if self._config.mentions and data.status == "firing":
            content += "\n\n" + " ".join(f"<@{m}>" for m in self._config.mentions)
        body = {"msgtype": "markdown", "markdown": {"content": cut_bytes(content, MAX_BYTES)}}
        response = await self._http.post(self._url, json_body=body)
        check_errcode(
            self._http,
            response,
            rate_codes=RATE_CODES,
            busy_codes=BUSY_CODES,
            auth_codes=AUTH_CODES,
        )

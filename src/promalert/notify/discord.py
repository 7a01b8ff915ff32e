"""Discord webhooks: one embed per notification, mentions disabled.

POSTed to ``https://discord.com/api/webhooks/{id}/{token}`` (a secret). Discord answers
``204 No Content`` (or ``200`` with ``?wait=true``); errors carry ``{"code", "message"}``
(``10015 Unknown Webhook``) and a 429 carries ``retry_after`` seconds and a
``Retry-After`` header. ``allowed_mentions`` is empty so that label values cannot ping
``@everyone``.
"""

from __future__ import annotations

from typing import Any

from promalert.config.receivers import DiscordConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel, cut
from promalert.notify.http import Response
from promalert.notify.payload import format_time
from promalert.notify.template_data import TemplateData

COLORS = {"P1": 0xD40E0D, "P2": 0xE8590C, "P3": 0xDAA038, "P4": 0x439FE0, "P5": 0x439FE0}
"""Embed colour of firing notifications by priority."""
RESOLVED_COLOR = 0x2EB886
_MAX_FIELDS = 25


def discord_body(
    config: DiscordConfig, data: TemplateData, parts: dict[str, str]
) -> dict[str, Any]:
    """The webhook body: one embed, no mentions."""
    firing = data.status == "firing"
    embed: dict[str, Any] = {
        "title": cut(parts["title"], 256),
        "description": cut(parts["text"], 4096),
        "color": COLORS.get(data.priority, COLORS["P5"]) if firing else RESOLVED_COLOR,
        "fields": [
            {"name": cut(k, 256), "value": cut(v, 1024) or "-", "inline": True}
            for k, v in sorted(data.common_labels.items())
        ][:_MAX_FIELDS],
        "footer": {"text": "promalert"},
    }
    if data.ack_url and firing:
        embed["url"] = data.ack_url
    starts = [a.starts_at for a in data.alerts if a.starts_at is not None]
    if starts:
        embed["timestamp"] = format_time(min(starts))
    body: dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    if config.username:
        body["username"] = config.username
    if config.avatar_url:
        body["avatar_url"] = config.avatar_url
    return body


class DiscordNotifier(TemplatedChannel):
    """One ``discord_configs`` entry of a receiver."""

    channel = "discord"

    def __init__(
        self, config: DiscordConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's discord configs."""
        self._url = config.url.get_secret_value()
        super().__init__(config, context, receiver, index, secrets=[self._url])
        self._config = config

    async def notify(self, message: Message) -> None:
        """POST the embed once."""
        data, parts = self.render(message)
        response = await self._http.post(
            self._url, json_body=discord_body(self._config, data, parts)
        )
        self._check(response)

    def _check(self, response: Response) -> None:
        if response.ok:
            return
        answer = response.json()
        detail = ""
        if isinstance(answer, dict):
            code = answer.get("code")
            detail = str(answer.get("message", ""))
            if code is not None:
                detail = f"{code} {detail}"
            wait = answer.get("retry_after")
            if response.status == 429 and isinstance(wait, int | float):
                raise self._http.error(
                    f"HTTP 429 Too Many Requests: {detail}",
                    retryable=True,
                    reason="rate_limited",
                    response=response,
                    retry_after=float(wait),
                )
        self._http.check(response, detail)

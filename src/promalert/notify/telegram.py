"""Telegram Bot API ``sendMessage`` with ``parse_mode: HTML``.

POSTed to ``{api_url}/bot{token}/sendMessage`` (the token is in the path: a secret).
Telegram answers ``{"ok": true, "result": {...}}`` or ``{"ok": false, "error_code": 400,
"description": "Bad Request: chat not found"}`` with the same HTTP status; a 429 carries
``parameters.retry_after`` seconds. Text is at most 4096 characters after entity parsing.
"""

from __future__ import annotations

from typing import Any

from promalert.config.receivers import TelegramConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel
from promalert.notify.http import Response

MAX_TEXT = 4096


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """Cut HTML text at a line break so that no tag or entity is split."""
    if len(text) <= limit:
        return text
    head = text[: limit - 4]
    newline = head.rfind("\n")
    if newline > 0:
        head = head[:newline]
    elif "<" in head or "&" in head:
        # No line to cut at: drop markup rather than send a broken tag.
        head = head[: head.rfind("<")] if head.rfind("<") > head.rfind(">") else head
        head = head[: head.rfind("&")] if head.rfind("&") > head.rfind(";") else head
    return head + "\n..."


def telegram_body(config: TelegramConfig, text: str) -> dict[str, Any]:
    """The sendMessage parameters."""
    body: dict[str, Any] = {
        "chat_id": config.chat_id,
        "text": fit(text),
        "parse_mode": "HTML",
        "disable_notification": config.disable_notifications,
        "link_preview_options": {"is_disabled": True},
    }
    if config.message_thread_id is not None:
        body["message_thread_id"] = config.message_thread_id
    return body


class TelegramNotifier(TemplatedChannel):
    """One ``telegram_configs`` entry of a receiver."""

    channel = "telegram"

    def __init__(
        self, config: TelegramConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's telegram configs."""
        token = config.bot_token.get_secret_value()
        super().__init__(config, context, receiver, index, secrets=[token])
        self._url = f"{config.api_url.rstrip('/')}/bot{token}/sendMessage"
        self._config = config

    async def notify(self, message: Message) -> None:
        """Send the message once."""
        _, parts = self.render(message)
        response = await self._http.post(
            self._url, json_body=telegram_body(self._config, parts["text"])
        )
        self._check(response)

    def _check(self, response: Response) -> None:
        answer = response.json()
        if response.ok and isinstance(answer, dict) and answer.get("ok") is True:
            return
        detail = str(answer.get("description", "")) if isinstance(answer, dict) else ""
        if response.status == 429 and isinstance(answer, dict):
            parameters = answer.get("parameters")
            wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
            if isinstance(wait, int | float):
                raise self._http.error(
                    f"HTTP 429 Too Many Requests: {detail}",
                    retryable=True,
                    reason="rate_limited",
                    response=response,
                    retry_after=float(wait),
                )
        if response.ok:
            raise self._http.error(
                f"not sent: {detail or 'answer is not ok'}",
                retryable=False,
                reason="provider_error",
                response=response,
            )
        self._http.check(response, detail)

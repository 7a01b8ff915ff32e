"""Slack incoming webhooks: Block Kit in an attachment coloured by severity.

The message is ``{"text": ..., "attachments": [{"color": ..., "blocks": [...]}]}``:
the top-level ``text`` is what phones and screen readers show (with the configured
mention, so it notifies), the blocks hold a header, the rendered mrkdwn and, for
escalations, an Acknowledge button. Slack answers ``200 ok`` or a status with a short
plain-text error such as ``invalid_payload`` or ``channel_not_found``.
"""

from __future__ import annotations

from typing import Any

from promalert.config.receivers import SlackConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel, cut
from promalert.notify.template_data import TemplateData

COLORS = {
    "P1": "#d40e0d",
    "P2": "#e8590c",
    "P3": "#daa038",
    "P4": "#439fe0",
    "P5": "#439fe0",
}
"""Attachment colour of firing notifications by priority (critical red ... low blue)."""
RESOLVED_COLOR = "#2eb886"
_SPECIAL_MENTIONS = {"@here": "<!here>", "@channel": "<!channel>", "@everyone": "<!everyone>"}


def mention_text(mention: str) -> str:
    """Slack's syntax for a configured mention (``@here`` -> ``<!here>``; ``<@U1>`` as is)."""
    return _SPECIAL_MENTIONS.get(mention.strip(), mention.strip())


def slack_body(config: SlackConfig, data: TemplateData, parts: dict[str, str]) -> dict[str, Any]:
    """The JSON body for one notification."""
    title, text = parts["title"], parts["text"]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, 150), "emoji": True}}
    ]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, 3000)}})
    if data.ack_url and data.status == "firing":
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "url": data.ack_url,
            "style": "primary",
        }
        blocks.append({"type": "actions", "elements": [button]})
    color = COLORS.get(data.priority, COLORS["P5"]) if data.status == "firing" else RESOLVED_COLOR
    summary = title
    if config.mention and data.status == "firing":
        summary = f"{mention_text(config.mention)} {title}"
    body: dict[str, Any] = {"text": summary, "attachments": [{"color": color, "blocks": blocks}]}
    for key in ("channel", "username", "icon_emoji", "icon_url"):
        value = getattr(config, key)
        if value:
            body[key] = value
    return body


class SlackNotifier(TemplatedChannel):
    """One ``slack_configs`` entry of a receiver."""

    channel = "slack"

    def __init__(
        self, config: SlackConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's slack configs."""
        assert config.api_url is not None  # the model requires it (or the global default)
        self._url = config.api_url.get_secret_value()
        super().__init__(config, context, receiver, index, secrets=[self._url])
        self._config = config

    async def notify(self, message: Message) -> None:
        """POST the message once."""
        data, parts = self.render(message)
        response = await self._http.post(self._url, json_body=slack_body(self._config, data, parts))
        detail = response.body.decode("utf-8", "replace").strip() if not response.ok else ""
        self._http.check(response, detail)

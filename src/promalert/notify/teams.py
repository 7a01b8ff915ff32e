"""Microsoft Teams through a workflow webhook ("Post to a channel when a webhook request
is received"): a ``message`` whose one attachment is an Adaptive Card.

The workflow URL carries its signature (``sig=...``) and is a secret. Workflows answer
``202 Accepted``; the old Office 365 connectors answered ``200``; both count as sent.
"""

from __future__ import annotations

from typing import Any

from promalert.config.receivers import TeamsConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel
from promalert.notify.template_data import TemplateData

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
_MAX_FACTS = 15


def adaptive_card(data: TemplateData, parts: dict[str, str]) -> dict[str, Any]:
    """The Adaptive Card (schema 1.4) of one notification."""
    firing = data.status == "firing"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": parts["title"],
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention" if firing else "Good",
        }
    ]
    if parts["text"]:
        body.append({"type": "TextBlock", "text": parts["text"], "wrap": True})
    facts = [{"title": k, "value": v} for k, v in sorted(data.common_labels.items())]
    if facts:
        body.append({"type": "FactSet", "facts": facts[:_MAX_FACTS]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    if data.ack_url and firing:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Acknowledge", "url": data.ack_url}]
    return card


def teams_body(data: TemplateData, parts: dict[str, str]) -> dict[str, Any]:
    """The JSON body the workflow expects."""
    attachment = {
        "contentType": CARD_TYPE,
        "contentUrl": None,
        "content": adaptive_card(data, parts),
    }
    return {"type": "message", "attachments": [attachment]}


class TeamsNotifier(TemplatedChannel):
    """One ``teams_configs`` entry of a receiver."""

    channel = "teams"

    def __init__(
        self, config: TeamsConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's teams configs."""
        self._url = config.url.get_secret_value()
        super().__init__(config, context, receiver, index, secrets=[self._url])

    async def notify(self, message: Message) -> None:
        """POST the card once."""
        data, parts = self.render(message)
        response = await self._http.post(self._url, json_body=teams_body(data, parts))
        detail = ""
        if not response.ok:
            answer = response.json()
            if isinstance(answer, dict):
                error = answer.get("error")
                detail = str(error.get("message", "")) if isinstance(error, dict) else ""
        self._http.check(response, detail)

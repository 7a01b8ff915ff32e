"""What the templated channels share: their context, naming, rendering and HTTP sender."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import aiohttp

from promalert.clock import Clock, SystemClock
from promalert.config.receivers import ChannelConfig
from promalert.notify.base import Message, integration_name
from promalert.notify.http import HttpSender
from promalert.notify.keepalive import KeepAliveClient
from promalert.notify.template_data import TemplateData, template_data
from promalert.notify.templates import Templates


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """Shared by every notifier of a config: HTTP session, templates, clock, public URL."""

    session: aiohttp.ClientSession
    templates: Templates = field(default_factory=Templates)
    clock: Clock = field(default_factory=SystemClock)
    # global.external_url: ack links and provider callbacks (Twilio status) point here.
    external_url: str = ""
    # The config file's folder: relative template paths resolve against it.
    base_dir: Path | None = None


class TemplatedChannel:
    """Base of channels whose message is rendered from a template and sent over HTTP."""

    channel: ClassVar[str] = ""

    def __init__(
        self,
        config: ChannelConfig,
        context: ChannelContext,
        receiver: str,
        index: int,
        *,
        secrets: Iterable[str] = (),
        keepalive: KeepAliveClient | None = None,
    ) -> None:
        """``secrets`` (tokens, keys, secret URLs) are masked in every error message.

        ``keepalive`` sends byte bodies to plain-http URLs without aiohttp (see HttpSender).
        """
        self._base_config = config
        self._context = context
        self.name = integration_name(self.channel, receiver, index)
        self._http = HttpSender(
            context.session,
            self.name,
            context.clock,
            timeout=config.timeout,
            secrets=secrets,
            keepalive=keepalive,
        )

    @property
    def send_resolved(self) -> bool:
        """Whether resolved alerts are sent."""
        return self._base_config.send_resolved

    def render(self, message: Message) -> tuple[TemplateData, dict[str, str]]:
        """The template data of ``message`` and the channel's rendered parts."""
        data = template_data(message.receiver, message.payload)
        parts = self._context.templates.render(
            self.channel, data, message.payload, template=self._template_path()
        )
        return data, parts

    def _template_path(self) -> str | None:
        given = self._base_config.template
        if given is None:
            return None
        path = Path(given)
        base = self._context.base_dir
        return str(path if path.is_absolute() or base is None else base / path)


def cut(text: str, limit: int, marker: str = "...") -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``marker`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))].rstrip() + marker

"""Notification templates: sandboxed Jinja2, one file per channel, blocks for each part.

A channel template defines one block per part of the message it needs (``subject``,
``text`` and ``html`` for email; ``title`` and ``text`` for Slack; see
:data:`CHANNEL_PARTS`). Which file renders a notification, first match wins:

1. the channel config's ``template`` (a file path);
2. ``<channel>/<alertname>.j2`` among the user's templates (``templates:`` globs),
   then ``<channel>/<type label>.j2``, then the user's ``<channel>/default.j2``;
3. the default shipped in the package, also reachable as ``builtin/<channel>/default.j2``
   (so an override can ``{% extends "builtin/slack/default.j2" %}`` and change one block).

Templates run in an immutable sandbox with ``StrictUndefined``; HTML parts (email's
``html``, Telegram's text) are autoescaped. A template that fails at send time never
silences a notification: the plain message of :func:`fallback_parts` is sent instead,
and the failure is logged and counted.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promalert.durations import format_duration
from promalert.notify.template_data import TemplateData

log = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin/"
_FILE_PREFIX = "file:"


@dataclass(frozen=True, slots=True)
class Parts:
    """The blocks a channel's template must define, and which of them are HTML."""

    names: tuple[str, ...]
    html: frozenset[str] = frozenset()


CHANNEL_PARTS: Mapping[str, Parts] = {
    "webhook": Parts(("body",)),
    "email": Parts(("subject", "text", "html"), frozenset({"html"})),
    "slack": Parts(("title", "text")),
    "pagerduty": Parts(("summary",)),
    "sms": Parts(("text",)),
    "voice": Parts(("text",)),
    "wecom": Parts(("text",)),
    "dingtalk": Parts(("title", "text")),
    "teams": Parts(("title", "text")),
    "telegram": Parts(("text",), frozenset({"text"})),
    "discord": Parts(("title", "text")),
}
"""Parts per channel; channels with a shipped default template (all but webhook)."""


def _kv(value: Mapping[str, Any], sep: str = " ") -> str:
    return sep.join(f"{k}={v}" for k, v in value.items())


def _mrkdwn(value: Any) -> str:
    # Slack's escaping: only these three characters are control characters in mrkdwn.
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _datetime(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    return "" if value is None else str(value.strftime(fmt))


_FILTERS: dict[str, Callable[..., Any]] = {
    "kv": _kv,
    "mrkdwn": _mrkdwn,
    "datetime": _datetime,
    "duration": format_duration,
}


def _builtin_source(name: str) -> str | None:
    parts = name.split("/")
    if len(parts) != 2 or not all(parts) or any(p.startswith(".") for p in parts):
        return None
    resource = resources.files("promalert").joinpath("templates", *parts)
    try:
        return resource.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def user_template_files(patterns: Sequence[str], base_dir: str | Path) -> dict[str, Path]:
    """Template files matched by ``templates:`` globs, by name ``<channel>/<file>``.

    The name is the file's folder and file name, e.g. ``templates/slack/HighCPU.j2`` is
    ``slack/HighCPU.j2``; later globs win over earlier ones.
    """
    found: dict[str, Path] = {}
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(Path(base_dir) / pattern)
        for match in sorted(glob.glob(full, recursive=True)):
            path = Path(match)
            if path.is_file():
                found[f"{path.parent.name}/{path.name}"] = path
    return found


class TemplateFailure(Exception):
    """A template could not render; ``where`` is its file and line when known."""

    def __init__(self, template: str, message: str, where: tuple[str, int] | None) -> None:
        super().__init__(f"template {template}: {message}")
        self.template = template
        self.where = where


class Templates:
    """Renders channel messages from the shipped defaults and the user's overrides."""

    def __init__(
        self,
        user_files: Mapping[str, Path] | None = None,
        *,
        on_fallback: Callable[[str], None] | None = None,
    ) -> None:
        """``on_fallback(channel)`` is called each time a message falls back to plain text."""
        self._user = dict(user_files or {})
        self._on_fallback = on_fallback
        loader = jinja2.FunctionLoader(self._source)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": jinja2.StrictUndefined,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "auto_reload": False,
        }
        self._plain = ImmutableSandboxedEnvironment(autoescape=False, **common)
        self._html = ImmutableSandboxedEnvironment(autoescape=True, **common)
        for env in (self._plain, self._html):
            env.filters.update(_FILTERS)

    def parse(self, source: str) -> jinja2.nodes.Template:
        """The syntax tree of ``source`` (raises jinja2.TemplateSyntaxError)."""
        return self._plain.parse(source)

    def source(self, name: str) -> str | None:
        """The text of template ``name``, or None when there is no such template."""
        found = self._source(name)
        return None if found is None else found[0]

    def _source(self, name: str) -> tuple[str, str, Callable[[], bool]] | None:
        if name.startswith(_FILE_PREFIX):
            path = Path(name.removeprefix(_FILE_PREFIX))
        elif name in self._user:
            path = self._user[name]
        else:
            text = _builtin_source(name.removeprefix(BUILTIN_PREFIX))
            return None if text is None else (text, name, lambda: True)
        try:
            return path.read_text(encoding="utf-8"), str(path), lambda: True
        except (OSError, UnicodeDecodeError):
            return None

    def choose(self, channel: str, data: TemplateData, template: str | None = None) -> str:
        """The name of the template that renders ``data`` for ``channel``."""
        if template is not None:
            return _FILE_PREFIX + template
        for key in (data.common_labels.get("alertname"), data.common_labels.get("type")):
            if key and f"{channel}/{key}.j2" in self._user:
                return f"{channel}/{key}.j2"
        return f"{channel}/default.j2"

    def render_strict(
        self, name: str, parts: Parts, variables: Mapping[str, Any]
    ) -> dict[str, str]:
        """Render every part of template ``name``; raise TemplateFailure naming the template."""
        out: dict[str, str] = {}
        for env in (self._plain, self._html):
            wanted = [p for p in parts.names if (p in parts.html) == (env is self._html)]
            if not wanted:
                continue
            try:
                tmpl = env.get_template(name)
                ctx = tmpl.new_context(dict(variables))
                # Running the root function registers the blocks of parent templates.
                for _ in tmpl.root_render_func(ctx):
                    pass
                for part in wanted:
                    blocks = ctx.blocks.get(part)
                    if not blocks:
                        raise TemplateFailure(_shown(name), f"no block '{part}'", None)
                    out[part] = env.concat(blocks[0](ctx)).strip()
            except TemplateFailure:
                raise
            except jinja2.TemplateSyntaxError as exc:
                where = (exc.filename, exc.lineno) if exc.filename else None
                raise TemplateFailure(_shown(name), _message(exc), where) from None
            except jinja2.TemplateNotFound as exc:
                raise TemplateFailure(
                    _shown(name), f"template not found: {exc.name}", None
                ) from None
            except Exception as exc:  # template code can raise anything
                try:
                    # Re-raises with the traceback mapped to template files and lines.
                    env.handle_exception()
                except Exception as mapped:  # the same error, now with template frames
                    where = _template_line(mapped)
                raise TemplateFailure(_shown(name), _message(exc), where) from None
        return out

    def render(
        self,
        channel: str,
        data: TemplateData,
        payload: Mapping[str, Any],
        *,
        template: str | None = None,
    ) -> dict[str, str]:
        """The channel's message parts; on any template failure the plain fallback parts."""
        parts = CHANNEL_PARTS[channel]
        name = self.choose(channel, data, template)
        try:
            return self.render_strict(name, parts, data.variables())
        except TemplateFailure as exc:
            log.warning(
                "%s notification to receiver %r sent as plain text: %s",
                channel,
                data.receiver,
                exc,
            )
            if self._on_fallback is not None:
                self._on_fallback(channel)
            return fallback_parts(parts, data, payload)


def _shown(name: str) -> str:
    return name.removeprefix(_FILE_PREFIX)


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, jinja2.TemplateError) else text


def _template_line(exc: BaseException) -> tuple[str, int] | None:
    """The template file and line where ``exc`` was raised (Jinja rewrites tracebacks)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = frame.filename
        if frame.lineno and not name.endswith(".py") and not name.startswith("<"):
            return name, frame.lineno
    return None


def fallback_text(data: TemplateData) -> str:
    """A plain message: the title line, then one line per alert."""
    lines = [data.title]
    for alert in data.alerts:
        labels = _kv({k: v for k, v in alert.labels.items() if k != "alertname"})
        line = f"- [{alert.status}] {alert.name} {labels}".rstrip()
        if alert.summary:
            line += f": {alert.summary}"
        lines.append(line)
    if data.ack_url:
        lines.append(f"Acknowledge: {data.ack_url}")
    return "\n".join(lines)


def fallback_parts(parts: Parts, data: TemplateData, payload: Mapping[str, Any]) -> dict[str, str]:
    """The plain message in every part a channel needs."""
    text = fallback_text(data)
    out: dict[str, str] = {}
    for part in parts.names:
        if part in ("title", "subject", "summary"):
            out[part] = data.title
        elif part == "html":
            out[part] = f"<pre>{escape(text)}</pre>"
        elif part == "body":
            out[part] = json.dumps(dict(payload), ensure_ascii=False, separators=(",", ":"))
        elif part in parts.html:
            out[part] = escape(text, quote=False)
        else:
            out[part] = text
    return out

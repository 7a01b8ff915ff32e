"""The Alertmanager-compatible part of promalert's config, as Alertmanager 0.25 YAML.

``GET /api/v2/status`` returns it as ``config.original`` so that ``amtool`` (``config
show``, ``config routes``) can parse it. Only keys Alertmanager 0.25 knows are written:
promalert's own (escalation, noise control, priorities, channels Alertmanager lacks,
delivery options) are left out, and so is any channel config Alertmanager would reject.
Secrets are written as ``<secret>``, which Alertmanager's parser accepts for secret
fields; a webhook URL (not a secret field in 0.25) keeps only its scheme and host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, SecretStr

from promalert.config.models import Config
from promalert.config.receivers import ReceiverConfig
from promalert.config.routing import InhibitRuleConfig, RouteConfig
from promalert.durations import format_duration

SECRET = "<secret>"

# Alertmanager 0.25 channel keys -> the fields it accepts that promalert has too,
# and the fields without which Alertmanager rejects the config.
_CHANNELS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "webhook_configs": (("send_resolved", "url", "max_alerts"), ("url",)),
    "email_configs": (
        (
            "send_resolved",
            "to",
            "from",
            "hello",
            "smarthost",
            "auth_username",
            "auth_password",
            "headers",
            "require_tls",
        ),
        ("to", "from", "smarthost"),
    ),
    "slack_configs": (
        ("send_resolved", "api_url", "channel", "username", "icon_emoji", "icon_url"),
        ("api_url",),
    ),
    "pagerduty_configs": (
        (
            "send_resolved",
            "routing_key",
            "url",
            "client",
            "severity",
            "class",
            "component",
            "group",
        ),
        ("routing_key",),
    ),
    "telegram_configs": (
        ("send_resolved", "api_url", "bot_token", "chat_id", "disable_notifications"),
        ("bot_token", "chat_id"),
    ),
    "discord_configs": (("send_resolved", "url"), ("url",)),
}
# promalert field name -> Alertmanager's, where they differ.
_RENAMED = {("discord_configs", "url"): "webhook_url"}
_GLOBALS = ("smtp_from", "smtp_hello", "smtp_smarthost", "smtp_auth_username", "smtp_require_tls")


def _value(name: str, value: Any, channel: str) -> Any:
    """One field's value as Alertmanager writes it, secrets hidden."""
    if isinstance(value, SecretStr):
        if channel == "webhook_configs" and name == "url":
            parts = urlsplit(value.get_secret_value())
            host = parts.hostname or "localhost"
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{host}{port}/{SECRET}"
        return SECRET
    if name == "to" and isinstance(value, list):
        return ", ".join(str(v) for v in value)  # one comma-separated string in Alertmanager
    return value


def _channel(key: str, config: BaseModel) -> dict[str, Any] | None:
    """One channel config in Alertmanager's form, or None when Alertmanager would reject it."""
    allowed, required = _CHANNELS[key]
    out: dict[str, Any] = {}
    for name in allowed:
        attr = "from_" if name == "from" else "class_" if name == "class" else name
        value = getattr(config, attr, None)
        if value is None or value == {} or value == []:
            continue
        out[_RENAMED.get((key, name), name)] = _value(name, value, key)
    if any(_RENAMED.get((key, n), n) not in out for n in required):
        return None
    if key == "telegram_configs" and not isinstance(out["chat_id"], int):
        return None  # Alertmanager 0.25 takes numeric chat ids only
    return out


def _receiver(receiver: ReceiverConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    for key in _CHANNELS:
        configs = [_channel(key, c) for c in getattr(receiver, key, None) or []]
        kept = [c for c in configs if c is not None]
        if kept:
            out[key] = kept
    return out


ESCALATION_ONLY = "promalert-escalation-only"
"""Receiver named in the Alertmanager view of a config whose root route has none."""


def _route(route: RouteConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if route.receiver:
        out["receiver"] = route.receiver
    if route.group_by is not None:
        out["group_by"] = list(route.group_by)
    if route.continue_:
        out["continue"] = True
    if route.match:
        out["match"] = dict(route.match)
    if route.match_re:
        out["match_re"] = dict(route.match_re)
    if route.matchers:
        out["matchers"] = [str(m) for m in route.matchers]
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(route, key):
            out[key] = list(getattr(route, key))
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(route, key)
        if value is not None:
            out[key] = format_duration(value)
    if route.routes:
        out["routes"] = [_route(r) for r in route.routes]
    return out


def _inhibit_rule(rule: InhibitRuleConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("source", "target"):
        if getattr(rule, f"{side}_match"):
            out[f"{side}_match"] = dict(getattr(rule, f"{side}_match"))
        if getattr(rule, f"{side}_match_re"):
            out[f"{side}_match_re"] = dict(getattr(rule, f"{side}_match_re"))
        if getattr(rule, f"{side}_matchers"):
            out[f"{side}_matchers"] = [str(m) for m in getattr(rule, f"{side}_matchers")]
    if rule.equal:
        out["equal"] = list(rule.equal)
    return out


def alertmanager_config(config: Config) -> dict[str, Any]:
    """The Alertmanager 0.25 config equivalent to ``config``'s routing part."""
    glob: dict[str, Any] = {"resolve_timeout": format_duration(config.global_.resolve_timeout)}
    for key in _GLOBALS:
        value = getattr(config.global_, key, None)
        if value is not None:
            glob[key] = value
    route = _route(config.route)
    receivers = [_receiver(r) for r in config.receivers]
    if "receiver" not in route:
        # An escalation-only root: Alertmanager insists on a default receiver, so name
        # an empty one (promalert notifies nobody there, as Alertmanager would not).
        route = {"receiver": ESCALATION_ONLY, **route}
        receivers.append({"name": ESCALATION_ONLY})
    out: dict[str, Any] = {"global": glob, "route": route}
    if config.inhibit_rules:
        out["inhibit_rules"] = [_inhibit_rule(r) for r in config.inhibit_rules]
    out["receivers"] = receivers
    intervals = config.all_time_intervals()
    if intervals:
        out["time_intervals"] = [
            {
                "name": t.name,
                "time_intervals": [
                    i.model_dump(mode="json", exclude_none=True) for i in t.time_intervals
                ],
            }
            for t in intervals
        ]
    out["templates"] = []
    return out


def original_yaml(config: Config) -> str:
    """``status.config.original``: :func:`alertmanager_config` as YAML text."""
    return yaml.safe_dump(alertmanager_config(config), sort_keys=False, allow_unicode=True)

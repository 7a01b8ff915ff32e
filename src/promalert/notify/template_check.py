"""``promalert check`` for notification templates: syntax, unknown names, a trial render.

Every template a config can use is checked: the shipped defaults, the user's files
matched by ``templates:`` and each channel config's ``template``. A file under a
channel folder (``slack/HighCPU.j2``) is rendered with sample alerts whose labels and
annotations answer any key, so a typo in a field name (``alert.lables``) is caught but
an annotation only some alerts carry is not reported. Problems point into the template
file: ``templates/slack/HighCPU.j2:3:1: unknown variable 'alets' ...``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from promalert.config.models import Config
from promalert.errors import Problem
from promalert.notify.payload import ZERO_TIME
from promalert.notify.template_data import TemplateData, template_data
from promalert.notify.templates import (
    BUILTIN_PREFIX,
    CHANNEL_PARTS,
    TemplateFailure,
    Templates,
    user_template_files,
)

_SAMPLE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "super"})


class _AnyKey(dict[str, str]):
    """Labels or annotations of a sample alert: every key has a value."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def _sample_alert(status: str, instance: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "SampleAlert", "severity": "critical", "instance": instance},
        "annotations": {"summary": "sample summary", "description": "sample description"},
        "startsAt": "2026-01-05T09:00:00Z",
        "endsAt": "2026-01-05T09:05:00Z" if status == "resolved" else ZERO_TIME,
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "0123456789abcdef",
    }


def sample_data() -> Iterator[tuple[TemplateData, dict[str, Any]]]:
    """Template data for a firing, a resolved and an escalated mixed notification."""
    firing, resolved = _sample_alert("firing", "a:9100"), _sample_alert("resolved", "b:9100")
    base = {
        "receiver": "sample",
        "groupLabels": {"alertname": "SampleAlert"},
        "commonLabels": {"alertname": "SampleAlert", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://promalert.example",
        "version": "4",
        "groupKey": '{}:{alertname="SampleAlert"}',
        "truncatedAlerts": 0,
    }
    incident = {"id": 1, "state": "triggered", "level": 1, "priority": "P1", "ack_url": "http://x"}
    for alerts, extra in (
        ([firing], {}),
        ([resolved], {}),
        ([firing, resolved], {"incident": incident}),
    ):
        payload = {**base, "status": alerts[0]["status"], "alerts": alerts, **extra}
        yield _lenient(template_data("sample", payload)), payload


def _lenient(data: TemplateData) -> TemplateData:
    """``data`` with mappings that answer any key, so missing annotations are no error."""
    alerts = tuple(
        replace(a, labels=_AnyKey(a.labels), annotations=_AnyKey(a.annotations))
        for a in data.alerts
    )
    return replace(
        data,
        alerts=alerts,
        firing=tuple(a for a in alerts if a.status == "firing"),
        resolved=tuple(a for a in alerts if a.status != "firing"),
        common_labels=_AnyKey(data.common_labels),
        common_annotations=_AnyKey(data.common_annotations),
        group_labels=_AnyKey(data.group_labels),
    )


def _unknown_names(templates: Templates, source: str, shown: str) -> list[Problem]:
    names = sorted(f.name for f in fields(TemplateData))
    try:
        ast = templates.parse(source)
        # Generates code too, which is where unknown filters and tests are found.
        unknown = meta.find_undeclared_variables(ast) - set(names) - _GLOBALS
    except jinja2.TemplateSyntaxError as exc:
        return [Problem(shown, exc.lineno or 1, 1, f"template syntax error: {exc.message}")]
    problems = []
    seen: set[str] = set()
    for node in ast.find_all(nodes.Name):
        if node.name in unknown and node.name not in seen:
            seen.add(node.name)
            problems.append(
                Problem(
                    shown,
                    node.lineno,
                    1,
                    f"unknown variable '{node.name}' (template data: {', '.join(names)})",
                )
            )
    return problems


def check_template(
    templates: Templates, name: str, channel: str | None, shown: str, source: str
) -> list[Problem]:
    """Problems of one template: syntax, unknown top-level names, then trial renders."""
    problems = _unknown_names(templates, source, shown)
    if problems or channel is None:
        return problems
    parts = CHANNEL_PARTS[channel]
    for data, _ in sample_data():
        try:
            templates.render_strict(name, parts, data.variables())
        except TemplateFailure as exc:
            path, line = exc.where if exc.where else (shown, 1)
            where = shown if Path(path).name == Path(shown).name else path
            message = str(exc).removeprefix(f"template {exc.template}: ")
            return [Problem(where, line, 1, f"{channel} template: {message}")]
    return []


def check_templates(config: Config, config_path: str | Path | None = None) -> list[Problem]:
    """Every problem in the templates ``config`` can use (defaults, user files, per config)."""
    folder = Path(config_path).parent if config_path is not None else Path(config.base_dir)
    user = user_template_files(config.templates, folder)
    templates = Templates(user)
    problems: list[Problem] = []
    for channel in CHANNEL_PARTS:
        if channel == "webhook":
            continue
        name = f"{BUILTIN_PREFIX}{channel}/default.j2"
        source = templates.source(name)
        if source is not None:
            problems += check_template(templates, name, channel, name, source)
    for name, path in sorted(user.items()):
        channel = name.split("/", 1)[0]
        problems += _check_file(templates, name, channel, path)
    for receiver in config.receivers:
        for field in type(receiver).model_fields:
            if not field.endswith("_configs") or field == "file_configs":
                continue
            channel = field.removesuffix("_configs")
            for index, channel_config in enumerate(getattr(receiver, field)):
                given = getattr(channel_config, "template", None)
                if given is None:
                    continue
                path = Path(given) if Path(given).is_absolute() else folder / given
                problem = _check_file(templates, f"file:{path}", channel, path)
                if problem and problem[0].message.startswith("cannot read"):
                    where = f"receivers {receiver.name!r} {field}[{index}].template"
                    problem = [Problem(str(path), 1, 1, f"{where}: {problem[0].message}")]
                problems += problem
    return problems


def _check_file(templates: Templates, name: str, channel: str, path: Path) -> list[Problem]:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return [Problem(str(path), 1, 1, f"cannot read template: {reason}")]
    known = channel if channel in CHANNEL_PARTS else None
    return check_template(templates, name, known, str(path), source)

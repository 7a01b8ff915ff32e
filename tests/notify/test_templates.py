"""Notification templates: overrides, inheritance, sandboxing, escaping, fallback."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from provider_server import alert, message

import promalert
from promalert.metrics import Metrics
from promalert.model import Alert
from promalert.notify.template_data import TemplateData, template_data
from promalert.notify.templates import CHANNEL_PARTS, Templates, user_template_files

REPO = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def data_for(*alerts: Alert, **labels: str) -> tuple[TemplateData, dict[str, Any]]:
    msg = message(*alerts) if alerts else message(alert(**labels))
    return template_data("team", msg.payload), msg.payload


def test_repo_templates_folder_is_the_package_defaults() -> None:
    package = Path(promalert.__file__).parent / "templates"
    assert (REPO / "templates").resolve() == package.resolve()
    for channel in CHANNEL_PARTS:
        if channel != "webhook":
            assert (REPO / "templates" / channel / "default.j2").is_file()


def test_override_precedence(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t/slack/default.j2",
        "{% block title %}user default{% endblock %}{% block text %}{% endblock %}",
    )
    write(
        tmp_path,
        "t/slack/disk.j2",
        "{% block title %}by type{% endblock %}{% block text %}{% endblock %}",
    )
    write(
        tmp_path,
        "t/slack/HighCPU.j2",
        "{% block title %}by name{% endblock %}{% block text %}{% endblock %}",
    )
    own = write(
        tmp_path,
        "own.j2",
        "{% block title %}per config{% endblock %}{% block text %}{% endblock %}",
    )
    templates = Templates(user_template_files(["t/**/*.j2"], tmp_path))
    data, payload = data_for(type="disk")
    assert templates.render("slack", data, payload, template=str(own))["title"] == "per config"
    assert templates.render("slack", data, payload)["title"] == "by name"
    data, payload = data_for(alert(name="DiskFull", type="disk"))
    assert templates.render("slack", data, payload)["title"] == "by type"
    data, payload = data_for(alert(name="Other"))
    assert templates.render("slack", data, payload)["title"] == "user default"
    assert Templates().render("slack", data, payload)["title"].startswith("[FIRING:1] ")


def test_an_override_can_extend_the_builtin_and_replace_one_block(tmp_path: Path) -> None:
    write(
        tmp_path,
        "slack/HighCPU.j2",
        '{% extends "builtin/slack/default.j2" %}{% block title %}CPU! {{ super() }}{% endblock %}',
    )
    templates = Templates(user_template_files(["**/*.j2"], tmp_path))
    data, payload = data_for()
    parts = templates.render("slack", data, payload)
    assert parts["title"] == "CPU! [FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"
    assert parts["text"].startswith("*FIRING* `HighCPU`")


@pytest.mark.parametrize(
    "body",
    [
        "{{ nope }}",  # undefined variable (StrictUndefined)
        "{{ alerts[0].lables.x }}",  # undefined attribute
        "{{ ''.__class__.__mro__ }}",  # the sandbox refuses
        "{{ 1 / 0 }}",
        "{% include 'missing.j2' %}",
    ],
)
def test_a_failing_template_falls_back_to_plain_text_counted_and_logged(
    tmp_path: Path, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        "broken.j2",
        "{% block title %}" + body + "{% endblock %}{% block text %}x{% endblock %}",
    )
    metrics = Metrics()
    templates = Templates(
        on_fallback=lambda c: metrics.notification_template_failures.labels(channel=c).inc()
    )
    data, payload = data_for()
    with caplog.at_level(logging.WARNING):
        parts = templates.render("slack", data, payload, template=str(path))
    title = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"
    assert parts == {
        "title": title,
        "text": f"{title}\n- [firing] HighCPU instance=web-1 severity=critical: CPU at 97%",
    }
    sample = metrics.registry.get_sample_value(
        "promalert_notification_template_failures_total", {"channel": "slack"}
    )
    assert sample == 1
    assert f"template {path}" in caplog.text and "sent as plain text" in caplog.text


def test_fallback_fills_every_part_of_the_channel(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.j2", "{% block subject %}{{ x }}{% endblock %}")
    data, payload = data_for(team="<b>")
    parts = Templates().render("email", data, payload, template=str(path))
    assert set(parts) == {"subject", "text", "html"}
    assert parts["html"].startswith("<pre>") and "&lt;b&gt;" in parts["html"]
    body = Templates().render("webhook", data, payload, template=str(path))
    assert body["body"].startswith('{"receiver":"team"')


def test_html_parts_are_escaped_and_text_parts_are_not() -> None:
    data, payload = data_for(team="<i>&")
    email = Templates().render("email", data, payload)
    assert "team = <i>&" in email["text"]
    assert "<td>&lt;i&gt;&amp;</td>" in email["html"]
    telegram = Templates().render("telegram", data, payload)
    assert "team=&lt;i&gt;&amp;" in telegram["text"] and "<b>" in telegram["text"]


def test_templates_cannot_change_the_data(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.j2",
        "{% block title %}{{ common_labels.update({'x': '1'}) }}{% endblock %}"
        "{% block text %}{% endblock %}",
    )
    data, payload = data_for()
    parts = Templates().render("slack", data, payload, template=str(path))
    assert "x" not in data.common_labels
    assert parts["title"].startswith("[FIRING:1]")  # fell back: the sandbox refused


def test_user_template_files_named_by_channel_folder(tmp_path: Path) -> None:
    write(tmp_path, "a/slack/X.j2", "")
    write(tmp_path, "b/slack/X.j2", "")
    write(tmp_path, "b/email/default.j2", "")
    found = user_template_files(["a/**/*.j2", "b/**/*.j2"], tmp_path)
    assert sorted(found) == ["email/default.j2", "slack/X.j2"]
    assert found["slack/X.j2"] == tmp_path / "b/slack/X.j2"
    assert user_template_files([os.path.join(str(tmp_path), "a/*/*.j2")], "/elsewhere") == {
        "slack/X.j2": tmp_path / "a/slack/X.j2"
    }

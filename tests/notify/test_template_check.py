"""``promalert check`` reports notification template problems at their file and line."""

from __future__ import annotations

import io
from pathlib import Path

from promalert.check import run_check
from promalert.config.loader import load_config
from promalert.notify.template_check import check_templates

CONFIG = """\
templates: ['templates/**/*.j2']
route: {receiver: team}
receivers:
  - name: team
    slack_configs:
      - api_url: http://127.0.0.1:1/hook
        template: own/slack.j2
"""
GOOD = (
    "{% block title %}{{ title }}{% endblock %}"
    "{% block text %}{{ alerts[0].annotations.runbook }}{% endblock %}"
)


def setup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    config = tmp_path / "promalert.yml"
    config.write_text(CONFIG)
    return config


def problems(config: Path) -> list[str]:
    return [str(p) for p in check_templates(load_config(config), config)]


def test_valid_templates_and_missing_annotations_are_fine(tmp_path: Path) -> None:
    config = setup(tmp_path, {"own/slack.j2": GOOD, "templates/slack/HighCPU.j2": GOOD})
    assert problems(config) == []
    out = io.StringIO()
    assert run_check(str(config), [], out) == 0
    assert out.getvalue().startswith("SUCCESS: config ")


def test_each_kind_of_template_problem_is_located(tmp_path: Path) -> None:
    config = setup(
        tmp_path,
        {
            "own/slack.j2": GOOD,
            "templates/slack/Syntax.j2": "{% block title %}\n{{ title \n{% endblock %}",
            "templates/slack/Unknown.j2": "{% block title %}\n\n{{ alets }}{% endblock %}",
            "templates/slack/Typo.j2": "{% block title %}\n{{ alerts[0].lables }}\n{% endblock %}"
            "{% block text %}{% endblock %}",
            "templates/slack/Missing.j2": "{% block title %}x{% endblock %}",
            "templates/email/Filter.j2": "{% block subject %}{{ title|nosuch }}{% endblock %}",
            "templates/common/macros.j2": "{% macro m(x) %}{{ x }}{% endmacro %}",
        },
    )
    folder = tmp_path / "templates"
    got = problems(config)
    assert got == [
        f"{folder}/email/Filter.j2:1:1: template syntax error: No filter named 'nosuch'.",
        f"{folder}/slack/Missing.j2:1:1: slack template: no block 'text'",
        f"{folder}/slack/Syntax.j2:3:1: template syntax error: expected token "
        "'end of print statement', got '{'",
        f"{folder}/slack/Typo.j2:2:1: slack template: "
        "'promalert.notify.template_data.AlertData object' has no attribute 'lables'",
        f"{folder}/slack/Unknown.j2:3:1: unknown variable 'alets' (template data: ack_url, "
        "alerts, common_annotations, common_labels, digest, external_url, firing, group_key, "
        "group_labels, incident, priority, receiver, resolved, severity, status, title, "
        "truncated_alerts)",
    ]
    out = io.StringIO()
    assert run_check(str(config), [], out) == 1
    assert len(out.getvalue().splitlines()) == 5


def test_a_missing_per_config_template_is_reported(tmp_path: Path) -> None:
    config = setup(tmp_path, {})
    (problem,) = problems(config)
    assert problem == (
        f"{tmp_path}/own/slack.j2:1:1: receivers 'team' slack_configs[0].template: "
        "cannot read template: No such file or directory"
    )

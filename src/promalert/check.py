"""``promalert check``: validate the config, rule files and notification templates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from promalert.config.loader import load_everything
from promalert.notify.template_check import check_templates

DEFAULT_CONFIG = "promalert.yml"
USAGE = "usage: promalert check [--config FILE] [RULE_FILE...]"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def run_check(
    config_path: str | None,
    rule_files: Sequence[str],
    out: TextIO,
    *,
    env: Mapping[str, str] | None = None,
) -> int:
    """Check a config and/or rule files; print ``path:line:column: message`` lines.

    Returns 0 when everything is valid, 1 when any problem was found, 2 when there is
    nothing to check (no arguments and no ``promalert.yml`` in the current directory).
    """
    if config_path is None and not rule_files:
        if not Path(DEFAULT_CONFIG).is_file():
            print(USAGE, file=out)
            print(
                f"error: no {DEFAULT_CONFIG} in the current directory; "
                "give --config FILE and/or rule files",
                file=out,
            )
            return 2
        config_path = DEFAULT_CONFIG
    config, rules, problems = load_everything(config_path, rule_files, env=env)
    if config is not None:
        problems += check_templates(config, config_path)
    # Notes (ignored recording rules) go in file order among the problems.
    for problem in sorted([*problems, *rules.notes], key=lambda p: (p.path, p.line, p.column)):
        print(problem, file=out)
    if problems:
        return 1
    alerting = sum(len(group.alerting_rules) for group in rules.groups)
    parts = [
        _count(len(rules.files), "rule file"),
        _count(len(rules.groups), "group"),
        _count(alerting, "alerting rule"),
    ]
    if rules.notes:
        parts.append(f"{_count(len(rules.notes), 'recording rule')} ignored")
    if config_path is not None:
        parts.insert(0, f"config {config_path}")
    print(f"SUCCESS: {', '.join(parts)}", file=out)
    return 0

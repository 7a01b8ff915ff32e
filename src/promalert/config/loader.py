"""Loads ``promalert.yml`` and rule files, collecting every problem at its YAML position.

The config gets ``${VAR}`` / ``${VAR:-default}`` expansion; rule files are taken as
written (their templates use ``$labels`` and ``$value``). Each rule is dispatched to its
model by its keys and validated on its own, so every broken rule is reported at its line.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from promalert.config.models import Config
from promalert.config.yamlpos import (
    Document,
    Locator,
    NodePath,
    dotted,
    load_yaml,
    validate,
    yaml_type,
)
from promalert.errors import ConfigError, Problem, TemplateError
from promalert.rules.spec import RULE_SPECS, ExprRule, RecordingRule, RuleGroup
from promalert.rules.template import alert_template_name, parse_template

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Keys SPEC names whose models this version does not have yet, by parent ("*" = any index).
_PLANNED: dict[tuple[str, ...], frozenset[str]] = {
    ("global",): frozenset({"http_config"}),
}


def _expand(
    value: Any, at: NodePath, env: Mapping[str, str], locator: Locator, bad: dict[NodePath, str]
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string value (not in keys).

    Unset variables without a default are collected in ``bad`` as path -> variable names.
    """
    if isinstance(value, dict):
        return {k: _expand(v, (*at, k), env, locator, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, (*at, i), env, locator, bad) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        got = env.get(name)
        if default is not None and not got:
            return default  # like the shell, ':-' also covers a variable set to ""
        if got is None:
            bad[at] = f"{bad[at]}, {name}" if at in bad else name
            return ""
        return got

    return _VAR.sub(substitute, value)


def _read(path: str | Path) -> Document:
    """Load one YAML file; an unreadable file is a problem at 1:1."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")
        return Document(None, Locator(shown), [problem])
    except UnicodeDecodeError as exc:
        problem = Problem(shown, 1, 1, f"file is not UTF-8 text: {exc.reason}")
        return Document(None, Locator(shown), [problem])
    return load_yaml(text, shown)


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line, p.column))


def _load_config(
    path: str | Path, env: Mapping[str, str] | None
) -> tuple[Config | None, list[str], list[Problem]]:
    """The config (None if invalid), its rule_files globs, and every problem found."""
    doc = _read(path)
    problems = list(doc.problems)
    if doc.data is None and problems:
        return None, [], problems
    bad: dict[NodePath, str] = {}
    environ = os.environ if env is None else env
    data = _expand({} if doc.data is None else doc.data, (), environ, doc.locator, bad)
    globs: list[str] = []
    base_dir = str(Path(path).absolute().parent)
    if isinstance(data, dict):
        if "base_dir" in data:
            problems.append(
                doc.locator.problem(("base_dir",), "unknown key 'base_dir'", at_key=True)
            )
        if isinstance(data.get("rule_files"), list):
            globs = [g for g in data["rule_files"] if isinstance(g, str)]
        data["base_dir"] = base_dir
    # An unset variable is reported once, not again as whatever its empty value breaks.
    context = {"base_dir": base_dir}
    config, errors = validate(Config, data, doc.locator, (), context, frozenset(bad), _PLANNED)
    for at, names in bad.items():
        message = f"environment variable not set: {names} (write ${{VAR:-default}} for a default)"
        problems.append(doc.locator.problem(at, f"{dotted(at)}: {message}"))
    problems += errors
    return (None if problems else config), globs, problems


def _load_rule(raw: Any, at: NodePath, locator: Locator) -> tuple[Any, list[Problem]]:
    """One rule, validated as the model its keys call for; (None, problems) if invalid."""
    if not isinstance(raw, dict):
        return None, [locator.problem(at, f"{dotted(at)}: a rule must be a mapping")]
    if "record" in raw and "alert" in raw:
        message = f"{dotted(at)}: give either 'alert' or 'record', not both"
        return None, [locator.problem((*at, "record"), message, at_key=True)]
    expected = ", ".join(sorted(RULE_SPECS))
    model: type[BaseModel]
    if "record" in raw:
        model = RecordingRule
    elif "kind" in raw and raw["kind"] != "expr":
        kind = raw["kind"]
        if not isinstance(kind, str) or kind not in RULE_SPECS:
            message = (
                f"{dotted((*at, 'kind'))}: unknown kind {kind!r} (expected one of: {expected})"
            )
            return None, [locator.problem((*at, "kind"), message)]
        model = RULE_SPECS[kind]
    elif "expr" not in raw:
        message = f"{dotted(at)}: a rule needs 'expr' (Prometheus rule) or 'kind' ({expected})"
        return None, [locator.problem(at, message)]
    else:
        model = ExprRule
    problems: list[Problem] = []
    skip: frozenset[NodePath] = frozenset()
    expr = raw.get("expr")
    if isinstance(expr, str) and not expr.strip():
        problems.append(
            locator.problem((*at, "expr"), f"{dotted((*at, 'expr'))}: must not be empty")
        )
        skip = frozenset({(*at, "expr")})
    rule, errors = validate(model, raw, locator, at, None, skip)
    return (None if problems else rule), problems + errors


def _load_group(
    raw: Any, at: NodePath, locator: Locator, notes: list[Problem]
) -> tuple[RuleGroup | None, list[Problem]]:
    """One rule group with each of its rules validated separately."""
    if not isinstance(raw, dict):
        return None, [locator.problem(at, f"{dotted(at)}: a group must be a mapping")]
    problems: list[Problem] = []
    if "source" in raw:
        problems.append(locator.problem((*at, "source"), "unknown key 'source'", at_key=True))
    rules: list[Any] = []
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_rules, list):
        message = f"{dotted((*at, 'rules'))}: expected a list, got {yaml_type(raw_rules)}"
        problems.append(locator.problem((*at, "rules"), message))
        raw_rules = []
    for index, raw_rule in enumerate(raw_rules):
        rule, errors = _load_rule(raw_rule, (*at, "rules", index), locator)
        problems += errors
        rules.append(rule)
        if isinstance(rule, RecordingRule):
            message = f"recording rule '{rule.record}' ignored (keep recording rules in Prometheus)"
            notes.append(locator.problem((*at, "rules", index, "record"), message, at_key=True))
    fields = {k: v for k, v in raw.items() if k not in ("rules", "source")}
    valid = [r for r in rules if r is not None]
    group, errors = validate(
        RuleGroup, {**fields, "rules": valid, "source": locator.path}, locator, at
    )
    problems += errors
    return (None if problems else group), problems


def _load_rule_file(
    path: str | Path,
) -> tuple[list[RuleGroup], Locator, list[Problem], list[Problem]]:
    """Groups, locator, problems and notes of one Prometheus-format rule file."""
    doc = _read(path)
    locator, data = doc.locator, doc.data
    problems, notes, groups = list(doc.problems), list[Problem](), list[RuleGroup]()
    if data is None:  # an empty rule file is valid, as in Prometheus
        return [], locator, problems, notes
    if not isinstance(data, dict):
        problems.append(locator.problem((), "a rule file must be a mapping with a 'groups' list"))
        return [], locator, problems, notes
    for key in data:
        if key != "groups":
            message = f"unknown key '{key}' (a rule file holds only 'groups')"
            problems.append(locator.problem((key,), message, at_key=True))
    raw_groups = data.get("groups") or []
    if not isinstance(raw_groups, list):
        message = f"groups: expected a list, got {yaml_type(raw_groups)}"
        return [], locator, [*problems, locator.problem(("groups",), message)], notes
    first: dict[str, int] = {}
    for index, raw in enumerate(raw_groups):
        at: NodePath = ("groups", index)
        name = raw.get("name") if isinstance(raw, dict) else None
        if isinstance(name, str) and first.setdefault(name, index) != index:
            line = locator.position(("groups", first[name], "name"))[0]
            message = f"{dotted(at)}.name: duplicate group name '{name}' (first at line {line})"
            problems.append(locator.problem((*at, "name"), message))
        group, errors = _load_group(raw, at, locator, notes)
        problems += errors
        if group is not None:
            groups.append(group)
    return groups, locator, problems, notes


@dataclass(frozen=True, slots=True)
class LoadedRules:
    """Rule groups loaded from files, with notes and where each group came from."""

    groups: list[RuleGroup]
    notes: list[Problem]
    files: list[str]
    # origins[i] locates groups[i]: its file's Locator and its index among that file's groups.
    origins: list[tuple[Locator, int]]

    def problem(self, group: int, path: NodePath, message: str) -> Problem:
        """A Problem at ``path`` in ``groups[group]``, e.g. ``("rules", 2, "annotations", "x")``."""
        locator, index = self.origins[group]
        return locator.problem(("groups", index, *path), message)


def _template_problems(groups: Sequence[RuleGroup], locator: Locator) -> list[Problem]:
    """Parse every label and annotation template, as Prometheus does when it loads rules."""
    problems = []
    for g, group in enumerate(groups):
        for r, rule in enumerate(group.rules):
            if isinstance(rule, RecordingRule):
                continue
            name = alert_template_name(rule.alert)
            for field in ("labels", "annotations"):
                for key, text in getattr(rule, field).items():
                    try:
                        parse_template(text, name)
                    except TemplateError as exc:
                        where = ("groups", g, "rules", r, field, key)
                        problems.append(locator.problem(where, f"{field}.{key}: {exc}"))
    return problems


def _load_rules(paths: Sequence[str | Path]) -> tuple[LoadedRules, list[Problem]]:
    """Every rule file in ``paths`` (each once), without raising."""
    seen: set[str] = set()
    loaded = LoadedRules([], [], [], [])
    problems: list[Problem] = []
    for path in paths:
        key = os.path.abspath(path)
        if key in seen:
            continue
        seen.add(key)
        groups, locator, errors, notes = _load_rule_file(path)
        if not errors:  # rule indexes match the file's only when every rule loaded
            errors = _template_problems(groups, locator)
        loaded.files.append(str(path))
        loaded.groups.extend(groups)
        loaded.origins.extend((locator, i) for i in range(len(groups)))
        loaded.notes.extend(notes)
        problems += errors
    return loaded, problems


def rule_file_paths(config_path: str | Path, patterns: Sequence[str]) -> list[str]:
    """Files matched by ``rule_files`` globs, relative to the config's folder, sorted per glob."""
    folder = Path(config_path).parent
    paths: list[str] = []
    for pattern in patterns:
        full = pattern if os.path.isabs(pattern) else str(folder / pattern)
        # A glob matching nothing is not an error, as in Prometheus.
        paths += sorted(glob.glob(full))
    return paths


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate ``promalert.yml``; raise ConfigError listing every problem."""
    config, _, problems = _load_config(path, env)
    if config is None or problems:
        raise ConfigError(_sorted(problems))
    return config


def load_rules(paths: Sequence[str | Path]) -> LoadedRules:
    """Load rule files with their notes and locators; raise ConfigError listing every problem."""
    loaded, problems = _load_rules(paths)
    if problems:
        raise ConfigError(_sorted(problems))
    return loaded


def load_rule_files(paths: Sequence[str | Path]) -> list[RuleGroup]:
    """Load rule files; raise ConfigError listing every problem across all of them."""
    return load_rules(paths).groups


def load_rule_files_with_notes(
    paths: Sequence[str | Path],
) -> tuple[list[RuleGroup], list[Problem]]:
    """Load rule files; also return notes such as recording rules that are ignored."""
    loaded = load_rules(paths)
    return loaded.groups, _sorted(loaded.notes)


def load_everything(
    config_path: str | Path | None,
    rule_files: Sequence[str | Path] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[Config | None, LoadedRules, list[Problem]]:
    """Config (if given), its rule files plus ``rule_files``, and all problems, sorted; no raise."""
    config, problems, paths = None, list[Problem](), [str(p) for p in rule_files]
    if config_path is not None:
        config, globs, problems = _load_config(config_path, env)
        paths = rule_file_paths(config_path, globs) + paths
    loaded, errors = _load_rules(paths)
    return config, loaded, _sorted(problems + errors)


def load_all(
    config_path: str | Path, *, env: Mapping[str, str] | None = None
) -> tuple[Config, list[RuleGroup]]:
    """Load the config and its rule files, raising one ConfigError with problems from both."""
    config, loaded, problems = load_everything(config_path, env=env)
    if config is None or problems:
        raise ConfigError(problems)
    return config, loaded.groups

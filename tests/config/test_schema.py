"""``promalert config schema``: JSON Schema of promalert.yml checked with jsonschema.

The schema must accept the shipped example (deploy/promalert.yml) and the other configs
in deploy/, reject broken copies of it, and agree with the loader: whatever it rejects
here, ``load_config`` rejects too. The Markdown reference in docs/ must be current.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from promalert.cli import main
from promalert.config.loader import load_config
from promalert.config.reference import reference_markdown
from promalert.config.schema import config_schema, run_schema_command
from promalert.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "promalert.yml"
SECRET_DIR = "/etc/promalert/secrets/"

Config = dict[str, Any]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """A validator for the schema the CLI prints."""
    schema = config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def example() -> Config:
    """deploy/promalert.yml as data."""
    data: Config = yaml.safe_load(EXAMPLE.read_text())
    return data


def errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    """Every schema error, as ``path: message``."""
    return [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(data)
    ]


def loadable_copy(data: Config, folder: Path) -> Path:
    """Write ``data`` into ``folder`` with its secret files and rule files present."""
    secrets = folder / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data)
    for name in set(re.findall(re.escape(SECRET_DIR) + r"([A-Za-z0-9_.-]+)", text)):
        (secrets / name).write_text(f"https://secret.example.com/{name}\n")
    text = text.replace(SECRET_DIR, f"{secrets}/")
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "demo.yml").write_text((ROOT / "rules" / "demo.yml").read_text())
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(json.loads(text), sort_keys=False))
    return path


def test_the_cli_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == config_schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["additionalProperties"] is False


def test_the_example_config_is_valid(validator: jsonschema.Draft202012Validator) -> None:
    data = example()
    for key in ("users", "contact_channels", "schedules", "escalation_policies"):
        assert key in data, key  # the example shows every major section
    assert data["route"]["routes"][0]["escalation"] == "critical"
    assert errors(validator, data) == []


def test_the_loader_accepts_the_example_too(tmp_path: Path) -> None:
    config = load_config(loadable_copy(example(), tmp_path), env={})
    assert config.route.routes[0].escalation == "critical"
    assert config.datasource is not None and config.datasource.url == "http://127.0.0.1:9090"


def _drop(*path: str | int) -> Callable[[Config], None]:
    def change(data: Config) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def _set(value: Any, *path: str | int) -> Callable[[Config], None]:
    def change(data: Config) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


BROKEN: dict[str, Callable[[Config], None]] = {
    "unknown top-level key": _set({"x": 1}, "alertmanager"),
    "misspelt route key": _set("30s", "route", "group_wiat"),
    "route without receivers list": _drop("receivers"),
    "no receivers": _set([], "receivers"),
    "duration without unit": _set(30, "route", "group_wait"),
    "duration in words": _set("5 minutes", "global", "evaluation_interval"),
    "webhook without url": _drop("receivers", 3, "webhook_configs", 0, "url"),
    "secret and its file both given": _set("/x", "receivers", 3, "webhook_configs", 0, "url_file"),
    "negative max_alerts": _set(-1, "receivers", 3, "webhook_configs", 0, "max_alerts"),
    "matchers not a list": _set('severity="critical"', "route", "routes", 0, "matchers"),
    "user entry not a mapping": _set("alice@example.com", "users", "bob"),
    "unknown rotation": _set("fortnightly", "schedules", "primary", "layers", 0, "rotation"),
    "level without targets": _drop("escalation_policies", "critical", "levels", 0, "targets"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_copies_are_rejected_by_schema_and_loader(
    name: str, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    data = copy.deepcopy(example())
    BROKEN[name](data)
    assert errors(validator, data), f"the schema accepted: {name}"
    with pytest.raises(ConfigError):
        load_config(loadable_copy(data, tmp_path), env={})


def test_environment_references_and_secret_files_are_accepted(
    validator: jsonschema.Draft202012Validator,
) -> None:
    data = example()
    data["global"]["evaluation_interval"] = "${EVAL_INTERVAL:-30s}"
    data["route"]["group_wait"] = 0
    hook = data["receivers"][3]["webhook_configs"][0]
    hook["max_alerts"] = "${MAX_ALERTS}"
    hook["send_resolved"] = "${SEND_RESOLVED:-false}"
    hook["url_file"] = hook.pop("url")
    data["receivers"][1]["sms_configs"][0]["to"] = "+15550001"  # one number as a string
    data["receivers"][2]["email_configs"][0]["to"] = "a@example.com, b@example.com"
    assert errors(validator, data) == []


def _untyped(node: Any, at: str) -> Iterator[str]:
    """Paths of schema nodes that accept anything because nothing described their input."""
    if not isinstance(node, dict):
        return
    keywords = {"type", "$ref", "anyOf", "oneOf", "allOf", "const", "enum", "not", "required"}
    if not keywords & set(node):
        yield at
    for key in ("anyOf", "oneOf", "allOf"):
        for i, option in enumerate(node.get(key, [])):
            yield from _untyped(option, f"{at}/{key}/{i}")
    for name, prop in node.get("properties", {}).items():
        yield from _untyped(prop, f"{at}/{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _untyped(node[key], f"{at}/{key}")


def test_every_key_has_a_type() -> None:
    """A validator promalert.config.schema does not know leaves its key untyped: teach it."""
    schema = config_schema()
    found = [p for name, d in schema["$defs"].items() for p in _untyped(d, name)]
    found += [p for k, v in schema["properties"].items() for p in _untyped(v, k)]
    assert found == [], "add these validators' inputs to schema._VALIDATOR_INPUTS"


def test_internal_fields_are_not_keys() -> None:
    assert "base_dir" not in config_schema()["properties"]


def test_the_committed_reference_is_current() -> None:
    out = io.StringIO()
    assert run_schema_command("markdown", out) == 0
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == out.getvalue(), (
        "docs/configuration.md is stale: "
        "promalert config schema --format markdown > docs/configuration.md"
    )


def test_the_reference_lists_every_section() -> None:
    text = reference_markdown(config_schema())
    for key in ("`route`", "`escalation_policies`", "`url_file`", "`escalation`", "duration"):
        assert key in text, key
    assert "| `url` | secret |  | yes (or `url_file`) |" in text

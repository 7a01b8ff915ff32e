"""A Markdown reference of ``promalert.yml``, rendered from its JSON Schema.

One section per config model, in the order a reader meets them from the top level; each
lists its keys with type, default and whether it is required. It is what
``promalert config schema --format markdown`` prints and what ``docs/configuration.md`` holds.
"""

from __future__ import annotations

import json
from typing import Any

_HEADER = """\
# `promalert.yml` reference

Generated from the config models by `promalert config schema --format markdown`; do not
edit by hand. `promalert config schema` prints the same as JSON Schema (draft 2020-12) for
editors. Every secret key `x` may be given as `x_file` (a file holding it, relative to the
config file's folder); numbers, booleans and durations may be written as `${VAR}` or
`${VAR:-default}`, expanded from the environment when the config is loaded.
"""


def _anchor(name: str) -> str:
    return name.lower()


def _type(node: dict[str, Any]) -> str:
    """How a key's schema reads in one line of the table."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name == "Duration":
            return "duration"
        return f"[{name}](#{_anchor(name)})"
    if "anyOf" in node or "oneOf" in node:
        parts = []
        for option in node.get("anyOf", node.get("oneOf", [])):
            if option.get("type") == "null" or option.get("$ref", "").endswith("/EnvReference"):
                continue
            text = _type(option)
            if text not in parts:
                parts.append(text)
        return " or ".join(parts) or "null"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    kind = node.get("type")
    if kind == "string" and node.get("format") == "password":
        return "secret"
    if kind == "array":
        return f"list of {_type(node.get('items', {}))}"
    if kind == "object":
        if "propertyNames" in node and "additionalProperties" in node:
            return "label map"
        values = node.get("additionalProperties")
        return f"map of {_type(values)}" if isinstance(values, dict) else "mapping"
    if isinstance(kind, list):
        return " or ".join(kind)
    return str(kind) if kind else "any"


def _required(model: dict[str, Any]) -> dict[str, str]:
    """The Required cell of each required key; ``x`` / ``x_file`` pairs name each other."""
    cells = dict.fromkeys(model.get("required", []), "yes")
    for rule in model.get("allOf", []):
        keys = [key for option in rule.get("oneOf", []) for key in option.get("required", [])]
        for key in keys:
            others = ", ".join(f"`{other}`" for other in keys if other != key)
            cells[key] = f"yes (or {others})"
    return cells


def _text(doc: str) -> str:
    """A docstring's reStructuredText literals as Markdown code."""
    return doc.replace("``", "`")


def _default(node: dict[str, Any]) -> str:
    if "default" not in node or node["default"] in (None, [], {}):
        return ""
    return f"`{json.dumps(node['default'])}`"


def _children(node: Any, suffix: str = "") -> list[tuple[str, str]]:
    """Definitions ``node`` refers to, each with where it sits below the key (``[]``, ...)."""
    if not isinstance(node, dict):
        return []
    found = [(node["$ref"].rsplit("/", 1)[1], suffix)] if "$ref" in node else []
    for key in ("anyOf", "oneOf", "allOf"):
        found += [c for option in node.get(key, []) for c in _children(option, suffix)]
    if isinstance(node.get("items"), dict):
        found += _children(node["items"], f"{suffix}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _children(node["additionalProperties"], f"{suffix}.<name>")
    return found


def _below(model: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(definition, YAML path) for every definition the keys of ``model`` use."""
    prefix = f"{path}." if path else ""
    return [
        (name, f"{prefix}{key}{suffix}")
        for key, node in model.get("properties", {}).items()
        for name, suffix in _children(node)
    ]


def _section(title: str, model: dict[str, Any]) -> list[str]:
    lines = [f"## {title}", ""]
    if model.get("description"):
        lines += [_text(model["description"]), ""]
    required = _required(model)
    lines += ["| Key | Type | Default | Required | Notes |", "|---|---|---|---|---|"]
    for key, node in model.get("properties", {}).items():
        need = required.get(key, "")
        cells = [f"`{key}`", _type(node), _default(node), need, _text(node.get("description", ""))]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return [*lines, ""]


def reference_markdown(schema: dict[str, Any]) -> str:
    """The Markdown reference of the config described by ``schema``."""
    defs: dict[str, Any] = schema.get("$defs", {})
    lines = [_HEADER, *_section("Top level", schema)]
    seen: dict[str, str] = {}
    queue = _below(schema, "")
    while queue:  # breadth first: each section soon after the one using it, at its first path
        name, path = queue.pop(0)
        if name in seen or "properties" not in defs.get(name, {}):
            continue
        seen[name] = path
        queue += _below(defs[name], path)
    for name, path in seen.items():
        title = f"`{path}` ({name})"
        lines += [f'<a id="{_anchor(name)}"></a>', "", *_section(title, defs[name])]
    return "\n".join(lines).rstrip("\n") + "\n"

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


def _refs(node: Any) -> list[str]:
    """Names of the definitions ``node`` refers to, in document order."""
    if isinstance(node, list):
        return [name for item in node for name in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else []
    return found + [name for value in node.values() for name in _refs(value)]


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
    order: list[str] = []
    queue = _refs(schema.get("properties", {}))
    while queue:  # breadth first, so each section comes soon after the one using it
        name = queue.pop(0)
        if name in order or name not in defs:
            continue
        order.append(name)
        queue += _refs(defs[name].get("properties", {}))
    for name in order:
        if "properties" in defs[name]:
            lines += [f'<a id="{_anchor(name)}"></a>', "", *_section(f"`{name}`", defs[name])]
    return "\n".join(lines).rstrip("\n") + "\n"

"""JSON Schema (draft 2020-12) of ``promalert.yml``, generated from the config models.

The schema is built at run time from :class:`promalert.config.models.Config`, by alias,
so every key the models accept is in it. It describes the file as written, before
promalert reads it: durations are Prometheus duration strings, every secret field ``x``
also has an ``x_file`` form, and numbers and booleans may be given as ``${VAR}`` /
``${VAR:-default}`` strings (the loader expands them before validation). Checks that
span the file (routes naming receivers, policies and time intervals that exist) stay
with ``promalert check``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TextIO

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from promalert.config.models import Config
from promalert.durations import format_duration

DIALECT = "https://json-schema.org/draft/2020-12/schema"
"""The JSON Schema dialect of :func:`config_schema`."""

ENV_PATTERN = r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}"
"""A ``${VAR}`` or ``${VAR:-default}`` reference inside a string."""

DURATION_PATTERN = r"^(0|([0-9]+(ms|y|w|d|h|m|s))+)$"
"""A Prometheus duration such as ``30s``, ``5m`` or ``1h30m``."""

_ENV_DEF: JsonSchemaValue = {
    "type": "string",
    "pattern": ENV_PATTERN,
    "description": "an environment variable reference, expanded when the config is loaded",
}
_DURATION_DEF: JsonSchemaValue = {
    "anyOf": [
        {"type": "string", "pattern": DURATION_PATTERN},
        {"const": 0},
        {"$ref": "#/$defs/EnvReference"},
    ],
    "description": "a Prometheus duration: 30s, 5m, 1h30m (units ms, s, m, h, d, w, y)",
}
# Shared definitions added to $defs beside the models'.
_SHARED_DEFS = {"EnvReference": _ENV_DEF, "Duration": _DURATION_DEF}
# pydantic resolves every "$ref" it meets while generating, so shared definitions are
# marked with this key and turned into "$ref"s once generation is done.
_SHARED = "x-promalert-shared"
_ENV: JsonSchemaValue = {_SHARED: "EnvReference"}
_DURATION: JsonSchemaValue = {_SHARED: "Duration"}
_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
_LABEL_MAP: JsonSchemaValue = {
    "type": "object",
    "propertyNames": {"pattern": _LABEL_NAME},
    "additionalProperties": {"type": "string"},
}
# Alertmanager's match/match_re values may be written as bare numbers (severity: 1).
_MATCH_MAP: JsonSchemaValue = {
    **_LABEL_MAP,
    "additionalProperties": {"type": ["string", "number"]},
}
_STRINGS: JsonSchemaValue = {"type": "array", "items": {"type": "string"}}

# Validator functions (module + qualified name) whose input the core schema does not
# describe: what each accepts as written in YAML. A validator missing here falls back to
# pydantic's own answer, and tests/config/test_schema.py asks that every key has a type.
_DURATION_VALIDATOR = "promalert.config.types._duration"
_VALIDATOR_INPUTS: dict[str, JsonSchemaValue] = {
    _DURATION_VALIDATOR: _DURATION,
    "promalert.config.types.parse_condition": {
        "type": "string",
        "description": "an operator and a number, like '> 90'",
    },
    "promalert.config.types._label_names": _LABEL_MAP,
    "promalert.config.matchers._label_map": _MATCH_MAP,
    "promalert.config.matchers._regex_map": _MATCH_MAP,
    "promalert.config.matchers._matcher_list": {
        **_STRINGS,
        "description": "matchers like 'severity=~\"critical|high\"'",
    },
    "promalert.config.timeintervals._range_list.<locals>.validate": {
        "anyOf": [_STRINGS, {"type": "null"}],
        "description": "ranges like 'monday:friday', '1:5', '-3:-1' or single values",
    },
    "promalert.config.timeintervals._location": {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "an IANA time zone like Europe/Berlin, UTC or Local",
    },
    "promalert.config.schedules.parse_time": {
        "type": "string",
        "description": "an ISO 8601 time like 2026-01-05T09:00 (local to the schedule), "
        "optionally with an offset like +01:00 or Z",
    },
    "promalert.config.schedules.parse_hours": {
        "type": "string",
        "pattern": r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$",
        "description": "a daily window like 09:00-17:00 or 22:00-06:00",
    },
    # Alertmanager takes one comma-separated string where promalert also takes a list.
    "promalert.config.receivers.EmailConfig._split": {"anyOf": [{"type": "string"}, _STRINGS]},
    "promalert.config.receivers.TwilioConfig._one": {"anyOf": [{"type": "string"}, _STRINGS]},
}


def _validator_name(schema: Any) -> str | None:
    """``module.qualname`` of a validator core schema's function (None for other schemas)."""
    holder = schema.get("function")
    function: Callable[..., Any] | None = (
        holder.get("function") if isinstance(holder, dict) else None
    )
    if function is None:
        return None
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"


def _is_duration(schema: Any) -> bool:
    """True for a Duration core schema, optional or not, with after-validators or not."""
    while schema.get("type") in ("nullable", "function-after"):
        schema = schema["schema"]
    return _validator_name(schema) == _DURATION_VALIDATOR


class _ConfigSchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, taught what promalert's validators accept as written."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        """What a before-validator accepts, when known; else its inner schema."""
        known = _VALIDATOR_INPUTS.get(_validator_name(schema) or "")
        return dict(known) if known is not None else super().function_before_schema(schema)

    def function_plain_schema(
        self, schema: core_schema.PlainValidatorFunctionSchema
    ) -> JsonSchemaValue:
        """What a plain validator accepts, when known; else pydantic's answer (any)."""
        known = _VALIDATOR_INPUTS.get(_validator_name(schema) or "")
        return dict(known) if known is not None else super().function_plain_schema(schema)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        """A key with a default; a duration's default is shown as written (``10s``, not 10.0)."""
        out = super().default_schema(schema)
        if isinstance(out.get("default"), int | float) and _is_duration(schema["schema"]):
            out["default"] = format_duration(out["default"])
        return out

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        """An integer, or a ``${VAR}`` string."""
        return {"anyOf": [super().int_schema(schema), _ENV]}

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        """A number, or a ``${VAR}`` string."""
        return {"anyOf": [super().float_schema(schema), _ENV]}

    def bool_schema(self, schema: core_schema.BoolSchema) -> JsonSchemaValue:
        """A boolean, or a ``${VAR}`` string."""
        return {"anyOf": [super().bool_schema(schema), _ENV]}

    def field_title_should_be_set(self, schema: Any) -> bool:
        """No titles on keys: pydantic's ("Group By") add nothing to the key itself."""
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """A model's object, with ``x_file`` beside each secret ``x`` and hidden fields gone."""
        out = super().model_schema(schema)
        cls = schema["cls"]
        properties: dict[str, Any] = out.get("properties", {})
        for name, field in cls.model_fields.items():
            if field.exclude:  # internal fields such as Config.base_dir are not keys
                properties.pop(field.alias or name, None)
        required: list[str] = list(out.get("required", []))
        either: list[JsonSchemaValue] = []
        for name in getattr(cls, "secret_fields", ()):
            key = f"{name}_file"
            properties[key] = {
                "type": "string",
                "description": f"file holding '{name}' (relative to the config file's folder)",
            }
            if name in required:
                required.remove(name)
                either.append({"oneOf": [{"required": [name]}, {"required": [key]}]})
            else:
                either.append({"not": {"required": [name, key]}})
        if required:
            out["required"] = required
        else:
            out.pop("required", None)
        if either:
            out["allOf"] = [*out.get("allOf", []), *either]
        return out


def _link_shared(node: Any) -> Any:
    """``node`` with every shared-definition marker replaced by a ``$ref`` to it."""
    if isinstance(node, list):
        return [_link_shared(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _link_shared(value) for key, value in node.items() if key != _SHARED}
    if _SHARED in node:
        out = {"$ref": f"#/$defs/{node[_SHARED]}", **out}
    return out


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``promalert.yml``, from the config models."""
    body = Config.model_json_schema(
        by_alias=True, mode="validation", schema_generator=_ConfigSchemaGenerator
    )
    body = _link_shared(body)
    defs = body.pop("$defs", {})
    clash = sorted(set(defs) & set(_SHARED_DEFS))
    if clash:
        raise AssertionError(f"config models named like the schema's shared definitions: {clash}")
    body.pop("title", None)
    return {
        "$schema": DIALECT,
        "title": "promalert.yml",
        **body,
        "$defs": {**_SHARED_DEFS, **defs},
    }


def schema_json() -> str:
    """:func:`config_schema` as indented JSON text ending in a newline."""
    return json.dumps(config_schema(), indent=2, sort_keys=False) + "\n"


def run_schema_command(output_format: str, out: TextIO) -> int:
    """``promalert config schema``: print the schema (``json``) or the reference (``markdown``)."""
    if output_format == "markdown":
        from promalert.config.reference import reference_markdown

        out.write(reference_markdown(config_schema()))
    else:
        out.write(schema_json())
    return 0

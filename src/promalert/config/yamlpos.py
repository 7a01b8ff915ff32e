"""YAML loading that remembers where every node came from, and validation onto it.

Built on PyYAML's SafeLoader node API: the document is composed into nodes, then turned
into plain Python values while the 1-based line and column of every mapping key and
every value are recorded under its path, e.g. ``("groups", 0, "rules", 2, "for")``.
:func:`validate` runs a pydantic model over such data and turns each error into a
Problem at the YAML node its ``loc`` names, with a message written for people.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from promalert.errors import Problem

NodePath = tuple[str | int, ...]
"""Where a node sits in a document: mapping keys and sequence indexes from the root."""

Position = tuple[int, int]
"""A 1-based (line, column)."""

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# A message that names a field first ("url_file: cannot read ...") is located at that field.
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.DOTALL)
# Internal fields that users must not set.
_HIDDEN = frozenset({"base_dir", "source"})
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Locator:
    """Positions of the keys and values of one YAML file, by node path."""

    path: str
    values: Mapping[NodePath, Position] = field(default_factory=dict)
    keys: Mapping[NodePath, Position] = field(default_factory=dict)
    # Source text of plain scalars that YAML typed as int/float/bool, for string fields.
    texts: Mapping[NodePath, str] = field(default_factory=dict)

    def position(self, path: NodePath) -> Position:
        """Position of the value at ``path``, or of the deepest existing node on that path."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return (1, 1)

    def key_position(self, path: NodePath) -> Position:
        """Position of the mapping key ending ``path``, else of its value or nearest parent."""
        return self.keys.get(path) or self.position(path)

    def problem(self, path: NodePath, message: str, *, at_key: bool = False) -> Problem:
        """A Problem in this file located at ``path``'s key (``at_key``) or value."""
        line, column = self.key_position(path) if at_key else self.position(path)
        return Problem(self.path, line, column, message)


@dataclass(frozen=True, slots=True)
class Document:
    """A loaded YAML document: its data, where each node is, and any problems found."""

    data: Any
    locator: Locator
    problems: list[Problem]


def _pos(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _yaml_problem(path: str, exc: yaml.YAMLError) -> Problem:
    """Turn a PyYAML error into a Problem at the error's mark."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        text = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.problem.startswith("but ") and exc.context:
            # PyYAML splits some sentences in two: "expected a single document", "but found ...".
            text = f"{exc.context}, {exc.problem}"
        elif exc.context and exc.problem and exc.context_mark is not None:
            where = f"line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1}"
            text += f" ({exc.context} at {where})"
        elif exc.context and exc.problem:
            text += f" ({exc.context})"
        if mark is not None:
            return Problem(path, mark.line + 1, mark.column + 1, f"YAML syntax error: {text}")
        return Problem(path, 1, 1, f"YAML syntax error: {text}")
    return Problem(path, 1, 1, f"YAML syntax error: {exc}")


class _Builder:
    """Walks composed nodes into Python values, recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.values: dict[NodePath, Position] = {}
        self.keys: dict[NodePath, Position] = {}
        self.texts: dict[NodePath, str] = {}
        self.problems: list[Problem] = []
        # Nodes on the current branch; an alias back to one of them would recurse forever.
        self.active: set[int] = set()

    def build(self, node: Node, at: NodePath) -> Any:
        self.values[at] = _pos(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, at)
        if id(node) in self.active:
            self.problems.append(Problem(self.path, *_pos(node), "recursive YAML alias"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, at)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, at: NodePath) -> Any:
        # Dates stay text: promalert's fields take times as strings, as Prometheus does.
        if node.tag == _TIMESTAMP:
            return node.value
        value = self.loader.construct_object(node)
        if isinstance(value, bool | int | float) and not node.style:
            self.texts[at] = node.value
        return value

    def mapping(self, node: MappingNode, at: NodePath) -> dict[str, Any]:
        seen: dict[str, Position] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                first = seen.setdefault(key_node.value, _pos(key_node))
                if first != _pos(key_node):
                    self.problems.append(
                        Problem(
                            self.path,
                            *_pos(key_node),
                            f"duplicate key {key_node.value!r} (first at line {first[0]})",
                        )
                    )
        # Resolves `<<: *anchor` merge keys in place; explicit keys come after and win.
        self.loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    Problem(self.path, *_pos(key_node), "mapping keys must be plain scalars")
                )
                continue
            # Keys are always text: YAML 1.1 would make `on:` the boolean true.
            key = key_node.value
            self.keys[(*at, key)] = _pos(key_node)
            out[key] = self.build(value_node, (*at, key))
        return out


_YAML_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}


def yaml_type(value: Any) -> str:
    """How YAML users call the type of ``value``: string, integer, mapping, ..."""
    if value is None:
        return "null"
    return "mapping" if isinstance(value, dict) else _YAML_TYPES.get(type(value), "value")


def dotted(path: NodePath) -> str:
    """A node path as users read it: ``groups.0.rules.2.for``."""
    return ".".join(str(part) for part in path)


def _flatten(tp: Any) -> list[Any]:
    """The plain types inside Optional/Union/Annotated wrappers."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _flatten(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [inner for arg in get_args(tp) for inner in _flatten(arg)]
    return [tp]


def _model_at(model: type[BaseModel], loc: NodePath) -> type[BaseModel] | None:
    """The model class validating the mapping at ``loc`` under ``model``, if unambiguous."""
    current: list[Any] = [model]
    for part in loc:
        found: list[Any] = []
        for tp in current:
            origin, args = get_origin(tp), get_args(tp)
            if isinstance(part, int) and origin is list and args:
                found += _flatten(args[0])
            elif isinstance(tp, type) and issubclass(tp, BaseModel):
                for name, info in tp.model_fields.items():
                    if part in (name, info.alias):
                        found += _flatten(info.annotation)
            elif origin is dict and len(args) == 2:
                found += _flatten(args[1])
        current = found
    models = [tp for tp in current if isinstance(tp, type) and issubclass(tp, BaseModel)]
    return models[0] if len(models) == 1 else None


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    keys = {info.alias or name for name, info in model.model_fields.items()}
    keys |= {f"{name}_file" for name in getattr(model, "secret_fields", ())}
    return sorted(keys - _HIDDEN)


def _unknown_key(
    model: type[BaseModel], loc: NodePath, planned: Mapping[tuple[str, ...], frozenset[str]]
) -> str:
    pattern = tuple("*" if isinstance(part, int) else part for part in loc[:-1])
    if loc[-1] in planned.get(pattern, ()):
        return f"'{loc[-1]}' is not supported by this version yet"
    parent = _model_at(model, loc[:-1])
    if parent is None:
        return f"unknown key '{loc[-1]}'"
    return f"unknown key '{loc[-1]}' (expected one of: {', '.join(_allowed_keys(parent))})"


def _to_problem(
    err: ErrorDetails,
    model: type[BaseModel],
    base: NodePath,
    locator: Locator,
    planned: Mapping[tuple[str, ...], frozenset[str]],
) -> Problem:
    """One pydantic error as a Problem at its YAML node, with a message for people."""
    loc: NodePath = tuple(err["loc"])
    kind, message = err["type"], err["msg"]
    at_key, named = False, False  # named: the message names the key, so show its parent
    if loc and loc[-1] == "[key]":  # pydantic's marker for an invalid dict key
        loc, at_key = loc[:-1], True
    if kind == "missing" and loc:
        message, named = f"missing required key '{loc[-1]}'", True
    elif kind == "extra_forbidden" and loc:
        message, at_key, named = _unknown_key(model, loc, planned), True, True
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"expected a mapping, got {yaml_type(err.get('input'))}"
    elif kind == "list_type":
        message = f"expected a list, got {yaml_type(err.get('input'))}"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
        match = _FIELD_PREFIX.match(message)
        if match:
            extra = tuple(int(p) if p.isdigit() else p for p in match.group(1).split("."))
            if (*base, *loc, *extra) in locator.values:
                loc, message = (*loc, *extra), match.group(2)
    path = (*base, *loc)
    shown = path[:-1] if named else path
    text = f"{dotted(shown)}: {message}" if shown else message
    return locator.problem(path, text, at_key=at_key)


def _set(data: Any, loc: NodePath, value: Any) -> bool:
    """Replace the value at ``loc`` inside nested dicts/lists; False if the path is absent."""
    for part in loc[:-1]:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False
    if loc and isinstance(data, dict | list):
        data[loc[-1]] = value  # type: ignore[index]
        return True
    return False


def validate(
    model: type[M],
    data: Any,
    locator: Locator,
    base: NodePath = (),
    context: dict[str, Any] | None = None,
    skip: frozenset[NodePath] = frozenset(),
    planned: Mapping[tuple[str, ...], frozenset[str]] | None = None,
) -> tuple[M | None, list[Problem]]:
    """Validate ``data`` (found at ``base``) as ``model``; problems under ``skip`` are dropped.

    ``planned`` names keys, by parent path ("*" for any index), that a later version will
    accept: they are reported as not supported yet rather than as unknown.
    """
    for _ in range(2):
        try:
            return model.model_validate(data, context=context), []
        except ValidationError as exc:
            errors = exc.errors()
        # Like Go's YAML decoder (Prometheus, Alertmanager), a string field takes a plain
        # scalar's text: `priority: 1` is the label "1". Retry once with those texts.
        retried = False
        for err in errors:
            text = locator.texts.get((*base, *err["loc"]))
            if err["type"] == "string_type" and text is not None:
                retried |= _set(data, tuple(err["loc"]), text)
        if not retried:
            break
    problems = [_to_problem(err, model, base, locator, planned or {}) for err in errors]
    return None, [
        p
        for p, err in zip(problems, errors, strict=True)
        if not any((*base, *err["loc"])[: len(s)] == s for s in skip)
    ]


def load_yaml(text: str, path: str) -> Document:
    """Parse one YAML document from ``text``; problems carry ``path`` and 1-based positions."""
    loader = yaml.SafeLoader(text)
    builder = _Builder(loader, path)
    try:
        node = loader.get_single_node()
        data = None if node is None else builder.build(node, ())
    except yaml.YAMLError as exc:
        return Document(None, Locator(path), [_yaml_problem(path, exc)])
    finally:
        loader.dispose()
    locator = Locator(path, builder.values, builder.keys, builder.texts)
    return Document(data, locator, builder.problems)

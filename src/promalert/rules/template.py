"""Alert label and annotation templates, rendered exactly as Prometheus renders them.

Prometheus expands each label and annotation of an alerting rule with Go's text/template
after this preamble, which defines the variables users write::

    {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
    {{$externalURL := .ExternalURL}}{{$value := .Value}}

promalert parses the template with those variables declared (so positions in errors are
the user's, shifted on line 1 by the preamble exactly as in Prometheus) and runs it with
Go's and Prometheus's functions. ``{{ $value }}`` prints like Go's ``%v``: 97 → ``97``,
0.5 → ``0.5``, 1000000 → ``1e+06``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from promalert.errors import TemplateError
from promalert.rules.gotemplate import (
    BUILTINS,
    GoFunc,
    GoStruct,
    GoTemplateError,
    Tree,
    execute,
    parse,
)
from promalert.rules.gotemplate import format_value as _go_format_value
from promalert.rules.gotemplate.promfuncs import prometheus_functions

PREAMBLE = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)
"""What Prometheus puts before every alert template (``rules/alerting.go``)."""

_VARIABLES = ("$labels", "$externalLabels", "$externalURL", "$value")
_DATA_TYPE = (
    "struct { Labels map[string]string; ExternalLabels map[string]string; "
    "ExternalURL string; Value float64 }"
)
_FUNCTION_NAMES = frozenset(BUILTINS) | frozenset(prometheus_functions(""))


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed alert template, ready to render many times."""

    name: str
    text: str
    tree: Tree


def alert_template_name(rule_name: str) -> str:
    """The name Prometheus gives the templates of an alerting rule (``__alert_<name>``)."""
    return f"__alert_{rule_name}"


def format_value(value: float) -> str:
    """Print a float64 as Go's ``%v`` does (``97``, ``0.5``, ``1e+06``, ``NaN``, ``+Inf``)."""
    return _go_format_value(float(value))


@functools.lru_cache(maxsize=4096)
def parse_template(text: str, name: str) -> Template:
    """Parse an alert template; raise TemplateError naming the template and line if invalid.

    Results are cached on (text, name) because rules render the same text every cycle.
    """
    try:
        tree = parse(text, name, _FUNCTION_NAMES, _VARIABLES, prefix_len=len(PREAMBLE))
    except GoTemplateError as exc:
        raise TemplateError(f"error parsing template {name}: {exc}") from None
    return Template(name, text, tree)


@functools.lru_cache(maxsize=64)
def _functions(external_url: str) -> dict[str, GoFunc]:
    return BUILTINS | prometheus_functions(external_url)


def render_template(
    tpl: Template | str,
    *,
    labels: Mapping[str, str],
    value: float,
    external_url: str,
    external_labels: Mapping[str, str] | None = None,
    name: str = "template",
) -> str:
    """Render an alert template as Prometheus would; raise TemplateError if it fails.

    ``name`` names a template given as text (Prometheus uses ``__alert_<rule>``); the
    error message is Prometheus's, e.g. ``error executing template __alert_X: template:
    __alert_X:1:115: executing "__alert_X" at <gt $value 90>: error calling gt: ...``.
    """
    if isinstance(tpl, str):
        if "{{" not in tpl:
            return tpl  # nothing to expand; the common case for static annotations
        template = parse_template(tpl, name)
    else:
        template = tpl
    label_map = dict(labels)
    external = dict(external_labels or {})
    data = GoStruct(
        _DATA_TYPE,
        {
            "Labels": label_map,
            "ExternalLabels": external,
            "ExternalURL": external_url,
            "Value": float(value),
        },
    )
    variables = {
        "$labels": label_map,
        "$externalLabels": external,
        "$externalURL": external_url,
        "$value": float(value),
    }
    try:
        return execute(template.tree, data, _functions(external_url), variables)
    except GoTemplateError as exc:
        raise TemplateError(f"error executing template {template.name}: {exc}") from None


def expand_template(
    tpl: Template | str,
    *,
    labels: Mapping[str, str],
    value: float,
    external_url: str,
    external_labels: Mapping[str, str] | None = None,
    name: str = "template",
) -> str:
    """Render like :func:`render_template`, but on failure return what Prometheus shows.

    Prometheus never drops an alert for a broken template: the label or annotation
    becomes ``<error expanding template: MESSAGE>``.
    """
    try:
        return render_template(
            tpl,
            labels=labels,
            value=value,
            external_url=external_url,
            external_labels=external_labels,
            name=name,
        )
    except TemplateError as exc:
        return f"<error expanding template: {exc}>"

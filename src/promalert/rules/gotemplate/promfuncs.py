"""The template functions Prometheus 2.42 adds to Go's (``template/template.go``)."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import quote_plus, urlsplit

from promalert.durations import parse_duration
from promalert.rules.gotemplate.exec import ANY, STRING, GoFunc, GoFuncError, Param
from promalert.rules.gotemplate.gofmt import format_value, sprintf
from promalert.rules.gotemplate.goregexp import RegexpError, compile_go, replace_all
from promalert.rules.gotemplate.values import HTML, GoMap, GoStruct, go_quote, go_type_name

SAMPLE_TYPE = "*template.sample"
_FLOAT_SYNTAX = re.compile(
    r"[+-]?(?:(?:\d(?:_?\d)*)?\.?(?:\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?"
    r"|0[xX]_?[0-9a-fA-F_]*\.?[0-9a-fA-F_]*[pP][+-]?\d+"
    r"|inf|infinity)|nan",
    re.IGNORECASE,
)


def parse_go_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``, with its error messages."""
    if not _FLOAT_SYNTAX.fullmatch(text) or not any(c.isalnum() for c in text):
        raise GoFuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    body = text.replace("_", "")
    try:
        value = float.fromhex(body) if "x" in body.lower() else float(body)
    except (ValueError, OverflowError):
        raise GoFuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax") from None
    if math.isinf(value) and "inf" not in body.lower():
        raise GoFuncError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return value


def to_float(value: Any) -> float:
    """Prometheus's ``convertToFloat``: float64, string, int; anything else is an error."""
    if isinstance(value, float):
        return value
    if type(value) is str:
        return parse_go_float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise GoFuncError(f"can't convert {go_type_name(value)} to float")


def _scaled(v: float, step: float, prefixes: str | list[str]) -> tuple[float, str]:
    prefix = ""
    for p in prefixes:
        if abs(v) < step:
            break
        prefix = p
        v /= step
    return v, prefix


def _small(v: float) -> tuple[float, str]:
    prefix = ""
    for p in "munpfazy":
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return v, prefix


def humanize(value: Any) -> str:
    """Prometheus ``humanize``: SI prefixes with 4 significant digits (``1.235k``)."""
    v = to_float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", [v])
    v, prefix = _scaled(v, 1000, "kMGTPEZY") if abs(v) >= 1 else _small(v)
    return sprintf("%.4g%s", [v, prefix])


def humanize1024(value: Any) -> str:
    """Prometheus ``humanize1024``: binary prefixes (``1ki``, ``1.5Mi``)."""
    v = to_float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", [v])
    v, prefix = _scaled(v, 1024, ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"])
    return sprintf("%.4g%s", [v, prefix])


def humanize_duration(value: Any) -> str:
    """Prometheus ``humanizeDuration``: seconds as ``1d 2h 3m 4s`` or ``1.5s`` or ``20ms``."""
    v = to_float(value)
    if math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", [v])
    if v == 0:
        return sprintf("%.4gs", [v])
    if abs(v) >= 1:
        sign = "-" if v < 0 else ""
        v = abs(v)
        whole = int(v)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return sprintf("%s%.4gs", [sign, v])
    v, prefix = _small(v)
    return sprintf("%.4g%ss", [v, prefix])


def humanize_percentage(value: Any) -> str:
    """Prometheus ``humanizePercentage``: a ratio as a percentage (``0.1234`` → ``12.34%``)."""
    return sprintf("%.4g%%", [to_float(value) * 100])


def _civil(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian (year, month, day) of days since 1970-01-01, any year."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def humanize_timestamp(value: Any) -> str:
    """Prometheus ``humanizeTimestamp``: Unix seconds as Go prints a UTC ``time.Time``."""
    v = to_float(value)
    if math.isnan(v) or math.isinf(v):
        return sprintf("%.4g", [v])
    nanos = v * 1e9
    if nanos >= 2.0**63 or nanos < -(2.0**63):
        raise GoFuncError(
            f"{format_value(v)} cannot be represented as a nanoseconds timestamp "
            "since it overflows int64"
        )
    ns = int(nanos)
    # model.TimeFromUnixNano keeps milliseconds, truncating toward zero like Go's "/".
    millis = abs(ns) // 1_000_000 * (1 if ns >= 0 else -1)
    seconds, ms = divmod(millis, 1000)
    days, secs = divmod(seconds, 86400)
    year, month, day = _civil(days)
    year_text = f"{year:04d}" if year >= 0 else f"-{-year:04d}"
    clock = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    fraction = f".{ms:03d}".rstrip("0") if ms else ""
    return f"{year_text}-{month:02d}-{day:02d} {clock}{fraction} +0000 UTC"


def strip_port(hostport: str) -> str:
    """Prometheus ``stripPort``: the host of ``host:port`` (``[::1]:80`` → ``::1``), else as is."""
    colon = hostport.rfind(":")
    if colon < 0:
        return hostport
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or end + 1 != colon:
            return hostport
        host, j, k = hostport[1:end], 1, end + 1
    else:
        host, j, k = hostport[:colon], 0, 0
        if ":" in host:
            return hostport
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return hostport
    return host


def _map_rune(ch: str, convert: str) -> str:
    """Go's one-rune case mapping; Python's full mapping may give several characters."""
    mapped: str = getattr(ch, convert)()
    if len(mapped) == 1:
        return mapped
    if convert == "lower":
        return "i" if ch == "\u0130" else ch  # the only unconditional one-to-many lowering
    title_case = ch.title()  # e.g. U+1F80: the title case is the simple upper case
    return title_case if len(title_case) == 1 else ch


def _map_runes(text: str, convert: str) -> str:
    return "".join(_map_rune(ch, convert) for ch in text)


def _is_separator(ch: str) -> bool:
    if ch.isascii():
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch.isspace()


def title(text: str) -> str:
    """Go's ``strings.Title``: upper-case the first letter of each word."""
    out, prev = [], " "
    for ch in text:
        out.append(_map_runes(ch, "title") if _is_separator(prev) else ch)
        prev = ch
    return "".join(out)


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """Prometheus ``reReplaceAll``: Go's ``ReplaceAllString`` with ``$1`` references."""
    try:
        compiled = compile_go(pattern)
    except RegexpError as exc:
        quoted = f"`{pattern}`" if "`" not in pattern else go_quote(pattern)
        raise GoFuncError(f"regexp: Compile({quoted}): {exc}") from None
    return replace_all(compiled, text, repl)


def match(pattern: str, text: str) -> bool:
    """Go's ``regexp.MatchString``."""
    try:
        return compile_go(pattern).search(text) is not None
    except RegexpError as exc:
        raise GoFuncError(str(exc)) from None


def parse_duration_seconds(text: str) -> float:
    """Prometheus ``parseDuration``: a Prometheus duration in seconds."""
    if text == "":
        raise GoFuncError("empty duration string")
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise GoFuncError(f"not a valid duration string: {go_quote(text)}") from None
    # Go computes nanoseconds / 1e9; do the same from whole milliseconds.
    return round(seconds * 1000) * 1_000_000 / 1e9


def _query(_expr: str) -> list[GoStruct]:
    raise GoFuncError("query() is not supported in templates yet")


def _is_sample(value: Any) -> bool:
    return isinstance(value, GoStruct) and value.type_name == SAMPLE_TYPE


def _sample(value: Any) -> GoStruct:
    if value is None:
        raise GoFuncError("runtime error: invalid memory address or nil pointer dereference")
    assert isinstance(value, GoStruct)
    return value


def _first(result: list[GoStruct] | None) -> GoStruct:
    if result:
        return result[0]
    raise GoFuncError("first() called on vector with no elements")


def _label(name: str, sample: Any) -> str:
    labels = _sample(sample).field("Labels")[1]
    return str(labels.get(name, ""))


def _sort_by_label(name: str, result: list[GoStruct] | None) -> list[GoStruct]:
    return sorted(result or [], key=lambda s: str(s.field("Labels")[1].get(name, "")))


def _args(*values: Any) -> GoMap:
    return GoMap({f"arg{i}": v for i, v in enumerate(values)}, "map[string]interface {}", None)


QUERY_RESULT = Param("template.queryResult", lambda v: isinstance(v, list), literal="none")
SAMPLE = Param(SAMPLE_TYPE, _is_sample, literal="none")


def prometheus_functions(external_url: str) -> dict[str, GoFunc]:
    """The Prometheus template functions; ``external_url`` backs ``externalURL``/``pathPrefix``."""
    return {
        "query": GoFunc(_query, (STRING,)),
        "first": GoFunc(_first, (QUERY_RESULT,)),
        "label": GoFunc(_label, (STRING, SAMPLE)),
        "value": GoFunc(lambda s: float(_sample(s).field("Value")[1]), (SAMPLE,)),
        "strvalue": GoFunc(lambda s: _label("__value__", s), (SAMPLE,)),
        "sortByLabel": GoFunc(_sort_by_label, (STRING, QUERY_RESULT)),
        "args": GoFunc(_args, (), ANY),
        "reReplaceAll": GoFunc(re_replace_all, (STRING, STRING, STRING)),
        "safeHtml": GoFunc(HTML, (STRING,)),
        "match": GoFunc(match, (STRING, STRING)),
        "title": GoFunc(title, (STRING,)),
        "toUpper": GoFunc(lambda s: _map_runes(s, "upper"), (STRING,)),
        "toLower": GoFunc(lambda s: _map_runes(s, "lower"), (STRING,)),
        "graphLink": GoFunc(
            lambda e: f"/graph?g0.expr={quote_plus(e, safe='')}&g0.tab=0", (STRING,)
        ),
        "tableLink": GoFunc(
            lambda e: f"/graph?g0.expr={quote_plus(e, safe='')}&g0.tab=1", (STRING,)
        ),
        "stripPort": GoFunc(strip_port, (STRING,)),
        "humanize": GoFunc(humanize, (ANY,)),
        "humanize1024": GoFunc(humanize1024, (ANY,)),
        "humanizeDuration": GoFunc(humanize_duration, (ANY,)),
        "humanizePercentage": GoFunc(humanize_percentage, (ANY,)),
        "humanizeTimestamp": GoFunc(humanize_timestamp, (ANY,)),
        "pathPrefix": GoFunc(lambda: urlsplit(external_url).path, ()),
        "externalURL": GoFunc(lambda: external_url, ()),
        "parseDuration": GoFunc(parse_duration_seconds, (STRING,)),
    }

"""Label matchers as Alertmanager 0.25 writes, parses, prints and applies them.

``severity=~"critical|high"``, ``team="db"``, ``env!=prod`` (quotes optional), several
per string separated by commas, optionally wrapped in ``{...}``. Values may hold any
UTF-8; inside quotes ``\\"``, ``\\\\`` and ``\\n`` are escapes. Regular expressions use
Go's syntax and are anchored at both ends, as in Alertmanager. A label that is absent
matches as the empty string, so ``team!="db"`` takes alerts without a ``team``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from promalert.rules.gotemplate.goregexp import RegexpError, compile_go

# Names as Alertmanager's matcher parser accepts them ('=~' must be tried before '=').
_SPACE = r"[\t\n\f\r ]*"  # Go's \s
_MATCHER = re.compile(
    rf"^{_SPACE}([a-zA-Z_:][a-zA-Z0-9_:]*){_SPACE}(=~|=|!=|!~){_SPACE}(.*?){_SPACE}\Z", re.DOTALL
)
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
"""A valid Prometheus label name."""


class MatchType(enum.Enum):
    """The four matcher operators, in Alertmanager's sort order."""

    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"

    @property
    def rank(self) -> int:
        """Position in Alertmanager's ordering of matcher types."""
        return _RANK[self]


_RANK = {t: i for i, t in enumerate(MatchType)}


def escape_value(value: str) -> str:
    """OpenMetrics escaping, as Alertmanager prints matcher values: ``\\``, ``"``, newline."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher; build it with :meth:`new` so regular expressions are checked."""

    name: str
    type: MatchType
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False, hash=False)

    @classmethod
    def new(cls, name: str, type: MatchType, value: str) -> Matcher:
        """A matcher; raise ValueError when a regex value is not a valid Go regexp."""
        regex = None
        if type in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = compile_go(f"^(?:{value})$")
            except RegexpError as exc:
                raise ValueError(f"invalid regular expression {go_quote(value)}: {exc}") from None
        return cls(name, type, value, regex)

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` for an absent label) satisfies the matcher."""
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        assert self.regex is not None
        found = self.regex.match(value) is not None
        return found if t is MatchType.REGEX else not found

    def matches_labels(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set satisfies the matcher."""
        return self.matches(labels.get(self.name, ""))

    @property
    def is_regex(self) -> bool:
        """True for ``=~`` and ``!~``."""
        return self.type in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        """True for ``=`` and ``=~`` (the API's ``isEqual``)."""
        return self.type in (MatchType.EQUAL, MatchType.REGEX)

    def sort_key(self) -> tuple[str, str, int]:
        """Alertmanager's matcher order: by name, then value, then operator."""
        return (self.name, self.value, self.type.rank)

    def __str__(self) -> str:
        return f'{self.name}{self.type.value}"{escape_value(self.value)}"'


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Quote a string like Go's ``strconv.Quote`` (``%q``), as group keys and errors show it."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when every matcher matches ``labels`` (so also for no matchers)."""
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def sort_matchers(matchers: Iterable[Matcher]) -> tuple[Matcher, ...]:
    """Matchers in Alertmanager's order (used in route keys)."""
    return tuple(sorted(matchers, key=Matcher.sort_key))


def matchers_string(matchers: Sequence[Matcher]) -> str:
    """``{a="1",b=~"x"}``: how Alertmanager prints a matcher list (in route keys)."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def _unquote(raw: str, original: str) -> str:
    """The value of a matcher's right-hand side, unescaped as Alertmanager does."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    last = len(raw) - 1
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in ('"', "\\"):
                out.append(ch)
            else:
                # A spurious escape: the backslash is taken literally.
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < last:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not quoted or i < last:
                raise ValueError(f"matcher value contains unescaped double quote: {original}")
            quoted = False
        else:
            out.append(ch)
    if quoted:
        raise ValueError(f"matcher value contains unescaped double quote: {original}")
    return "".join(out)


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher like ``severity=~"critical|high"``; raise ValueError if malformed."""
    found = _MATCHER.match(text)
    if found is None:
        raise ValueError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    return Matcher.new(name, MatchType(op), _unquote(raw, raw))


def _split(text: str) -> list[str]:
    """Split on commas outside double quotes, as Alertmanager's ``ParseMatchers`` does."""
    tokens: list[str] = []
    current: list[str] = []
    inside = escaped = False
    for ch in text:
        if ch == ",":
            if not inside:
                tokens.append("".join(current))
                current = []
                continue
        elif ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        current.append(ch)
    last = "".join(current).strip()
    if last:
        tokens.append(last)
    return tokens


def parse_matchers(text: str) -> list[Matcher]:
    """Parse ``{a="1", b=~"x|y"}`` or ``a=1,b=~x|y`` into matchers; raise ValueError."""
    text = text.removeprefix("{").removesuffix("}")
    return [parse_matcher(token) for token in _split(text)]


def _matcher_list(value: Any) -> tuple[Matcher, ...]:
    """Config's ``matchers:``: a list of strings, each holding one or more matchers."""
    if isinstance(value, tuple) and all(isinstance(m, Matcher) for m in value):
        return value
    if not isinstance(value, list):
        raise ValueError("expected a list of matcher strings like 'severity=~\"critical|high\"'")
    out: list[Matcher] = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected a matcher string, got {item!r}")
        out.extend(parse_matchers(item))
    return sort_matchers(out)


MatcherList = Annotated[
    tuple[Matcher, ...],
    PlainValidator(_matcher_list),
    PlainSerializer(lambda ms: [str(m) for m in ms], return_type=list[str]),
]
"""A config ``matchers:`` list, parsed and sorted as Alertmanager sorts it."""


def _label_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of label names to values")
    out: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise ValueError(f"{name}: expected a string value")
        out[name] = str(text)
    return out


def _regex_map(value: Any) -> dict[str, str]:
    out = _label_map(value)
    for name, pattern in out.items():
        Matcher.new(name, MatchType.REGEX, pattern)  # raises ValueError if invalid
    return out


LegacyMatch = Annotated[dict[str, str], PlainValidator(_label_map)]
"""The deprecated ``match:`` form: label name to exact value."""

LegacyMatchRE = Annotated[dict[str, str], PlainValidator(_regex_map)]
"""The deprecated ``match_re:`` form: label name to (anchored) regular expression."""


def legacy_matchers(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Matchers equivalent to ``match`` and ``match_re``.

    Alertmanager builds a ``match_re`` matcher from the already anchored expression, so
    its value (and the route keys it appears in) reads ``^(?:pattern)$``.
    """
    out = [Matcher.new(n, MatchType.EQUAL, v) for n, v in match.items()]
    out += [Matcher.new(n, MatchType.REGEX, f"^(?:{v})$") for n, v in match_re.items()]
    return out

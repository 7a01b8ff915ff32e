"""Label matchers: Alertmanager 0.25's parser, printer and matching rules."""

from __future__ import annotations

import pytest

from promalert.config.matchers import (
    Matcher,
    MatchType,
    matchers_string,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)


def triples(text: str) -> list[tuple[str, str, str]]:
    return [(m.name, m.type.value, m.value) for m in parse_matchers(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity=~"critical|high"', [("severity", "=~", "critical|high")]),
        ("team=db", [("team", "=", "db")]),
        ("  env  !=  prod  ", [("env", "!=", "prod")]),
        ('{a="1", b!~"x.*"}', [("a", "=", "1"), ("b", "!~", "x.*")]),
        ('a="x,y",b=2', [("a", "=", "x,y"), ("b", "=", "2")]),
        ('msg="say \\"hi\\""', [("msg", "=", 'say "hi"')]),
        ('path="C:\\\\dir"', [("path", "=", "C:\\dir")]),
        ('text="line\\nbreak"', [("text", "=", "line\nbreak")]),
        ('re=~"\\d+"', [("re", "=~", "\\d+")]),  # a spurious escape stays literal
        ('city="Zürich 🌍"', [("city", "=", "Zürich 🌍")]),
        ("empty=", [("empty", "=", "")]),
        ('a=""', [("a", "=", "")]),
        ("ns:name=x", [("ns:name", "=", "x")]),
        ("a=1,", [("a", "=", "1")]),
    ],
)
def test_parse_like_alertmanager(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert triples(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity", "bad matcher format: severity"),
        ("1abc=x", "bad matcher format: 1abc=x"),
        ('a="unterminated', "unescaped double quote"),
        ('a="x"y"', "unescaped double quote"),
        ('a=~"("', "invalid regular expression"),
    ],
)
def test_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_matchers(text)


def test_absent_label_matches_as_empty_string() -> None:
    assert parse_matcher('team!="db"').matches_labels({})
    assert not parse_matcher('team="db"').matches_labels({})
    assert parse_matcher('team=~"db|"').matches_labels({})
    assert parse_matcher("team=").matches_labels({"other": "x"})


def test_regex_is_anchored_at_both_ends() -> None:
    m = parse_matcher('severity=~"crit"')
    assert not m.matches("critical")
    assert parse_matcher('severity=~"crit.*"').matches("critical")
    assert not parse_matcher('severity!~"crit.*"').matches("critical")
    # Go's $ is only the very end, even before a trailing newline.
    assert not parse_matcher('a=~"x$"').matches("x\n")


def test_printed_like_alertmanager_and_sorted_like_route_keys() -> None:
    ms = sort_matchers(parse_matchers('team="db",a=~"x|y",a="q\\"uote"'))
    assert [str(m) for m in ms] == ['a="q\\"uote"', 'a=~"x|y"', 'team="db"']
    assert matchers_string(ms) == '{a="q\\"uote",a=~"x|y",team="db"}'
    assert matchers_string(()) == "{}"


def test_operator_order_breaks_ties_on_equal_name_and_value() -> None:
    ms = [Matcher.new("a", t, "v") for t in reversed(MatchType)]
    assert [m.type for m in sort_matchers(ms)] == list(MatchType)


def test_matchers_compare_by_value_not_by_compiled_regex() -> None:
    assert parse_matcher('a=~"x"') == Matcher.new("a", MatchType.REGEX, "x")
    assert parse_matcher('a=~"x"').is_regex and parse_matcher('a=~"x"').is_equal
    assert not parse_matcher('a!="x"').is_equal

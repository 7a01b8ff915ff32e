"""Composite logic: parsing, precedence, and the errors the config loader reports."""

from __future__ import annotations

import itertools

import pytest

from promalert.rules.logic import parse_logic

NAMES = ["a", "b", "c"]


def _cases() -> list[dict[str, bool]]:
    return [
        dict(zip(NAMES, bits, strict=True)) for bits in itertools.product([False, True], repeat=3)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", lambda a, b, c: a and b and c),
        ("any", lambda a, b, c: a or b or c),
        ("a and (b or not c)", lambda a, b, c: a and (b or not c)),
        ("a or b and c", lambda a, b, c: a or (b and c)),
        ("not a and b", lambda a, b, c: (not a) and b),
        ("not not a", lambda a, b, c: a),
        ("(a or b) and not (b and c)", lambda a, b, c: (a or b) and not (b and c)),
        ("  a  ", lambda a, b, c: a),
    ],
)
def test_logic_matches_python_boolean_semantics(text: str, expected) -> None:  # type: ignore[no-untyped-def]
    logic = parse_logic(text, NAMES)
    for truth in _cases():
        assert logic.evaluate(truth) == expected(**truth), (text, truth)


def test_missing_truth_counts_as_false() -> None:
    assert parse_logic("not a", NAMES).evaluate({}) is True
    assert parse_logic("all", NAMES).evaluate({"a": True, "b": True}) is False


def test_used_names_are_reported() -> None:
    assert parse_logic("a and not c", NAMES).names == frozenset({"a", "c"})
    assert parse_logic("any", NAMES).names == frozenset(NAMES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a and d", "unknown condition 'd' (conditions: a, b, c)"),
        ("", "logic is empty"),
        ("a and", "expected a condition name, 'not' or '(' at the end"),
        ("(a or b", "expected ')' at the end"),
        ("a b", "unexpected 'b' at column 3"),
        ("a or )", "got ')'"),
        ("a && b", "unexpected '&' at column 3"),
        ("and a", "got 'and'"),
        ("(a or b c)", "expected ')' at column 9"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_logic(text, NAMES)
    assert message in str(info.value)

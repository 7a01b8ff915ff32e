"""YAML loading with node positions, and pydantic errors mapped onto them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from promalert.config.yamlpos import load_yaml, validate

TEXT = """\
groups:
  - name: node
    rules:
      - alert: A
        for: 5m
        labels: {severity: page}
"""


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = load_yaml(TEXT, "r.yml")
    assert doc.problems == []
    loc = doc.locator
    assert loc.position(()) == (1, 1)
    assert loc.key_position(("groups",)) == (1, 1)
    assert loc.position(("groups", 0)) == (2, 5)
    assert loc.position(("groups", 0, "name")) == (2, 11)
    assert loc.key_position(("groups", 0, "rules", 0, "for")) == (5, 9)
    assert loc.position(("groups", 0, "rules", 0, "for")) == (5, 14)
    assert loc.position(("groups", 0, "rules", 0, "labels", "severity")) == (6, 28)


def test_missing_path_falls_back_to_deepest_existing_node() -> None:
    loc = load_yaml(TEXT, "r.yml").locator
    assert loc.position(("groups", 0, "rules", 0, "expr")) == (4, 9)
    assert loc.position(("groups", 3, "name")) == (2, 3)  # the sequence itself
    assert str(loc.problem(("groups", 0, "name"), "bad")) == "r.yml:2:11: bad"


def test_syntax_error_is_a_problem_at_pyyaml_mark() -> None:
    doc = load_yaml("a: 1\nb: [x, y\n", "c.yml")
    assert doc.data is None
    [problem] = doc.problems
    assert (problem.path, problem.line, problem.column) == ("c.yml", 3, 1)
    assert "expected ',' or ']'" in problem.message
    assert problem.message.startswith("YAML syntax error: ")


def test_tab_indentation_reports_the_tab_column() -> None:
    [problem] = load_yaml("a:\n\tb: 1\n", "c.yml").problems
    assert (problem.line, problem.column) == (2, 1)
    assert "'\\t'" in problem.message


def test_duplicate_key_is_reported_at_the_second_key() -> None:
    doc = load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", "c.yml")
    assert [str(p) for p in doc.problems] == ["c.yml:4:3: duplicate key 'c' (first at line 3)"]


def test_keys_stay_text_and_dates_stay_strings() -> None:
    # YAML 1.1 would read `on` as true; composite rules have an `on:` key.
    doc = load_yaml("on: [instance]\nstart: 2026-01-05\nn: 1\nq: '1'\n", "c.yml")
    assert doc.data == {"on": ["instance"], "start": "2026-01-05", "n": 1, "q": "1"}
    assert doc.locator.texts == {("n",): "1"}


def test_merge_keys_are_not_duplicates_and_explicit_keys_win() -> None:
    doc = load_yaml("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n", "c.yml")
    assert doc.problems == []
    assert doc.data["x"] == {"a": 1, "b": 3}


def test_recursive_alias_is_a_problem_not_a_crash() -> None:
    doc = load_yaml("a: &x [1, *x]\n", "c.yml")
    assert [str(p) for p in doc.problems] == ["c.yml:1:4: recursive YAML alias"]


def test_multiple_documents_are_rejected() -> None:
    [problem] = load_yaml("a: 1\n---\nb: 2\n", "c.yml").problems
    assert problem.line == 2
    assert "expected a single document in the stream, but found another document" in (
        problem.message
    )


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: int
    name: str = "x"


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inner: _Inner
    items: list[str] = []


def test_validate_maps_each_error_to_its_node() -> None:
    text = "inner:\n  port: many\n  nmae: y\nitems: [a, {b: 1}]\n"
    doc = load_yaml(text, "c.yml")
    model, problems = validate(_Outer, doc.data, doc.locator)
    assert model is None
    assert [str(p) for p in problems] == [
        "c.yml:2:9: inner.port: Input should be a valid integer, unable to parse string as an "
        "integer",
        "c.yml:3:3: inner: unknown key 'nmae' (expected one of: name, port)",
        "c.yml:4:12: items.1: Input should be a valid string",
    ]


def test_validate_missing_key_points_at_the_parent_mapping() -> None:
    doc = load_yaml("inner:\n  name: y\n", "c.yml")
    _, problems = validate(_Outer, doc.data, doc.locator)
    assert [str(p) for p in problems] == ["c.yml:2:3: inner: missing required key 'port'"]


def test_validate_gives_string_fields_the_scalar_text() -> None:
    # Go's YAML decoder does the same, so `name: 1.50` is the string "1.50".
    doc = load_yaml("inner: {port: 1, name: 1.50}\nitems: [yes, 2]\n", "c.yml")
    model, problems = validate(_Outer, doc.data, doc.locator)
    assert problems == []
    assert model is not None
    assert model.inner.name == "1.50"
    assert model.items == ["yes", "2"]


def test_validate_reports_wrong_container_types_in_yaml_words() -> None:
    doc = load_yaml("inner: [1]\nitems: {a: 1}\n", "c.yml")
    _, problems = validate(_Outer, doc.data, doc.locator)
    assert [p.message for p in problems] == [
        "inner: expected a mapping, got list",
        "items: expected a list, got mapping",
    ]

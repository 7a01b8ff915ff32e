"""``promalert check``: one ``path:line:column: message`` line per problem, exit codes."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from promalert.check import run_check

FILES = Path(__file__).parent / "config" / "files"


@pytest.fixture
def in_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the fixture folder so paths can be given relative, as users type them."""
    monkeypatch.chdir(FILES)


def _check(config: str | None, *rule_files: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_check(config, list(rule_files), out, env={})
    return code, out.getvalue().splitlines()


@pytest.mark.usefixtures("in_files")
def test_each_kind_of_broken_rule_file_prints_one_located_line() -> None:
    code, lines = _check(
        None, "bad/syntax.yml", "bad/unknown_kind.yml", "bad/duration.yml", "bad/missing_field.yml"
    )
    assert code == 1
    assert lines == [
        "bad/duration.yml:6:14: groups.0.rules.0.for: invalid duration '5 minutes' (expected a "
        "number and unit like 30s, 5m, 1h30m; units: ms, s, m, h, d, w, y)",
        "bad/missing_field.yml:4:9: groups.0.rules.0: missing required key 'condition'",
        "bad/syntax.yml:6:8: YAML syntax error: expected <block end>, but found "
        "'<block mapping start>' (while parsing a block collection at line 4, column 7)",
        "bad/unknown_kind.yml:5:15: groups.0.rules.0.kind: unknown kind 'treshold' "
        "(expected one of: anomaly, composite, frequency, threshold, trend)",
    ]


@pytest.mark.usefixtures("in_files")
@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("syntax.yml", "6:8"),
        ("unknown_kind.yml", "5:15"),
        ("duration.yml", "6:14"),
        ("missing_field.yml", "4:9"),
    ],
)
def test_single_broken_file_exits_1_with_one_line(name: str, where: str) -> None:
    code, lines = _check(None, f"bad/{name}")
    assert code == 1
    [line] = lines
    assert line.startswith(f"bad/{name}:{where}: ")


@pytest.mark.usefixtures("in_files")
def test_valid_rule_files_exit_0_with_a_summary() -> None:
    code, lines = _check(None, "rules/node.yml", "rules/composite.yml")
    assert (code, lines) == (0, ["SUCCESS: 2 rule files, 3 groups, 3 alerting rules"])


@pytest.mark.usefixtures("in_files")
def test_recording_rules_are_reported_as_ignored_not_as_errors() -> None:
    code, lines = _check(None, "recording.yml")
    assert code == 0
    assert lines == [
        "recording.yml:4:9: recording rule 'job:up:sum' ignored (keep recording rules in "
        "Prometheus)",
        "SUCCESS: 1 rule file, 1 group, 1 alerting rule, 1 recording rule ignored",
    ]


@pytest.mark.usefixtures("in_files")
def test_config_brings_its_rule_files_and_named_files_are_added() -> None:
    code, lines = _check("promalert.yml", "bad/duration.yml")
    assert code == 1
    [line] = lines
    assert line.startswith("bad/duration.yml:6:14: ")
    code, lines = _check("promalert.yml")
    assert (code, lines) == (
        0,
        ["SUCCESS: config promalert.yml, 2 rule files, 3 groups, 3 alerting rules"],
    )


def test_paths_are_printed_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf" / "rules").mkdir(parents=True)
    shutil.copy(FILES / "bad" / "unknown_kind.yml", tmp_path / "conf" / "rules" / "a.yml")
    (tmp_path / "conf" / "promalert.yml").write_text(
        "datasource: {url: 'http://127.0.0.1:9090'}\nrule_files: ['rules/*.yml']\n"
        "route: {receiver: team, group_wait: soon}\nreceivers: [{name: team}]\n"
    )
    monkeypatch.chdir(tmp_path)
    code, lines = _check("conf/promalert.yml")
    assert code == 1
    assert [line.split(": ", 1)[0] for line in lines] == [
        "conf/promalert.yml:3:37",
        "conf/rules/a.yml:5:15",
    ]


def test_without_arguments_checks_promalert_yml_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, lines = _check(None)
    assert code == 2
    assert lines[0] == "usage: promalert check [--config FILE] [RULE_FILE...]"
    (tmp_path / "promalert.yml").write_text("route: {receiver: team}\nreceivers: [{name: team}]\n")
    assert _check(None) == (
        0,
        ["SUCCESS: config promalert.yml, 0 rule files, 0 groups, 0 alerting rules"],
    )


def test_missing_files_are_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, lines = _check("nope.yml", "rules.yml")
    assert code == 1
    assert lines == [
        "nope.yml:1:1: cannot read file: No such file or directory",
        "rules.yml:1:1: cannot read file: No such file or directory",
    ]


def test_console_entry_point_prints_problems_and_exit_codes() -> None:
    command = [sys.executable, "-m", "promalert", "check"]
    bad = ["bad/syntax.yml", "bad/unknown_kind.yml", "bad/duration.yml", "bad/missing_field.yml"]
    failed = subprocess.run(
        [*command, *bad], cwd=FILES, capture_output=True, text=True, timeout=60, check=False
    )
    assert failed.returncode == 1
    assert [line.split(": ", 1)[0] for line in failed.stdout.splitlines()] == [
        "bad/duration.yml:6:14",
        "bad/missing_field.yml:4:9",
        "bad/syntax.yml:6:8",
        "bad/unknown_kind.yml:5:15",
    ]
    passed = subprocess.run(
        [*command, "--config", "promalert.yml", "recording.yml"],
        cwd=FILES,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.splitlines()[-1].startswith("SUCCESS: config promalert.yml, 3 rule files")

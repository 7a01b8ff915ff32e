"""``promalert route test``: receivers and matched policies, like amtool's routes test."""

from __future__ import annotations

import io
from pathlib import Path

from promalert.cli import main
from promalert.dispatch.routetest import run_route_test

CONFIG = """\
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['severity=~"critical|high"']
      receiver: pager
      continue: true
    - match: {team: db}
      receiver: dba
      group_by: ['...']
receivers: [{name: default}, {name: pager}, {name: dba}]
"""


def run(tmp_path: Path, *args: str, expect: str | None = None) -> tuple[int, list[str]]:
    path = tmp_path / "promalert.yml"
    path.write_text(CONFIG)
    out = io.StringIO()
    code = run_route_test(str(path), args, out, expect=expect)
    return code, out.getvalue().splitlines()


def test_receivers_first_then_one_line_per_route(tmp_path: Path) -> None:
    code, lines = run(tmp_path, "severity=critical", "team=db", "alertname=Disk")
    assert code == 0
    assert lines[0] == "pager,dba"
    assert lines[1].startswith('  {}/{severity=~"critical|high"}  receiver: pager')
    assert "continue: true" in lines[1] and lines[1].endswith("priority: P1")
    assert "group_by: [...]" in lines[2]


def test_fallback_to_the_root_and_verify(tmp_path: Path) -> None:
    assert run(tmp_path, "team=web", expect="default")[0] == 0
    code, lines = run(tmp_path, "team=web", expect="pager")
    assert code == 1 and "expected receivers 'pager'" in lines[-1]


def test_bad_label_argument(tmp_path: Path) -> None:
    code, lines = run(tmp_path, "team!=web")
    assert code == 1 and "expected LABEL=VALUE" in lines[0]


def test_cli_entry_point(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "promalert.yml").write_text(CONFIG)
    code = main(["route", "test", "--config", str(tmp_path / "promalert.yml"), 'team="db"'])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[0] == "dba"

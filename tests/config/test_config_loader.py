"""Loading promalert.yml: env expansion, secrets from files, errors at their YAML node."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from promalert.config.loader import load_all, load_config
from promalert.errors import ConfigError

FILES = Path(__file__).parent / "files"

MINIMAL = """\
route:
  receiver: team
receivers:
  - name: team
"""


def _write(folder: Path, text: str, name: str = "promalert.yml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return [str(p) for p in info.value.problems]


def test_valid_config_reads_secrets_relative_to_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the config's folder
    config = load_config(FILES / "promalert.yml", env={})
    assert config.base_dir == str(FILES)
    assert config.global_.evaluation_interval == 15.0
    assert config.global_.external_url == "http://alerts.example.com"
    assert config.datasource is not None and config.datasource.bearer_token is not None
    assert config.datasource.bearer_token.get_secret_value() == "tok3n-s3cret"
    url = config.receivers[0].webhook_configs[0].url
    assert url.get_secret_value() == "https://hooks.example.com/s3cret-path"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config)


def test_secret_read_from_file_never_appears_in_errors(tmp_path: Path) -> None:
    (tmp_path / "hook").write_text("ftp://user:s3cret@example.com\n")
    path = _write(
        tmp_path,
        MINIMAL + "    webhook_configs:\n      - url_file: hook\n        send_resolved: maybe\n",
    )
    problems = _problems(path)
    assert len(problems) == 2
    assert all("s3cret" not in p for p in problems)
    assert problems[0].endswith("url must start with http:// or https://")


def test_unreadable_secret_file_is_located_at_its_key(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "    webhook_configs:\n      - url_file: nope.txt\n")
    [problem] = _problems(path)
    assert problem.startswith(
        f"{path}:6:19: receivers.0.webhook_configs.0.url_file: cannot read {tmp_path}/nope.txt"
    )


def test_env_expansion_with_and_without_defaults(tmp_path: Path) -> None:
    text = (
        "global:\n"
        "  external_url: https://${HOST}:${PORT:-443}/x\n"
        "  evaluation_interval: ${EVAL:-30s}\n"
        "route:\n  receiver: ${RECEIVER}\n"
        "receivers:\n  - name: team\n"
    )
    path = _write(tmp_path, text)
    env = {"HOST": "alerts.example.com", "EVAL": "", "RECEIVER": "team"}
    config = load_config(path, env=env)
    assert config.global_.external_url == "https://alerts.example.com:443/x"
    assert config.global_.evaluation_interval == 30.0  # ':-' also covers an empty variable
    assert config.route.receiver == "team"


def test_env_expansion_reads_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMALERT_TEST_RECEIVER", "team")
    path = _write(
        tmp_path, MINIMAL.replace("receiver: team", "receiver: ${PROMALERT_TEST_RECEIVER}")
    )
    assert load_config(path).route.receiver == "team"


def test_unset_variable_is_one_problem_naming_it(tmp_path: Path) -> None:
    text = MINIMAL.replace("receiver: team", "receiver: team\n  group_wait: ${WAIT}")
    path = _write(tmp_path, text)
    # The empty value would also be an invalid duration; only the cause is reported.
    assert _problems(path) == [
        f"{path}:3:15: route.group_wait: environment variable not set: WAIT "
        "(write ${VAR:-default} for a default)"
    ]


def test_config_errors_are_located_and_sorted(tmp_path: Path) -> None:
    text = """\
global:
  evaluation_interval: 5 minutes
route:
  group_wait: 10s
receivers:
  - name: team
    webhook_configs:
      - url: http://x
        max_alerts: -1
        sned_resolved: true
"""
    path = _write(tmp_path, text)
    problems = _problems(path)
    # The valid keys grow with the channel options, so only the start of this one is pinned.
    typo = problems.pop(3)
    assert typo.startswith(
        f"{path}:10:9: receivers.0.webhook_configs.0: unknown key 'sned_resolved' (expected one "
        "of: "
    )
    assert "send_resolved" in typo
    assert problems == [
        f"{path}:2:24: global.evaluation_interval: invalid duration '5 minutes' (expected a "
        "number and unit like 30s, 5m, 1h30m; units: ms, s, m, h, d, w, y)",
        f"{path}:4:3: route: root route must specify a default receiver (or an escalation)",
        f"{path}:9:21: receivers.0.webhook_configs.0.max_alerts: Input should be greater than "
        "or equal to 0",
    ]


def test_spec_keys_not_built_yet_say_so(tmp_path: Path) -> None:
    path = _write(tmp_path, "global:\n  http_config: {}\n" + MINIMAL)
    assert _problems(path) == [
        f"{path}:2:3: global: 'http_config' is not supported by this version yet"
    ]


def test_unknown_top_level_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "rule_file: [x]\nbase_dir: /etc\n")
    problems = _problems(path)
    assert problems[0] == f"{path}:5:1: unknown key 'rule_file' (expected one of: " + (
        "contact_channels, datasource, escalation_policies, global, inhibit_rules, "
        "mute_time_intervals, priorities, receivers, reports, route, rule_files, schedules, "
        "server, storage, templates, time_intervals, users)"
    )
    assert problems[1] == f"{path}:6:1: unknown key 'base_dir'"


def test_model_level_error_is_located_at_the_key_it_names(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("receiver: team", "receiver: other"))
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:2:3: route: receiver 'other' is not defined")


def test_empty_and_broken_configs(tmp_path: Path) -> None:
    empty = _write(tmp_path, "", "empty.yml")
    assert _problems(empty) == [
        f"{empty}:1:1: missing required key 'route'",
        f"{empty}:1:1: missing required key 'receivers'",
    ]
    broken = _write(tmp_path, "route: [\n", "broken.yml")
    [problem] = _problems(broken)
    assert problem.startswith(f"{broken}:2:1: YAML syntax error: ")
    assert _problems(tmp_path / "absent.yml") == [
        f"{tmp_path / 'absent.yml'}:1:1: cannot read file: No such file or directory"
    ]


def test_load_all_resolves_rule_globs_from_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config, groups = load_all(FILES / "promalert.yml", env={})
    assert config.rule_files == ["rules/*.yml", "nothing-matches/*.yml"]
    # Sorted within the glob: composite.yml before node.yml.
    assert [g.name for g in groups] == ["composite", "empty", "node"]
    assert groups[2].source == str(FILES / "rules" / "node.yml")


def test_load_all_reports_config_and_rule_problems_together(tmp_path: Path) -> None:
    shutil.copy(FILES / "bad" / "duration.yml", tmp_path / "rules.yml")
    text = (
        "datasource: {url: 'localhost:9090'}\nrule_files: [rules.yml]\n"
        "route: {receiver: team}\nreceivers: [{name: team}]\n"
    )
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_all(path, env={})
    assert [(p.path, p.line, p.column) for p in info.value.problems] == [
        (str(path), 1, 19),
        (str(tmp_path / "rules.yml"), 6, 14),
    ]

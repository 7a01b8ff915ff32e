"""The service's HTTP endpoints, config reloads (HTTP and SIGHUP) and the CLI exit codes.

Rules query a real Prometheus without scrape targets (``vector()`` needs none, so it is
ready at once); the service runs in-process or as the ``promalert`` console script.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from e2e.conftest import (
    PromalertProcess,
    base_url,
    eventually,
    get_json,
    promalert_command,
    running_service,
    scrape,
    write_promalert,
    write_rules,
)
from promalert import __version__
from support.prometheus import RunningPrometheus, running_prometheus

HOOK = "http://127.0.0.1:9/hook"  # never called: these rules do not fire
QUIET_RULE = {"alert": "E2EQuiet", "expr": "vector(1) > 2"}
NEW_RULE = {"alert": "E2ENew", "expr": "vector(1) > 3"}
BROKEN_DURATION = "  evaluation_interval: 1x\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prometheus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningPrometheus]:
    """A Prometheus with nothing to scrape, shared by the module."""
    async with running_prometheus(tmp_path_factory.mktemp("service_e2e")) as prom:
        yield prom


async def _post(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url) as response:
            return response.status, await response.json()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return response.status, await response.text()


async def _rule_names(url: str) -> set[str]:
    return {r["name"] for r in await get_json(f"{url}/api/v1/rules")}


async def _evaluations(url: str, rule: str) -> float:
    samples = await scrape(url)
    return samples.total("promalert_rule_evaluations_total", group="e2e", rule=rule)


async def _evaluates(url: str, rule: str) -> None:
    """Wait until ``rule``'s evaluation counter goes up twice more."""
    start = await _evaluations(url, rule)

    async def more() -> bool | None:
        return True if await _evaluations(url, rule) >= start + 2 else None

    await eventually(more, within=10)


def _position(path: Path, text: str) -> tuple[int, int]:
    """The 1-based line and column where ``text`` first occurs in ``path``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(f"{text!r} not in {path}")


def _break_config(config: Path) -> tuple[int, int]:
    """Put an invalid duration into ``config``; return its 1-based line and column."""
    lines = config.read_text().splitlines(keepends=True)
    lines[lines.index("global:\n") + 1] = BROKEN_DURATION
    config.write_text("".join(lines))
    return _position(config, "1x")


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_health_ready_and_metrics(prometheus: RunningPrometheus, tmp_path: Path) -> None:
    config = write_promalert(tmp_path, hook_url=HOOK, datasource=prometheus.url, rules=[QUIET_RULE])
    url = base_url(config)
    async with running_service(config):
        assert await _get(f"{url}/-/healthy") == (200, "promalert is Healthy.\n")
        assert (await _get(f"{url}/-/ready"))[0] == 200
        await _evaluates(url, "E2EQuiet")
        samples = await scrape(url)
    assert samples.get("promalert_build_info", version=__version__) == 1
    assert samples.get("promalert_rule_evaluations_total", group="e2e", rule="E2EQuiet")
    assert (
        samples.get("promalert_rule_evaluation_failures_total", group="e2e", rule="E2EQuiet") == 0
    )
    assert samples.get("promalert_rule_group_last_duration_seconds", group="e2e") is not None
    assert samples.get("promalert_rule_group_iterations_missed_total", group="e2e") == 0
    assert samples.get("promalert_datasource_up") == 1
    assert samples.get("promalert_config_last_reload_successful") == 1
    assert samples.get("promalert_outbox_pending") == 0
    assert samples.get("promalert_alerts", state="firing") == 0
    assert samples.get("promalert_alerts_invalid_total") == 0
    assert samples.total("promalert_datasource_query_duration_seconds_count") >= 2


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_reload_rejects_a_broken_config_and_keeps_the_old_one(
    prometheus: RunningPrometheus, tmp_path: Path
) -> None:
    config = write_promalert(tmp_path, hook_url=HOOK, datasource=prometheus.url, rules=[QUIET_RULE])
    url = base_url(config)
    good = config.read_text()
    async with running_service(config):
        await _evaluates(url, "E2EQuiet")

        line, column = _break_config(config)
        status, body = await _post(f"{url}/-/reload")
        assert status == 400
        assert f"{config}:{line}:{column}: " in body["error"]
        assert "invalid duration '1x'" in body["error"]
        assert (await scrape(url)).get("promalert_config_last_reload_successful") == 0
        await _evaluates(url, "E2EQuiet")  # the old config still runs

        config.write_text(good)
        rules = write_rules(tmp_path / "rules.yml", [QUIET_RULE, {**NEW_RULE, "kind": "treshold"}])
        line, column = _position(rules, "treshold")
        status, body = await _post(f"{url}/-/reload")
        assert status == 400
        assert f"rules.yml:{line}:{column}: " in body["error"]
        assert "unknown kind 'treshold'" in body["error"]
        assert await _rule_names(url) == {"E2EQuiet"}

        write_rules(tmp_path / "rules.yml", [QUIET_RULE, NEW_RULE])
        assert await _post(f"{url}/-/reload") == (200, {"status": "success"})
        assert (await scrape(url)).get("promalert_config_last_reload_successful") == 1
        assert await _rule_names(url) == {"E2EQuiet", "E2ENew"}
        await _evaluates(url, "E2ENew")


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_sighup_reloads_the_running_process(
    prometheus: RunningPrometheus, tmp_path: Path
) -> None:
    config = write_promalert(tmp_path, hook_url=HOOK, datasource=prometheus.url, rules=[QUIET_RULE])
    process = PromalertProcess(config)
    await process.start()
    try:
        assert await _rule_names(process.url) == {"E2EQuiet"}
        write_rules(tmp_path / "rules.yml", [QUIET_RULE, NEW_RULE])
        process.send(signal.SIGHUP)

        async def reloaded() -> bool | None:
            return True if await _rule_names(process.url) == {"E2EQuiet", "E2ENew"} else None

        await eventually(reloaded, within=10)
        await _evaluates(process.url, "E2ENew")
    finally:
        status = await process.stop(signal.SIGTERM)
    assert status == 0, process.logs()


def test_run_with_an_invalid_config_exits_1_naming_the_problem(tmp_path: Path) -> None:
    config = write_promalert(tmp_path, hook_url=HOOK)
    line, column = _break_config(config)
    done = subprocess.run(
        [*promalert_command(), "run", "--config", "promalert.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"promalert.yml:{line}:{column}: "), done.stdout
    assert "invalid duration '1x'" in done.stdout


def test_check_accepts_a_valid_config_through_the_console_script(tmp_path: Path) -> None:
    write_promalert(
        tmp_path, hook_url=HOOK, datasource="http://127.0.0.1:9", rules=[QUIET_RULE, NEW_RULE]
    )
    done = subprocess.run(
        [*promalert_command(), "check", "--config", "promalert.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 alerting rules" in done.stdout

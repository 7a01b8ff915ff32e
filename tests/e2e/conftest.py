"""Helpers for the end-to-end tests: promalert configs, its metrics page, the real CLI.

- :func:`write_promalert` writes ``promalert.yml`` (and ``rules.yml``) into a folder.
- :func:`scrape` reads promalert's ``/metrics`` over HTTP into a :class:`Samples`.
- :class:`PromalertProcess` runs the ``promalert run`` console script as a subprocess.
- :func:`eventually` polls an async check until it holds or a deadline passes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from promalert.service import Service
from support.prometheus import free_port

T = TypeVar("T")

PROMALERT = Path(sys.executable).with_name("promalert")
"""The console script installed next to the test interpreter."""


def promalert_command() -> list[str]:
    """The argv that runs promalert: the console script, else ``python -m promalert``."""
    return [str(PROMALERT)] if PROMALERT.exists() else [sys.executable, "-m", "promalert"]


def write_promalert(
    folder: Path,
    *,
    hook_url: str,
    datasource: str | None = None,
    rules: Sequence[Mapping[str, Any]] | None = None,
    rule_files: Sequence[str | Path] = (),
    port: int | None = None,
    evaluation_interval: str = "1s",
    group_wait: str = "0s",
    group_interval: str = "1s",
    repeat_interval: str = "1h",
    external_url: str | None = None,
) -> Path:
    """Write ``promalert.yml`` into ``folder`` and return its path.

    ``rules`` (a list of rule dicts) go to ``folder/rules.yml`` as one group named ``e2e``;
    ``rule_files`` are added as they are. Every alert goes to one webhook, ``hook_url``,
    grouped by all labels so each alert has its own group and notification.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    files = [str(f) for f in rule_files]
    if rules is not None:
        write_rules(folder / "rules.yml", rules)
        files.append("rules.yml")
    config: dict[str, Any] = {
        "global": {
            "evaluation_interval": evaluation_interval,
            "external_url": external_url or f"http://127.0.0.1:{port}",
        },
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": "sqlite:///promalert.db"},
        "route": {
            "receiver": "hook",
            "group_by": ["..."],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": hook_url}]}],
    }
    if datasource is not None:
        config["datasource"] = {"url": datasource, "timeout": "2s"}
    if files:
        config["rule_files"] = files
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def write_rules(path: Path, rules: Sequence[Mapping[str, Any]], group: str = "e2e") -> Path:
    """Write one rule group called ``group`` holding ``rules`` to ``path``."""
    path.write_text(
        yaml.safe_dump({"groups": [{"name": group, "rules": list(rules)}]}, sort_keys=False)
    )
    return path


def base_url(config_path: Path) -> str:
    """The HTTP base URL promalert serves for the config at ``config_path``."""
    listen = yaml.safe_load(config_path.read_text())["server"]["listen"]
    return f"http://{listen}"


class Samples:
    """One scrape of a metrics page: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self._values[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float | None:
        """The value of ``name{labels}`` (exact label set), or None when not exported."""
        return self._values.get((name, frozenset(labels.items())))

    def total(self, name: str, **labels: str) -> float:
        """The sum of every ``name`` sample whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self._values.items() if n == name and want <= ls)

    def names(self) -> set[str]:
        """Every sample name on the page."""
        return {name for name, _ in self._values}


async def scrape(url: str) -> Samples:
    """GET ``url/metrics`` and parse it."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/metrics") as response:
            assert response.status == 200, await response.text()
            return Samples(await response.text())


async def get_json(url: str) -> Any:
    """GET ``url`` and return its JSON body (asserting HTTP 200)."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float, every: float = 0.2
) -> T:
    """Poll ``check`` until it returns something other than None; return that.

    Assertion and connection errors count as "not yet"; the last one is in the failure.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: BaseException | None = None
    while True:
        try:
            got = await check()
        except (AssertionError, aiohttp.ClientError, OSError) as exc:
            got, last = None, exc
        if got is not None:
            return got
        if loop.time() >= deadline:
            raise AssertionError(f"not reached within {within}s (last error: {last!r})")
        await asyncio.sleep(every)


class PromalertProcess:
    """``promalert run --config CONFIG`` as a child process, its output in a log file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.url = base_url(config)
        self.log_path = config.with_name("promalert.log")
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *, ready_within: float = 20.0) -> None:
        """Start the process and wait until ``/-/ready`` answers 200."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *promalert_command(),
                "run",
                "--config",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.config.parent,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = self.process

        async def ready() -> bool | None:
            if process.returncode is not None:
                raise RuntimeError(f"promalert exited with {process.returncode}:\n{self.logs()}")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                async with session.get(f"{self.url}/-/ready") as response:
                    return True if response.status == 200 else None

        try:
            await eventually(ready, within=ready_within, every=0.1)
        except AssertionError as exc:
            await self.kill()
            raise AssertionError(f"promalert not ready: {exc}\n{self.logs()}") from None

    def logs(self) -> str:
        """Everything the process has printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def send(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process."""
        assert self.process is not None and self.process.returncode is None
        self.process.send_signal(sig)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, within: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit; return the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"promalert did not exit on {sig.name}:\n{self.logs()}") from None

    async def kill(self) -> None:
        """SIGKILL the process if it still runs and reap it."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@asynccontextmanager
async def running_service(config: Path) -> AsyncIterator[Service]:
    """Run promalert's :class:`Service` in this event loop until the block ends."""
    service = Service(config)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()

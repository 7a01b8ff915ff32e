"""Start a real Prometheus (the Debian ``prometheus`` binary) for a test, on 127.0.0.1.

    async with serve_exporter() as exp, running_prometheus(
        tmp_path, scrape_targets=[exp.target], scrape_interval="1s"
    ) as prom:
        await prom.wait_for("up == 1")
        ...  # query prom.url

The server gets a free port, its own TSDB under ``tmp_path``, ``--web.enable-lifecycle``
(so ``reload()`` works) and a log file that is included in the error if it fails to start.
It is killed when the block ends, or earlier with ``stop()``.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

_LOG_TAIL = 4000  # characters of the log shown when Prometheus fails to start


class PrometheusStartError(RuntimeError):
    """Prometheus exited or did not become ready; the message ends with its log."""


def prometheus_binary() -> str | None:
    """Path of the prometheus binary, or None when it is not installed."""
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningPrometheus:
    """A Prometheus process started by :func:`running_prometheus`."""

    def __init__(
        self, process: asyncio.subprocess.Process, port: int, workdir: Path, route_prefix: str = ""
    ) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}{route_prefix}"  # the API lives under url + /api/v1
        self.workdir = workdir
        self.config_path = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"

    def logs(self) -> str:
        """Everything Prometheus has logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        """True until the process has exited."""
        return self.process.returncode is None

    async def stop(self) -> None:
        """Terminate Prometheus (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (raise if the call failed)."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/api/v1/{path}", params=params) as response:
                body = await response.json()
        if body.get("status") != "success":
            raise AssertionError(f"Prometheus /api/v1/{path} failed: {body}")
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` now, as Prometheus's JSON result list."""
        data = await self.api("query", query=expr)
        result = data["result"]
        return result if data["resultType"] == "vector" else [{"metric": {}, "value": result}]

    async def wait_for(self, expr: str, *, count: int = 1, within: float = 30.0) -> list[Any]:
        """Wait up to ``within`` s until ``expr`` returns ``count`` series or more; return them."""
        async with asyncio.timeout(within):
            while True:
                result = await self.query(expr)
                if len(result) >= count:
                    return result
                await asyncio.sleep(0.2)

    async def reload(self) -> None:
        """Ask Prometheus to re-read its config and rule files."""
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.url}/-/reload") as response:
                if response.status != 200:
                    raise AssertionError(f"reload failed: HTTP {response.status}")

    async def _wait_ready(self, limit: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while loop.time() < deadline:
                if self.process.returncode is not None:
                    raise self._start_error(f"exited with code {self.process.returncode}")
                try:
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise self._start_error(f"was not ready within {limit:g}s")

    def _start_error(self, what: str) -> PrometheusStartError:
        log = self.logs()
        tail = log[-_LOG_TAIL:]
        print(f"--- prometheus log ({self.log_path}) ---\n{tail}")
        return PrometheusStartError(f"Prometheus on {self.url} {what}; log tail:\n{tail}")


def prometheus_config(
    *,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str | None = None,
    rule_files: Sequence[str | Path] = (),
    alertmanagers: Sequence[str] = (),
    external_labels: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The prometheus.yml used by :func:`running_prometheus`, as a dict."""
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [],
    }
    if external_labels:
        config["global"]["external_labels"] = dict(external_labels)
    if scrape_targets:
        config["scrape_configs"].append(
            {"job_name": "test", "static_configs": [{"targets": list(scrape_targets)}]}
        )
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    config.update(extra or {})
    return config


@asynccontextmanager
async def running_prometheus(
    tmp_path: Path,
    *,
    scrape_targets: Sequence[str] = (),
    scrape_interval: str = "1s",
    evaluation_interval: str | None = None,
    rule_files: Sequence[str | Path] = (),
    alertmanagers: Sequence[str] = (),
    external_labels: Mapping[str, str] | None = None,
    extra_config: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    route_prefix: str = "",
    startup_timeout: float = 30.0,
    backfill: str | Path | None = None,
) -> AsyncIterator[RunningPrometheus]:
    """Run Prometheus scraping ``scrape_targets`` (``host:port``) until the block ends.

    Skips the test when the prometheus binary is not installed. ``extra_config`` keys
    replace top-level keys of the generated config; ``extra_args`` are appended flags;
    ``route_prefix`` (like ``/prometheus``) serves everything under that path;
    ``backfill`` is an OpenMetrics file turned into TSDB blocks (``promtool tsdb
    create-blocks-from openmetrics``) before Prometheus starts, so its history is queryable.
    """
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("prometheus (Debian package prometheus) is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=tmp_path))
    config = prometheus_config(
        scrape_targets=scrape_targets,
        scrape_interval=scrape_interval,
        evaluation_interval=evaluation_interval,
        rule_files=rule_files,
        alertmanagers=alertmanagers,
        external_labels=external_labels,
        extra=extra_config,
    )
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    if route_prefix:
        extra_args = [f"--web.route-prefix={route_prefix}", *extra_args]
    if backfill is not None:
        await _backfill(Path(backfill), workdir / "data")
    prom = await _start(binary, workdir, extra_args, route_prefix.rstrip("/"), startup_timeout)
    try:
        yield prom
    finally:
        await prom.stop()


async def _backfill(source: Path, data_dir: Path) -> None:
    """Write ``source`` (OpenMetrics text) as blocks into a TSDB directory with promtool."""
    promtool = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        promtool,
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        str(source),
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise PrometheusStartError(f"promtool backfill failed:\n{output.decode(errors='replace')}")


async def _start(
    binary: str, workdir: Path, extra_args: Sequence[str], route_prefix: str, startup_timeout: float
) -> RunningPrometheus:
    """Start Prometheus, retrying on another port if the chosen one was taken meanwhile."""
    for attempt in range(3):
        port = free_port()
        log = (workdir / "prometheus.log").open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                *extra_args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()
        prom = RunningPrometheus(process, port, workdir, route_prefix)
        try:
            await prom._wait_ready(startup_timeout)
            return prom
        except PrometheusStartError:
            await prom.stop()
            if attempt == 2 or "address already in use" not in prom.logs():
                raise
    raise AssertionError("unreachable")

"""``promalert demo``: a local Prometheus scraping a synthetic workload, rules, an inbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import sys
from importlib import resources
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from promalert.demo.workload import workload_app
from promalert.errors import ConfigError
from promalert.service import Service

_READY_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _say(text: str) -> None:
    print(f"demo: {text}", flush=True)


async def _wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    """Wait until Prometheus answers ``/-/ready``; fail if it exits first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _READY_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"prometheus exited with status {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.3)
    raise RuntimeError(f"prometheus at {url} not ready after {_READY_TIMEOUT:.0f}s")


def _write_configs(folder: Path, exporter: str, prom_port: int, promalert_port: int) -> Path:
    """Write the demo's prometheus.yml and promalert.yml into ``folder``."""
    rules = resources.files("promalert.demo") / "rules"
    rule_glob = str(Path(str(rules)) / "*.yml")
    prometheus = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "scrape_configs": [
            {
                # The workload's own instance labels (web-1, web-2) are the ones to alert on.
                "job_name": "demo-workload",
                "honor_labels": True,
                "static_configs": [{"targets": [exporter]}],
            },
            {
                "job_name": "promalert",
                "scrape_interval": "5s",
                "static_configs": [{"targets": [f"127.0.0.1:{promalert_port}"]}],
            },
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(prometheus, sort_keys=False))
    promalert = {
        "global": {
            "evaluation_interval": "2s",
            "external_url": f"http://127.0.0.1:{promalert_port}",
        },
        "datasource": {"url": f"http://127.0.0.1:{prom_port}", "timeout": "5s"},
        "server": {"listen": f"127.0.0.1:{promalert_port}"},
        "storage": {"url": "sqlite:///promalert.db"},
        "rule_files": [rule_glob],
        "route": {
            "receiver": "inbox",
            "group_by": ["alertname", "instance"],
            "group_wait": "2s",
            "group_interval": "10s",
            "repeat_interval": "1h",
            # Critical and high alerts also open incidents that escalate until acknowledged.
            "routes": [{"matchers": ['severity=~"critical|high"'], "escalation": "demo"}],
        },
        "receivers": [
            {"name": name, "file_configs": [{"path": "inbox.jsonl", "console": True}]}
            for name in ("inbox", "on-call", "team-lead")
        ],
        "escalation_policies": {
            "demo": {
                "levels": [
                    {"targets": [{"receiver": "on-call"}], "timeout": "20s"},
                    {"targets": [{"receiver": "team-lead"}], "timeout": "40s"},
                ],
                "sla": {"ack": "30s", "notify": [{"receiver": "team-lead"}]},
            }
        },
    }
    config = folder / "promalert.yml"
    config.write_text(yaml.safe_dump(promalert, sort_keys=False))
    return config


def _count_inbox(inbox: Path) -> tuple[int, int]:
    """Count (firing, resolved) alerts notified in the inbox file."""
    firing = resolved = 0
    if not inbox.exists():
        return 0, 0
    for line in inbox.read_text().splitlines():
        for alert in json.loads(line).get("alerts", []):
            if alert.get("status") == "firing":
                firing += 1
            else:
                resolved += 1
    return firing, resolved


def _prepare_folder(folder_name: str) -> Path:
    """Create the demo folder and remove the previous run's state, so the story replays."""
    folder = Path(folder_name).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("prometheus-data", "promalert.db", "promalert.db-wal", "promalert.db-shm"):
        path = folder / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (folder / "inbox.jsonl").unlink(missing_ok=True)
    return folder


async def run_demo(folder_name: str, duration: float | None) -> int:
    """Run the demo until ``duration`` seconds pass (or Ctrl-C); 0 when alerts fired."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print(
            "demo: the 'prometheus' binary is not installed; run scripts/demo (it installs it) "
            "or `apt-get install prometheus`",
            file=sys.stderr,
        )
        return 1
    folder = _prepare_folder(folder_name)
    inbox = folder / "inbox.jsonl"

    loop = asyncio.get_running_loop()
    runner = web.AppRunner(workload_app(loop.time()), access_log=None)
    await runner.setup()
    exporter_port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", exporter_port).start()
    prom_port, promalert_port = _free_port(), _free_port()
    config = _write_configs(folder, f"127.0.0.1:{exporter_port}", prom_port, promalert_port)
    log = (folder / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        prometheus,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        stdout=log,
        stderr=log,
    )
    service: Service | None = None
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await _wait_ready(f"http://127.0.0.1:{prom_port}", process)
        service = Service(config)
        await service.start()
        _say(f"workload exporter  http://127.0.0.1:{exporter_port}/metrics")
        _say(f"prometheus         http://127.0.0.1:{prom_port}")
        _say(f"promalert          http://127.0.0.1:{promalert_port}/metrics")
        _say(f"config and inbox   {folder}")
        _say("web-1 runs hot from 20s to 70s of every 2 minutes; watch alerts fire and resolve")
        _say(
            "high and critical alerts open incidents that escalate from on-call to team-lead "
            f"after 20s; ack one with: promalert ack ID --url http://127.0.0.1:{promalert_port}"
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=duration)
    except (ConfigError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if service is not None:
            await service.stop()
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()
        await runner.cleanup()
    firing, resolved = _count_inbox(inbox)
    _say(f"done: {firing} firing and {resolved} resolved alert notifications in {inbox}")
    if duration is not None and duration >= 60 and firing == 0:
        print("demo: no alert fired; see prometheus.log in the demo folder", file=sys.stderr)
        return 1
    return 0

"""The two servers under test, each started fresh: Alertmanager 0.25 and promalert.

Both get the same routing: one receiver, a webhook to the sink, ``group_by: ['...']``
(one group per alert), ``group_wait: 0s``, ``send_resolved: false``. Each runs as a
child process bound to 127.0.0.1 with its own data folder; :meth:`Server.rss` reads its
resident memory from /proc.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def routing(sink_url: str) -> dict[str, object]:
    """The Alertmanager-format routing both servers load."""
    return {
        "global": {"resolve_timeout": "1h"},
        "route": {
            "receiver": "sink",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "5m",
            "repeat_interval": "24h",
        },
        "receivers": [
            {"name": "sink", "webhook_configs": [{"url": sink_url, "send_resolved": False}]}
        ],
    }


@dataclass
class Server:
    """A started server process."""

    name: str
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def pids(self) -> list[int]:
        """The server's process and its child processes (promalert's delivery process)."""
        pids = [self.popen.pid]
        for pid in pids:
            for task in Path(f"/proc/{pid}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        return pids

    def rss(self) -> int:
        """Resident memory in bytes, of the server and its child processes."""
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def cpu(self) -> float:
        """User plus system CPU seconds used so far, by the server and its children."""
        total = 0
        for pid in self.pids():
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Poll ``path`` until it answers 200; raise RuntimeError with the log if it dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout}s")


def _spawn(name: str, argv: list[str], workdir: Path, url: str, ready: str) -> Server:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    server = Server(name, popen, url, log_path)
    try:
        server.wait_ready(ready)
    except BaseException:
        server.stop()
        raise
    return server


def alertmanager_binary() -> str | None:
    """Path of Alertmanager 0.25 (Debian ``prometheus-alertmanager``), if installed."""
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def start_alertmanager(workdir: Path, sink_url: str) -> Server:
    """A fresh Alertmanager with the benchmark routing."""
    binary = alertmanager_binary()
    if binary is None:
        raise RuntimeError(
            "Alertmanager is not installed (apt-get install prometheus-alertmanager)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(routing(sink_url)))
    port = free_port()
    argv = [
        binary,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    return _spawn("alertmanager", argv, workdir, f"http://127.0.0.1:{port}", "/-/ready")


def start_promalert(workdir: Path, sink_url: str) -> Server:
    """A fresh promalert with the same routing and a new SQLite store."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        **routing(sink_url),
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": f"sqlite:///{workdir / 'data' / 'promalert.db'}"},
    }
    (workdir / "promalert.yml").write_text(yaml.safe_dump(config))
    argv = [
        sys.executable,
        "-m",
        "promalert",
        "--log-level",
        "warning",
        "run",
        "--config",
        str(workdir / "promalert.yml"),
    ]
    return _spawn("promalert", argv, workdir, f"http://127.0.0.1:{port}", "/-/ready")

"""Child processes for the benchmark: start, wait for HTTP, measure CPU, stop for sure."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1


class BenchError(RuntimeError):
    """Something the benchmark needs did not start or did not answer in time."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child if the benchmark itself is killed outright."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (from /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces or parentheses; the fields start after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / _CLK_TCK


def host_busy_seconds() -> float:
    """CPU seconds the whole host has spent busy since boot, over all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _CLK_TCK


def own_cpu_seconds() -> float:
    """CPU seconds used by this process (the benchmark and its sink thread)."""
    t = os.times()
    return t.user + t.system


@dataclass(slots=True)
class Child:
    """One started child process with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def check_alive(self) -> None:
        """Raise BenchError, with the end of its log, if the child has exited."""
        code = self.popen.poll()
        if code is not None:
            raise BenchError(f"{self.name} exited with status {code}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the child wrote to stdout/stderr."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join("    " + line for line in text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the child, then SIGKILL it if it has not exited within ``timeout``."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


class Children:
    """Owns every child process started through it and stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._children: list[Child] = []

    def start(
        self, name: str, argv: Sequence[str], cwd: Path | None = None, stdout_pipe: bool = False
    ) -> Child:
        """Start ``argv`` in its own session (Ctrl-C reaches only us; we stop it in order)."""
        log_path = self._log_dir / f"{name}.log"
        log = log_path.open("wb")
        try:
            popen = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log.close()
            raise BenchError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        child = Child(name, popen, log_path, log)
        self._children.append(child)
        return child

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every child still running."""
        total = 0.0
        for child in self._children:
            if child.popen.poll() is None:
                try:
                    total += cpu_seconds(child.pid)
                except OSError:
                    pass  # exited between the poll and the read
        return total

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self._children:
            self._children.pop().stop()

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def http_get(url: str, timeout: float = 5.0) -> bytes:
    """GET ``url`` and return the body; raises OSError (URLError) on failure."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body: bytes = resp.read()
        return body


def wait_until(
    what: str, ready: Callable[[], bool], child: Child | None, timeout: float, poll: float = 0.5
) -> None:
    """Poll ``ready`` until it is true; raise BenchError on timeout or if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if child is not None:
            child.check_alive()
        try:
            if ready():
                return
        except (OSError, ValueError):
            pass  # not listening yet, or an answer we cannot use yet
        if time.monotonic() > deadline:
            tail = f"\n{child.log_tail()}" if child is not None else ""
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(poll)


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check that passes once ``url`` answers 2xx."""

    def check() -> bool:
        try:
            http_get(url, timeout=2.0)
        except urllib.error.HTTPError:
            return False
        return True

    return check

"""Helpers for the Alertmanager compatibility tests: a real Alertmanager 0.25, promalert
with the same routing config, a webhook sink both deliver to, and ``amtool``.

Every server binds 127.0.0.1 on a free port. promalert runs in-process (it is the code
under test); Alertmanager runs as a child process with clustering off.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from promalert.service import Service

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True))


async def _wait_ready(url: str, process: asyncio.subprocess.Process | None, log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process is not None and process.returncode is not None:
                raise AssertionError(f"{url} exited:\n{_tail(log)}")
            try:
                async with session.get(f"{url}/-/ready") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} not ready:\n{_tail(log)}")


@asynccontextmanager
async def run_alertmanager(workdir: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """A real Alertmanager 0.25 with ``config``; yields its base URL."""
    assert ALERTMANAGER is not None
    _write(workdir / "alertmanager.yml", config)
    port = free_port()
    log = workdir / "alertmanager.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            ALERTMANAGER,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, process, log)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@asynccontextmanager
async def run_promalert(workdir: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """promalert in this process with ``config`` (plus its own listen address and store)."""
    port = free_port()
    full = {
        **config,
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": f"sqlite:///{workdir / 'promalert.db'}"},
    }
    path = workdir / "promalert.yml"
    _write(path, full)
    service = Service(path)
    await service.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await service.stop()


@dataclass
class Hooks:
    """Every webhook payload received, with the path it was POSTed to."""

    url: str = ""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def at(self, prefix: str) -> list[dict[str, Any]]:
        """Payloads POSTed under ``/prefix/``."""
        return [p for path, p in self.received if path.startswith(f"/{prefix}/")]


@asynccontextmanager
async def serve_hooks() -> AsyncIterator[Hooks]:
    """A webhook receiver on 127.0.0.1 that records every payload."""
    hooks = Hooks()

    async def receive(request: web.Request) -> web.Response:
        hooks.received.append((request.path, await request.json()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    hooks.url = f"http://127.0.0.1:{port}"
    try:
        yield hooks
    finally:
        await runner.cleanup()


async def amtool(url: str, *args: str) -> tuple[int, str, str]:
    """Run ``amtool --alertmanager.url=URL ARGS...``; return (status, stdout, stderr)."""
    assert AMTOOL is not None
    process = await asyncio.create_subprocess_exec(
        AMTOOL,
        f"--alertmanager.url={url}",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def post_json(url: str, path: str, body: Any) -> tuple[int, Any]:
    """POST JSON; return the status and decoded answer (None when empty)."""
    async with aiohttp.ClientSession() as session, session.post(url + path, json=body) as resp:
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None)) if text else None

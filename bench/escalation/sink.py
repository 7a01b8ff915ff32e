"""A webhook sink for the escalation benchmark, run as its own process: ``sink.py PORT``.

Adapted from ``bench/ingest/sink.py`` (a raw asyncio HTTP/1.1 server, so the sink is not
what limits promalert). It answers every POST with 200 and records, for each
``(incident.id, incident.level)`` of an escalation notification, the ``time.time()`` of
the request's first arrival: wall-clock time, the clock promalert stamps ``created_at``
with, shared by every process on the host.

``GET /count`` answers ``{"steps", "requests", "duplicates", "plain"}`` (plain: payloads
without an ``incident``); ``GET /dump`` answers ``{"ID:LEVEL": arrival, ...}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


class Sink:
    """First arrival of each (incident, level) and how many arrived again."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.requests = 0
        self.duplicates = 0
        self.plain = 0

    def record(self, body: bytes, at: float) -> None:
        self.requests += 1
        try:
            incident = json.loads(body).get("incident")
        except ValueError:
            incident = None
        if not isinstance(incident, dict):
            self.plain += 1
            return
        key = f"{incident.get('id')}:{incident.get('level')}"
        if key in self.first:
            self.duplicates += 1
        else:
            self.first[key] = at


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1 with keep-alive for aiohttp's client."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        at = time.time()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.respond(head.split(" ", 2), body, at)

    def respond(self, request_line: list[str], body: bytes, at: float) -> None:
        assert self.transport is not None
        method, path = request_line[0], request_line[1]
        payload = b""
        if method == "POST":
            self.sink.record(body, at)
        elif path == "/count":
            s = self.sink
            counts = {
                "steps": len(s.first),
                "requests": s.requests,
                "duplicates": s.duplicates,
                "plain": s.plain,
            }
            payload = json.dumps(counts).encode()
        elif path == "/dump":
            payload = json.dumps(self.sink.first).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(payload)).encode()
            + b"\r\n\r\n"
            + payload
        )


async def main(port: int) -> None:
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(sink), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

"""A webhook sink for the ingest benchmark, run as its own process: ``sink.py PORT``.

It answers every POST with 200 and records, for each ``seq`` label in the body, the
``time.monotonic()`` of the request's arrival (one clock for every process on the host,
so the poster's send times and these arrival times can be subtracted). A raw asyncio
protocol keeps the sink cheap, so it is not what limits the servers being measured.

``GET /count`` answers the number of distinct ``seq`` values seen (firing only);
``GET /dump`` answers ``{"seq": arrival, ...}`` as JSON; ``POST /reset`` forgets all.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Protocol

_SEQ = re.compile(rb'"seq":\s*"(\d+)"')
_RESOLVED = b'"status":"resolved"'


class Sink:
    """Arrival time of the first firing notification of each seq."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.requests = 0

    def record(self, body: bytes, at: float) -> None:
        self.requests += 1
        if _RESOLVED in body.replace(b" ", b"")[:40]:
            return
        for match in _SEQ.finditer(body):
            self.first.setdefault(int(match.group(1)), at)

    def answer(self, method: str, path: str, body: bytes, at: float) -> bytes:
        """Record POSTs; answer ``/count`` and ``/dump``; ``POST /reset`` forgets all."""
        if method == "POST" and path == "/reset":
            self.first.clear()
            self.requests = 0
        elif method == "POST":
            self.record(body, at)
        elif path == "/count":
            return json.dumps({"seqs": len(self.first), "requests": self.requests}).encode()
        elif path == "/dump":
            return json.dumps(self.first).encode()
        return b""


class Answering(Protocol):
    """What a sink does with one request: record it and say what to answer."""

    def answer(self, method: str, path: str, body: bytes, at: float) -> bytes:
        """The JSON body of the 200 response to this request."""
        ...


class HttpSink(asyncio.Protocol):
    """Just enough HTTP/1.1 with keep-alive for Go's and aiohttp's clients."""

    def __init__(self, sink: Answering, clock: Callable[[], float]) -> None:
        self.sink = sink
        self.clock = clock
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        at = self.clock()
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
            method, path = head.split(" ", 2)[:2]
            payload = self.sink.answer(method, path, body, at)
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(payload)).encode()
                + b"\r\n\r\n"
                + payload
            )


async def serve(sink: Answering, port: int, clock: Callable[[], float]) -> None:
    """Serve ``sink`` on 127.0.0.1:``port`` until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpSink(sink, clock), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(Sink(), int(sys.argv[1]), time.monotonic))

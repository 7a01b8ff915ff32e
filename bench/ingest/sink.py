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


class _Http(asyncio.Protocol):
    """Just enough HTTP/1.1 with keep-alive for Go's and aiohttp's clients."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        at = time.monotonic()
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
        if method == "POST" and path == "/reset":
            self.sink.first.clear()
            self.sink.requests = 0
        elif method == "POST":
            self.sink.record(body, at)
        elif path == "/count":
            payload = json.dumps(
                {"seqs": len(self.sink.first), "requests": self.sink.requests}
            ).encode()
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

"""A webhook sink for the escalation benchmark, run as its own process: ``sink.py PORT``.

It serves through ``bench/ingest/sink.py``'s raw asyncio HTTP/1.1 server, so the sink is
not what limits promalert. It answers every POST with 200 and records, for each
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from sink import serve  # noqa: E402


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

    def answer(self, method: str, path: str, body: bytes, at: float) -> bytes:
        """Record POSTs; answer ``/count`` and ``/dump``."""
        if method == "POST":
            self.record(body, at)
        elif path == "/count":
            counts = {
                "steps": len(self.first),
                "requests": self.requests,
                "duplicates": self.duplicates,
                "plain": self.plain,
            }
            return json.dumps(counts).encode()
        elif path == "/dump":
            return json.dumps(self.first).encode()
        return b""


if __name__ == "__main__":
    asyncio.run(serve(Sink(), int(sys.argv[1]), time.time))

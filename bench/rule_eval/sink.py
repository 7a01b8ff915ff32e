"""A notification sink on 127.0.0.1: accepts any POST (vmalert's /api/v2/alerts, a webhook)."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True, slots=True)
class SinkCounts:
    """What the sink has received so far on one path."""

    posts: int
    alerts: int

    def __sub__(self, other: SinkCounts) -> SinkCounts:
        return SinkCounts(self.posts - other.posts, self.alerts - other.alerts)

    def __add__(self, other: SinkCounts) -> SinkCounts:
        return SinkCounts(self.posts + other.posts, self.alerts + other.alerts)


class _Handler(BaseHTTPRequestHandler):
    """Answers every POST at once and counts the alerts in it, without decoding the JSON.

    Both vmalert's Alertmanager payload and the webhook payload carry one ``startsAt`` per
    alert, so counting that key is exact and cheap. vmalert notifies synchronously inside
    its group cycle, so a slow sink would be measured as slow rule evaluation.
    """

    server: _SinkServer
    protocol_version = "HTTP/1.1"  # keep connections alive, as Alertmanager does

    def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.send_response_only(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.record(self.path, body.count(b'"startsAt"'))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        """Stay quiet: the benchmark prints only its figures."""


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self._lock = threading.Lock()
        self._counts: dict[str, SinkCounts] = {}

    def record(self, path: str, alerts: int) -> None:
        with self._lock:
            old = self._counts.get(path, SinkCounts(0, 0))
            self._counts[path] = SinkCounts(old.posts + 1, old.alerts + alerts)

    def counts(self, path: str) -> SinkCounts:
        with self._lock:
            return self._counts.get(path, SinkCounts(0, 0))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a tool is stopped mid-request; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Sink:
    """The sink server running in a daemon thread for as long as the context is open."""

    def __init__(self) -> None:
        self._server = _SinkServer()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the sink, without a trailing slash."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def counts(self, path: str) -> SinkCounts:
        """Posts and alerts received on ``path`` so far."""
        return self._server.counts(path)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

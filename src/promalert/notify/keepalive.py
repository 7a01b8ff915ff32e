"""A small pooled HTTP/1.1 client for the webhook's plain ``http://`` POSTs.

aiohttp costs about 110 µs of CPU per request on the benchmark VM (URL objects, cookie
jar, tracing, timer objects, its stream machinery); with one webhook per alert group
that was most of the delivery cost. This client does only what a webhook POST needs, on
non-blocking sockets driven by the event loop:

- keep-alive connections per host and port, one request at a time on each; an idle
  connection is checked before reuse (closed by the server, or idle longer than
  ``idle_timeout``: dropped), and a reused one that the server closed before answering
  is retried once on a new connection (delivery is at least once anyway);
- strict response parsing: the status line and CRLF-terminated headers, a body framed
  by ``Transfer-Encoding: chunked``, by ``Content-Length`` (conflicting values are an
  error), or by the end of the connection; ``1xx`` answers are skipped; ``Connection:
  close`` and HTTP/1.0 close the connection after the answer;
- no deadline of its own: the caller puts one around the whole exchange.

TLS, credentials in the URL and non-ASCII paths stay with aiohttp: :meth:`target`
returns None for them. Idle sockets are plain sockets (not registered with the loop),
so they are closed without a loop when the client is garbage-collected.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BadResponse", "ConnectFailed", "KeepAliveClient", "Reply", "ServerClosed", "Target"]

_RECV = 65536
_MAX_HEAD = 64 * 1024
_LINE = 8 * 1024
_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdefABCDEF")

Idle = dict[tuple[str, int], list[tuple[socket.socket, float]]]


class BadResponse(Exception):
    """The server's answer is not valid HTTP/1.1."""


class ServerClosed(ConnectionError):
    """The server closed the connection before its answer was complete."""


class _Unanswered(ServerClosed):
    """Closed before a single byte of the answer: the request may not have been read."""


class ConnectFailed(OSError):
    """No connection could be made (``errno`` and ``strerror`` say why)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's requests go, with the request line and Host header already encoded."""

    host: str
    port: int
    prefix: bytes

    @property
    def key(self) -> tuple[str, int]:
        """The pool a connection to this target belongs to."""
        return (self.host, self.port)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer: status, headers in order (names as sent) and the body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def parse_target(url: str) -> Target | None:
    """The target of a plain-http URL this client can send to, or None (use aiohttp)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme.lower() != "http" or not host or parts.username or parts.password:
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # Only what can go on the wire as written; anything to encode is left to yarl.
    if not path.isascii() or not path.isprintable() or " " in path or not host.isascii():
        return None
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == 80 else f"{shown}:{port}"
    prefix = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n".encode("ascii")
    return Target(host, port, prefix)


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """``Name: value`` lines; raise ValueError for a name or value that is not valid HTTP."""
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode("utf-8"), value.encode("utf-8")
        if not raw_name or not _TOKEN.issuperset(raw_name):
            raise ValueError("a header name is not a valid HTTP token")
        if b"\r" in raw_value or b"\n" in raw_value or b"\0" in raw_value:
            raise ValueError("a header value contains a line break or NUL")
        out += raw_name + b": " + raw_value.strip() + b"\r\n"
    return bytes(out)


def parse_head(head: bytes) -> tuple[int, bool, list[tuple[str, str]]]:
    """Status, whether the server speaks HTTP/1.1, and the headers of a response head."""
    lines = head.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if (
        version not in (b"HTTP/1.1", b"HTTP/1.0")
        or len(code) != 3
        or not code.isdigit()
        or rest[3:4] not in (b"", b" ")
    ):
        raise BadResponse("malformed status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not _TOKEN.issuperset(name):
            raise BadResponse("malformed header line")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return int(code), version == b"HTTP/1.1", headers


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    """Comma-separated values of every ``name`` header, lower-cased."""
    return [
        v.strip().lower()
        for k, value in headers
        if k.lower() == name
        for v in value.split(",")
        if v.strip()
    ]


class _Reader:
    """Reads one response from a connection's byte stream."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, max_body: int):
        self._loop = loop
        self._sock = sock
        self._max_body = max_body
        self.buffer = bytearray()
        self.received = 0

    async def _fill(self) -> bool:
        """Read more; False at the end of the stream."""
        try:
            data = await self._loop.sock_recv(self._sock, _RECV)
        except ConnectionResetError:
            if self.received == 0:
                raise _Unanswered("server reset the connection without answering") from None
            raise
        self.received += len(data)
        self.buffer += data
        return bool(data)

    async def _need(self, size: int) -> None:
        while len(self.buffer) < size:
            if not await self._fill():
                raise ServerClosed("connection closed in the middle of the answer")

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > _LINE:
                raise BadResponse("line too long")
            if not await self._fill():
                raise ServerClosed("connection closed in the middle of the answer")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def _head(self) -> bytes:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > _MAX_HEAD:
                raise BadResponse("response headers too large")
            if not await self._fill():
                if self.received == 0:
                    raise _Unanswered("server closed the connection without answering")
                raise ServerClosed("connection closed in the middle of the answer")
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head

    async def response(self) -> tuple[Reply, bool]:
        """The final (non-1xx) answer, and whether the connection can be used again."""
        while True:
            status, http11, headers = parse_head(await self._head())
            if status == 101:
                raise BadResponse("unexpected protocol switch")
            if status >= 200:
                break
        connection = _values(headers, "connection")
        reusable = "close" not in connection if http11 else "keep-alive" in connection
        codings = _values(headers, "transfer-encoding")
        lengths = {v.strip() for k, v in headers if k.lower() == "content-length"}
        if status in (204, 304):
            body = b""
        elif codings:
            if codings[-1] != "chunked":
                body, reusable = await self._to_end(), False
            else:
                body, complete = await self._chunked()
                reusable = reusable and complete and not lengths
        elif lengths:
            if len(lengths) != 1 or not (text := lengths.pop()).isdigit():
                raise BadResponse("invalid Content-Length")
            length = int(text)
            take = min(length, self._max_body)
            await self._need(take)
            body = bytes(self.buffer[:take])
            del self.buffer[:take]
            reusable = reusable and take == length
        else:
            body, reusable = await self._to_end(), False
        # Bytes after the answer would be an answer to nothing: do not reuse the connection.
        return Reply(status, tuple(headers), body), reusable and not self.buffer

    async def _chunked(self) -> tuple[bytes, bool]:
        """The de-chunked body, and False when it was cut at ``max_body``."""
        body = bytearray()
        while True:
            size_text = (await self._line()).split(b";", 1)[0].strip(b" \t")
            if not size_text or not _HEX.issuperset(size_text) or len(size_text) > 16:
                raise BadResponse("invalid chunk size")
            size = int(size_text, 16)
            if size == 0:
                while await self._line():
                    pass  # trailer fields: not needed
                return bytes(body), True
            await self._need(size + 2)
            if self.buffer[size : size + 2] != b"\r\n":
                raise BadResponse("chunk not followed by CRLF")
            body += self.buffer[:size]
            del self.buffer[: size + 2]
            if len(body) >= self._max_body:
                return bytes(body[: self._max_body]), False

    async def _to_end(self) -> bytes:
        while len(self.buffer) < self._max_body and await self._fill():
            pass
        body = bytes(self.buffer[: self._max_body])
        self.buffer.clear()
        return body


def _close_all(idle: Idle) -> None:
    for connections in idle.values():
        for sock, _ in connections:
            sock.close()
    idle.clear()


class KeepAliveClient:
    """Pooled keep-alive HTTP/1.1 connections for POSTs to plain-http URLs."""

    def __init__(
        self,
        *,
        idle_timeout: float = 15.0,
        max_idle: int = 32,
        max_body: int = 1 << 20,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Bodies longer than ``max_body`` are cut there (and the connection is dropped)."""
        self._idle_timeout = idle_timeout
        self._max_idle = max_idle
        self._max_body = max_body
        self._monotonic = monotonic  # only for idle ages, never for logic
        self._targets: dict[str, Target | None] = {}
        self._idle: Idle = {}
        self._finalizer = weakref.finalize(self, _close_all, self._idle)

    def target(self, url: str) -> Target | None:
        """The target of ``url``, or None when this client cannot send there."""
        try:
            return self._targets[url]
        except KeyError:
            if len(self._targets) > 64:
                self._targets.clear()
            found = self._targets[url] = parse_target(url)
            return found

    def close(self) -> None:
        """Close every idle connection."""
        _close_all(self._idle)

    async def post(self, target: Target, headers: bytes, body: bytes) -> Reply:
        """POST ``body`` with encoded ``headers``; raise OSError or BadResponse.

        It has no deadline of its own: callers wrap it in ``asyncio.timeout`` (a cancelled
        exchange closes its connection, so no half-read answer is ever reused).
        """
        request = b"%s%sContent-Length: %d\r\n\r\n%s" % (target.prefix, headers, len(body), body)
        sock = self._reuse(target)
        if sock is not None:
            try:
                return await self._exchange(target, sock, request)
            except _Unanswered:
                pass  # the server dropped the idle connection: once more on a new one
        return await self._exchange(target, await self._connect(target), request)

    def _reuse(self, target: Target) -> socket.socket | None:
        idle = self._idle.get(target.key)
        now = self._monotonic()
        while idle:
            sock, since = idle.pop()
            if now - since > self._idle_timeout:
                sock.close()
                for older, _ in idle:  # the newest is too old: so are the rest
                    older.close()
                idle.clear()
                break
            try:
                # Readable while idle means closed (b"") or stray bytes: not reusable.
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                return sock
            except OSError:
                pass
            sock.close()
        return None

    async def _connect(self, target: Target) -> socket.socket:
        loop = asyncio.get_running_loop()
        try:
            ip = ipaddress.ip_address(target.host)
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            addresses: list[tuple[int, tuple[Any, ...]]] = [(family, (target.host, target.port))]
        except ValueError:
            try:
                infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise ConnectFailed(exc.errno, "the host name does not resolve") from None
            addresses = [(int(info[0]), tuple(info[4][:2])) for info in infos]
        error: OSError = ConnectFailed(0, "no address")
        for kind, address in addresses:
            sock = socket.socket(kind, socket.SOCK_STREAM)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, address)
                return sock
            except OSError as exc:
                sock.close()
                # Not the exception's text: asyncio puts the address in it.
                why = os.strerror(exc.errno) if exc.errno else type(exc).__name__
                error = ConnectFailed(exc.errno or 0, why)
            except BaseException:
                sock.close()
                raise
        raise error

    async def _exchange(self, target: Target, sock: socket.socket, request: bytes) -> Reply:
        """Send ``request`` and read the answer; the socket is pooled again or closed."""
        loop = asyncio.get_running_loop()
        reusable = False
        try:
            try:
                await loop.sock_sendall(sock, request)
            except (BrokenPipeError, ConnectionResetError):
                raise _Unanswered("server closed the connection before the request") from None
            reply, reusable = await _Reader(loop, sock, self._max_body).response()
            return reply
        finally:
            if reusable and len(idle := self._idle.setdefault(target.key, [])) < self._max_idle:
                idle.append((sock, self._monotonic()))
            else:
                sock.close()

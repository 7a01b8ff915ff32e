"""The keep-alive webhook client against a scripted raw HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from promalert.clock import FakeClock
from promalert.errors import NotifyError
from promalert.notify.http import HttpSender
from promalert.notify.keepalive import (
    BadResponse,
    KeepAliveClient,
    ServerClosed,
    encode_headers,
    parse_target,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Script:
    """A server that answers the n-th request with ``answers[n]`` (then ``OK``).

    An answer of ``None`` closes the connection without answering.
    """

    answers: list[bytes | None] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    close_after_answer: bool = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0) if self.answers else OK
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def script() -> AsyncIterator[Script]:
    """A scripted server on a free port of 127.0.0.1."""
    s = Script()
    server = await asyncio.start_server(s.serve, "127.0.0.1", 0)
    s.port = server.sockets[0].getsockname()[1]
    yield s
    server.close()
    await server.wait_closed()


async def post(client: KeepAliveClient, port: int, body: bytes = b"{}") -> tuple[int, bytes]:
    target = parse_target(f"http://127.0.0.1:{port}/hook?x=1")
    assert target is not None
    async with asyncio.timeout(5):
        reply = await client.post(target, encode_headers({"X-A": "b"}), body)
    return reply.status, reply.body


async def test_requests_share_one_connection(script: Script) -> None:
    client = KeepAliveClient()
    assert await post(client, script.port, b'{"a":1}') == (200, b"ok")
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 1
    first = script.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{script.port}\r\n".encode() in first
    assert b"X-A: b\r\n" in first and b"Content-Length: 7\r\n" in first
    assert first.endswith(b'\r\n\r\n{"a":1}')
    client.close()


async def test_chunked_answer_with_trailers(script: Script) -> None:
    script.answers.append(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    client = KeepAliveClient()
    assert await post(client, script.port) == (200, b"abcde")
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 1  # the chunked answer left the connection reusable
    client.close()


async def test_interim_answers_are_skipped(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)
    client = KeepAliveClient()
    assert await post(client, script.port) == (200, b"ok")
    client.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
async def test_connection_close_is_honoured(script: Script, answer: bytes) -> None:
    script.answers.append(answer)
    client = KeepAliveClient()
    assert await post(client, script.port) == (200, b"ok")
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 2
    client.close()


async def test_body_without_length_reads_to_the_end(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 500 Internal Server Error\r\n\r\nbroken")
    script.close_after_answer = True
    client = KeepAliveClient()
    assert await post(client, script.port) == (500, b"broken")
    client.close()


async def test_no_content_has_no_body(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 204 No Content\r\n\r\n")
    client = KeepAliveClient()
    assert await post(client, script.port) == (204, b"")
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 1
    client.close()


async def test_idle_connection_closed_by_the_server_is_replaced(script: Script) -> None:
    script.close_after_answer = True  # the server hangs up after every answer
    client = KeepAliveClient()
    assert await post(client, script.port) == (200, b"ok")
    await asyncio.sleep(0.05)  # let the FIN arrive
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 2 and len(script.requests) == 2
    client.close()


async def test_reused_connection_dropped_unanswered_is_retried_once(script: Script) -> None:
    client = KeepAliveClient()
    assert await post(client, script.port) == (200, b"ok")
    script.answers.append(None)  # reads the request, then hangs up without answering
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 2 and len(script.requests) == 3
    client.close()


async def test_new_connection_dropped_unanswered_fails(script: Script) -> None:
    script.answers.append(None)
    client = KeepAliveClient()
    with pytest.raises(ServerClosed):
        await post(client, script.port)
    assert len(script.requests) == 1
    client.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_malformed_answers_are_refused(script: Script, answer: bytes) -> None:
    script.answers.append(answer)
    client = KeepAliveClient()
    with pytest.raises(BadResponse):
        await post(client, script.port)
    client.close()


async def test_long_bodies_are_cut_and_the_connection_dropped(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
    client = KeepAliveClient(max_body=4)
    assert await post(client, script.port) == (200, b"0123")
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 2
    client.close()


def test_targets_only_plain_http_urls_written_as_sent() -> None:
    target = parse_target("http://hooks.example.org/a/b?c=d#frag")
    assert target is not None
    assert target.prefix == b"POST /a/b?c=d HTTP/1.1\r\nHost: hooks.example.org\r\n"
    assert target.key == ("hooks.example.org", 80)
    v6 = parse_target("http://[::1]:8080")
    assert v6 is not None and v6.prefix.endswith(b"Host: [::1]:8080\r\n")
    for url in (
        "https://hooks.example.org/",
        "http://user:pw@hooks.example.org/",
        "http://hooks.example.org/caf\u00e9",
        "http://hooks.example.org/a b",
        "http://hooks.example.org:99999/",
    ):
        assert parse_target(url) is None, url


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_headers({"X-A": "b\r\nX-Evil: 1"})
    with pytest.raises(ValueError):
        encode_headers({"Bad Name": "v"})


async def test_sender_maps_failures_to_notify_errors(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n")
    token = "s3cr3t-token-in-the-path"
    url = f"http://127.0.0.1:{script.port}/{token}"
    async with aiohttp.ClientSession() as session:
        sender = HttpSender(
            session, "webhook[0]", FakeClock(), timeout=5, keepalive=KeepAliveClient()
        )
        with pytest.raises(NotifyError) as info:
            await sender.post(url, data=b"{}")
        assert (info.value.retryable, info.value.reason) == (True, "other")
        script.answers.append(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\nContent-Length: 0\r\n\r\n"
        )
        response = await sender.post(url, data=b"{}")
        with pytest.raises(NotifyError) as limited:
            sender.check(response)
        assert (limited.value.reason, limited.value.retry_after) == ("rate_limited", 7.0)
        with pytest.raises(NotifyError) as bad_header:
            await sender.post(url, data=b"{}", headers={"X": "a\nb"})
        assert (bad_header.value.retryable, bad_header.value.reason) == (False, "config")
        assert all(token not in str(e.value) for e in (info, limited, bad_header))


async def test_a_timeout_drops_the_connection(script: Script) -> None:
    script.answers.append(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok")  # 3 bytes short
    client = KeepAliveClient()
    async with aiohttp.ClientSession() as session:
        sender = HttpSender(session, "webhook[0]", FakeClock(), timeout=0.2, keepalive=client)
        url = f"http://127.0.0.1:{script.port}/"
        with pytest.raises(NotifyError) as info:
            await sender.post(url, data=b"{}")
        assert (info.value.retryable, info.value.reason) == (True, "timeout")
        assert (await sender.post(url, data=b"{}")).status == 200
    assert script.connections == 2  # the half-read connection was not reused
    client.close()


async def test_refused_connection_names_no_address() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with aiohttp.ClientSession() as session:
        sender = HttpSender(
            session, "webhook[0]", FakeClock(), timeout=5, keepalive=KeepAliveClient()
        )
        with pytest.raises(NotifyError) as info:
            await sender.post(f"http://127.0.0.1:{port}/", data=b"{}")
    assert (info.value.retryable, info.value.reason) == (True, "connection")
    assert "cannot connect" in str(info.value) and str(port) not in str(info.value)


async def test_connections_idle_too_long_are_not_reused(script: Script) -> None:
    now = [0.0]
    client = KeepAliveClient(idle_timeout=15, monotonic=lambda: now[0])
    await asyncio.gather(post(client, script.port), post(client, script.port))
    assert script.connections == 2
    now[0] = 16.0
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 3
    assert await post(client, script.port) == (200, b"ok")
    assert script.connections == 3  # the fresh one is reused
    client.close()

"""One HTTP request per attempt, with every failure turned into a NotifyError that leaks nothing.

Every HTTP channel sends through :class:`HttpSender`. Its errors name the integration,
the status and the provider's own short error text, never the URL (tokens live in
paths and queries), headers or the request body; any secret the channel registered is
also masked in the provider's text, which sometimes echoes what it was sent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import aiohttp
from multidict import CIMultiDict

from promalert import __version__
from promalert.clock import Clock
from promalert.errors import NotifyError
from promalert.notify.base import notify_error
from promalert.notify.keepalive import (
    BadResponse,
    ConnectFailed,
    KeepAliveClient,
    ServerClosed,
    Target,
    encode_headers,
)

USER_AGENT = f"promalert/{__version__}"
_DETAIL_LIMIT = 200
_MIN_PATH_SECRET = 16
_MIN_QUERY_SECRET = 8


def status_text(status: int) -> str:
    """``HTTP 500 Internal Server Error``: the standard phrase, not the server's own."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def connection_problem(exc: aiohttp.ClientConnectionError) -> str:
    """Describe a connection failure without the host, path or query."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Not the exception's text: it quotes the host and port.
        code = exc.os_error.errno
        reason = os.strerror(code) if code else type(exc.os_error).__name__
        return f"cannot connect: {reason}"
    return f"connection failed ({type(exc).__name__})"


@dataclass(frozen=True, slots=True)
class Response:
    """What the provider answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    # Parts of the URL called that look like credentials (long path segments, query
    # values): masked too if the provider echoes them, e.g. DingTalk's per-request sign.
    secrets: tuple[str, ...] = ()

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300


class HttpSender:
    """Makes one request for one integration and classifies what went wrong."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        name: str,
        clock: Clock,
        *,
        timeout: float,
        secrets: Iterable[str] = (),
        keepalive: KeepAliveClient | None = None,
    ) -> None:
        """``secrets`` are masked wherever a provider's text is quoted in an error.

        With ``keepalive``, byte bodies to plain-http URLs go through that client instead
        of the session (same errors and results); everything else uses the session.
        """
        self._session = session
        self.name = name
        self._clock = clock
        self._timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._keepalive = keepalive
        # The last headers encoded for the keep-alive client, and their bytes: a channel
        # sends the same headers every time (checking equality is cheaper than encoding).
        self._encoded: tuple[dict[str, str], bytes] = ({}, b"")

    def error(
        self,
        problem: str,
        *,
        retryable: bool,
        reason: str,
        retry_after: float | None = None,
        response: Response | None = None,
    ) -> NotifyError:
        """A NotifyError for this integration with secrets masked out of ``problem``."""
        extra = response.secrets if response is not None else ()
        return notify_error(
            self.name,
            self.redact(problem, extra),
            retryable=retryable,
            reason=reason,
            retry_after=retry_after,
        )

    def redact(self, text: str, extra: Iterable[str] = ()) -> str:
        """``text`` with every registered secret (and ``extra``) replaced by ``<secret>``."""
        for secret in sorted({*self._secrets, *extra}, key=len, reverse=True):
            text = text.replace(secret, "<secret>")
        return text

    async def post(
        self,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """POST once; connection-level failures raise NotifyError, any status is returned."""
        sent_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        body: Any = data
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        if self._keepalive is not None and isinstance(body, bytes):
            target = self._keepalive.target(url)
            if target is not None:
                return await self._post_keepalive(self._keepalive, target, url, body, sent_headers)
        try:
            async with self._session.post(
                url, data=body, headers=sent_headers, timeout=self._client_timeout
            ) as response:
                content = await response.read()
                secrets = _url_secrets(url)
                return Response(response.status, CIMultiDict(response.headers), content, secrets)
        except TimeoutError:
            raise self.error(
                f"no answer within {self._timeout:g}s", retryable=True, reason="timeout"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise self.error(
                f"TLS handshake failed ({type(exc).__name__})", retryable=True, reason="tls"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise self.error(connection_problem(exc), retryable=True, reason="connection") from None
        except aiohttp.InvalidURL:
            raise self.error("invalid url", retryable=False, reason="config") from None
        except aiohttp.ClientError as exc:
            # Deliberately only the type: aiohttp messages often include the URL.
            raise self.error(
                f"request failed ({type(exc).__name__})", retryable=True, reason="other"
            ) from None

    async def _post_keepalive(
        self,
        client: KeepAliveClient,
        target: Target,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> Response:
        """:meth:`post` through the keep-alive client, failing with the same NotifyErrors."""
        last, encoded = self._encoded
        if headers != last:
            try:
                encoded = encode_headers(headers)
            except ValueError as exc:
                raise self.error(str(exc), retryable=False, reason="config") from None
            self._encoded = (dict(headers), encoded)
        try:
            async with asyncio.timeout(self._timeout):
                reply = await client.post(target, encoded, body)
        except TimeoutError:
            raise self.error(
                f"no answer within {self._timeout:g}s", retryable=True, reason="timeout"
            ) from None
        except ServerClosed:
            raise self.error(
                "server closed the connection", retryable=True, reason="connection"
            ) from None
        except ConnectFailed as exc:
            # Not the host or port: only why.
            raise self.error(
                f"cannot connect: {exc.strerror}", retryable=True, reason="connection"
            ) from None
        except OSError as exc:
            raise self.error(
                f"connection failed ({type(exc).__name__})", retryable=True, reason="connection"
            ) from None
        except BadResponse as exc:
            raise self.error(
                f"invalid HTTP response ({exc})", retryable=True, reason="other"
            ) from None
        return Response(reply.status, CIMultiDict(reply.headers), reply.body, _url_secrets(url))

    def check(self, response: Response, detail: str = "") -> None:
        """Raise the NotifyError a non-2xx status calls for; ``detail`` is the provider's text."""
        if response.ok:
            return
        status = response.status
        problem = status_text(status)
        if detail:
            # Masked before cutting, so that no cut-off piece of a secret survives.
            problem += f": {self.redact(detail, response.secrets)[:_DETAIL_LIMIT]}"
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
            raise self.error(
                problem, retryable=True, reason="rate_limited", retry_after=wait, response=response
            )
        retryable, reason = _classify(status)
        raise self.error(problem, retryable=retryable, reason=reason, response=response)


def _classify(status: int) -> tuple[bool, str]:
    """Whether a non-2xx, non-429 status is worth retrying, and its failure reason."""
    if status in (401, 403):
        return False, "auth"
    if status == 408:
        return True, "timeout"
    if status >= 500:
        return True, "http_5xx"
    if status >= 400:
        return False, "http_4xx"
    return False, "other"


@functools.lru_cache(maxsize=256)
def _url_secrets(url: str) -> tuple[str, ...]:
    """Long path segments and query values of ``url``: where tokens and signatures live."""
    parsed = urlsplit(url)
    found = [seg for seg in parsed.path.split("/") if len(seg) >= _MIN_PATH_SECRET]
    for _, value in parse_qsl(parsed.query, keep_blank_values=False):
        if len(value) >= _MIN_QUERY_SECRET:
            found += [value, quote_plus(value), quote(value, safe="")]
    return tuple(dict.fromkeys(found))

"""Alertmanager's webhook receiver: POSTs the version 4 payload as JSON.

The URL is a secret (Alertmanager has ``url_file`` for it: tokens often live in the
path or query), so no error message or log line here ever contains it; neither do the
HMAC secret or custom header values. Errors name the integration and the status only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from http import HTTPStatus

import aiohttp

from promalert import __version__
from promalert.config.receivers import WebhookConfig
from promalert.errors import NotifyError
from promalert.notify.base import Message, integration_name, notify_error
from promalert.notify.payload import truncate_payload

SIGNATURE_HEADER = "X-Promalert-Signature"
"""Header carrying ``sha256=<hex HMAC-SHA256 of the body>`` when ``hmac_secret`` is set."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _status_text(status: int) -> str:
    # The server's own reason phrase could echo anything; use the standard one.
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class WebhookNotifier:
    """One ``webhook_configs`` entry of a receiver."""

    channel = "webhook"

    def __init__(
        self, config: WebhookConfig, session: aiohttp.ClientSession, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's webhook configs."""
        self._config = config
        self._session = session
        self.name = integration_name(self.channel, receiver, index)

    @property
    def send_resolved(self) -> bool:
        """Whether resolved alerts are sent."""
        return self._config.send_resolved

    def body(self, message: Message) -> bytes:
        """The exact bytes POSTed for ``message`` (after ``max_alerts`` truncation)."""
        payload = truncate_payload(message.payload, self._config.max_alerts)
        # Compact JSON ending in a newline, as Go's json.Encoder writes it.
        return (json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n").encode()

    async def notify(self, message: Message) -> None:
        """POST the payload once; raise NotifyError saying whether to retry."""
        body = self.body(message)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"promalert/{__version__}",
            **self._config.headers,
        }
        if self._config.hmac_secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._config.hmac_secret.get_secret_value(), body)
        timeout = aiohttp.ClientTimeout(total=self._config.timeout)
        try:
            async with self._session.post(
                self._config.url.get_secret_value(), data=body, headers=headers, timeout=timeout
            ) as response:
                await response.read()
                status = response.status
        except TimeoutError:
            raise self._error(
                f"no answer within {self._config.timeout:g}s", retryable=True, reason="timeout"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise self._error(
                _connection_problem(exc), retryable=True, reason="connection"
            ) from None
        except aiohttp.InvalidURL:
            raise self._error("invalid url", retryable=False, reason="other") from None
        except aiohttp.ClientError as exc:
            # Deliberately only the type: aiohttp messages often include the URL.
            raise self._error(
                f"request failed ({type(exc).__name__})", retryable=True, reason="other"
            ) from None
        if 200 <= status < 300:
            return
        if status == 429:
            raise self._error(_status_text(status), retryable=True, reason="rate_limited")
        if status >= 500:
            raise self._error(_status_text(status), retryable=True, reason="http_5xx")
        if 400 <= status < 500:
            raise self._error(_status_text(status), retryable=False, reason="http_4xx")
        raise self._error(_status_text(status), retryable=False, reason="other")

    def _error(self, problem: str, *, retryable: bool, reason: str) -> NotifyError:
        return notify_error(self.name, problem, retryable=retryable, reason=reason)


def _connection_problem(exc: aiohttp.ClientConnectionError) -> str:
    """Describe a connection failure without the host, path or query."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Not the exception's text: it quotes the host and port.
        code = exc.os_error.errno
        reason = os.strerror(code) if code else type(exc.os_error).__name__
        return f"cannot connect: {reason}"
    return f"connection failed ({type(exc).__name__})"

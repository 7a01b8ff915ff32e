"""Async client for the Prometheus HTTP API (``/api/v1/query`` and ``/api/v1/query_range``).

Works with anything that speaks that API (Prometheus, Thanos, Mimir, VictoriaMetrics): the
paths are joined onto the configured URL, which may carry a prefix such as ``/prometheus``.

Errors are split the way the rule engine needs them:

- :class:`~promalert.errors.DatasourceUnavailable`: no usable answer (connection refused,
  TLS failure, timeout, HTTP 5xx, HTTP 429). Alerts must keep their state.
- :class:`~promalert.errors.QueryError`: the server answered and rejected this query
  (HTTP 400 ``bad_data``, 422 ``execution``, other 4xx) or sent something unreadable.

Messages never contain the bearer token, the basic-auth password or URL credentials.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from yarl import URL

from promalert.config.models import DatasourceConfig, TLSConfig
from promalert.durations import format_duration
from promalert.errors import DatasourceError, DatasourceUnavailable, QueryError
from promalert.metrics import Metrics
from promalert.model import Labels

_ERROR_BODY_LIMIT = 300  # characters of a non-JSON error body quoted in messages


@dataclass(frozen=True, slots=True)
class Sample:
    """One series of an instant query result: its labels and value at the query time."""

    labels: Labels
    value: float


@dataclass(frozen=True, slots=True)
class Series:
    """One series of a range query result: labels and its (timestamp, value) points."""

    labels: Labels
    timestamps: list[float]
    values: list[float]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The answer to an instant query; a scalar result is one sample with no labels."""

    samples: list[Sample]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RangeResult:
    """The answer to a range query."""

    series: list[Series]
    warnings: list[str] = field(default_factory=list)


def build_ssl_context(tls: TLSConfig | None) -> ssl.SSLContext | None:
    """Build the client TLS context from ``tls`` (None: the system's default verification)."""
    if tls is None:
        return None
    try:
        context = ssl.create_default_context(cafile=tls.ca_file)
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DatasourceError(f"datasource tls: cannot load certificate files: {reason}") from None
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class PrometheusClient:
    """Queries a Prometheus-API-compatible server; one instance per datasource config."""

    def __init__(
        self,
        config: DatasourceConfig,
        session: aiohttp.ClientSession,
        metrics: Metrics | None = None,
    ) -> None:
        self._session = session
        self._metrics = metrics
        url = URL(config.url)
        authorization: str | None = None
        secrets: list[str] = []
        if url.user is not None or url.password is not None:
            # Credentials in the URL become basic auth, and the URL we show loses them.
            authorization = _basic(url.user or "", url.password or "")
            secrets += [url.password or "", authorization]
            url = url.with_user(None)
        self._base = str(url).rstrip("/")
        if config.basic_auth is not None:
            password = config.basic_auth.password
            secret = password.get_secret_value() if password is not None else ""
            authorization = _basic(config.basic_auth.username, secret)
            secrets += [secret, authorization]
        elif config.bearer_token is not None:
            token = config.bearer_token.get_secret_value()
            authorization = f"Bearer {token}"
            secrets.append(token)
        self._headers = dict(config.headers)
        if authorization is not None:
            self._headers = {k: v for k, v in self._headers.items() if k.lower() != "authorization"}
            self._headers["Authorization"] = authorization
        self._secrets = [s for s in secrets if s]
        self._ssl: ssl.SSLContext | bool = build_ssl_context(config.tls) or True
        self._timeout_seconds = config.timeout
        self._timeout = aiohttp.ClientTimeout(total=config.timeout if config.timeout > 0 else None)

    @property
    def url(self) -> str:
        """The server's base URL, without credentials."""
        return self._base

    async def query(self, expr: str, at: datetime) -> QueryResult:
        """Evaluate ``expr`` at ``at`` (timezone-aware) with ``/api/v1/query``."""
        form = {"query": expr, "time": _unix(at)}
        body = await self._call("/api/v1/query", form, expr)
        data, warnings = _data(body)
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "vector":
            return QueryResult([_sample(item) for item in _list(result)], warnings)
        if kind == "scalar":
            return QueryResult([Sample(Labels(), _value(result))], warnings)
        raise QueryError(
            f"query returned a {kind} result; rules need an instant vector or a scalar "
            f"(query: {expr})"
        )

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step: float
    ) -> RangeResult:
        """Evaluate ``expr`` from ``start`` to ``end`` every ``step`` seconds."""
        form = {"query": expr, "start": _unix(start), "end": _unix(end), "step": repr(step)}
        body = await self._call("/api/v1/query_range", form, expr)
        data, warnings = _data(body)
        if data.get("resultType") != "matrix":
            raise QueryError(
                f"range query returned a {data.get('resultType')} result, expected a matrix "
                f"(query: {expr})"
            )
        return RangeResult([_series(item) for item in _list(data.get("result"))], warnings)

    async def _call(self, path: str, form: dict[str, str], expr: str) -> dict[str, Any]:
        """POST ``form`` to ``path``; record the duration and whether the server answered."""
        if self._timeout_seconds > 0:
            form = {**form, "timeout": format_duration(self._timeout_seconds)}
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            body = await self._post(path, form, expr)
        except DatasourceUnavailable:
            self._record(loop.time() - started, up=False)
            raise
        except QueryError:
            self._record(loop.time() - started, up=True)
            raise
        self._record(loop.time() - started, up=True)
        return body

    def _record(self, seconds: float, *, up: bool) -> None:
        if self._metrics is not None:
            self._metrics.datasource_query_duration.observe(seconds)
            self._metrics.datasource_up.set(1 if up else 0)

    async def _post(self, path: str, form: dict[str, str], expr: str) -> dict[str, Any]:
        url = self._base + path
        try:
            async with self._session.post(
                url,
                data=form,
                headers=self._headers,
                ssl=self._ssl,
                timeout=self._timeout,
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise DatasourceUnavailable(
                f"{url}: no answer within {format_duration(self._timeout_seconds)} "
                "(datasource timeout)"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise DatasourceUnavailable(self._redact(f"{url}: TLS error: {exc}")) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error)
            raise DatasourceUnavailable(self._redact(f"{url}: cannot connect: {reason}")) from None
        except aiohttp.ClientError as exc:
            detail = str(exc) or type(exc).__name__
            raise DatasourceUnavailable(self._redact(f"{url}: request failed: {detail}")) from None
        return self._decode(url, status, raw, expr)

    def _decode(self, url: str, status: int, raw: bytes, expr: str) -> dict[str, Any]:
        """Turn an HTTP answer into the JSON body, or the right error."""
        body: Any = None
        try:
            body = json.loads(raw)
        except ValueError:
            pass
        error = _error_text(body) if isinstance(body, dict) else None
        if status >= 500 or status == 429:
            detail = error or _snippet(raw)
            raise DatasourceUnavailable(self._redact(f"{url}: HTTP {status}: {detail}"))
        if status >= 400 or (isinstance(body, dict) and body.get("status") == "error"):
            detail = error or f"HTTP {status}: {_snippet(raw)}"
            raise QueryError(self._redact(f"{detail} (query: {expr})"))
        if not isinstance(body, dict):
            raise QueryError(
                self._redact(f"{url}: HTTP {status} with a body that is not JSON: {_snippet(raw)}")
            )
        return body

    def _redact(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "<secret>")
        return message


def _basic(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP basic auth (UTF-8, as Go's net/http sends it)."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _unix(at: datetime) -> str:
    return f"{at.timestamp():.3f}"


def _error_text(body: Mapping[str, Any]) -> str | None:
    """``errorType: error`` from a Prometheus error body, if it is one."""
    if body.get("status") != "error":
        return None
    kind = body.get("errorType") or "error"
    return f"{kind}: {body.get('error', '')}"


def _snippet(raw: bytes) -> str:
    text = raw.decode("utf-8", errors="replace").strip()
    if len(text) > _ERROR_BODY_LIMIT:
        text = text[:_ERROR_BODY_LIMIT] + "..."
    return repr(text) if text else "(empty body)"


def _data(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    data = body.get("data")
    if body.get("status") != "success" or not isinstance(data, dict):
        raise QueryError(f"unexpected response: status {body.get('status')!r}, no data")
    warnings = body.get("warnings") or []
    return data, [str(w) for w in _list(warnings)]


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise QueryError(f"unexpected response: expected a list, got {type(value).__name__}")
    return value


def _labels(item: Mapping[str, Any]) -> Labels:
    metric = item.get("metric", {})
    if not isinstance(metric, dict):
        raise QueryError("unexpected response: 'metric' is not an object")
    return Labels({str(k): str(v) for k, v in metric.items()})


def _value(pair: Any) -> float:
    """The value of a ``[timestamp, "value"]`` pair; "NaN", "+Inf" and "-Inf" included."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise QueryError(f"unexpected response: expected [timestamp, value], got {pair!r}")
    try:
        return float(pair[1])
    except (TypeError, ValueError):
        raise QueryError(f"unexpected response: {pair[1]!r} is not a number") from None


def _sample(item: Any) -> Sample:
    if not isinstance(item, dict):
        raise QueryError("unexpected response: a vector element is not an object")
    if "value" not in item:
        raise QueryError("unexpected response: a sample has no 'value' (native histograms?)")
    return Sample(_labels(item), _value(item["value"]))


def _series(item: Any) -> Series:
    if not isinstance(item, dict):
        raise QueryError("unexpected response: a matrix element is not an object")
    points: Sequence[Any] = _list(item.get("values", []))
    timestamps, values = [], []
    for pair in points:
        values.append(_value(pair))
        timestamps.append(_timestamp(pair[0]))
    return Series(_labels(item), timestamps, values)


def _timestamp(value: Any) -> float:
    try:
        timestamp = float(value)
    except (TypeError, ValueError):
        timestamp = math.nan
    if not math.isfinite(timestamp):
        raise QueryError(f"unexpected response: bad timestamp {value!r}")
    return timestamp

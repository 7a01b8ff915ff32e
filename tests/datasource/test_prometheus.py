"""The Prometheus HTTP API client, against a real Prometheus and a scripted local server."""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr

from promalert.config.models import BasicAuth, DatasourceConfig
from promalert.datasource import PrometheusClient, Sample
from promalert.errors import DatasourceError, DatasourceUnavailable, QueryError
from promalert.metrics import Metrics
from promalert.model import Labels
from support.exporter import Exporter, serve_exporter
from support.fake_prometheus import Handler, fake_api, ok
from support.prometheus import RunningPrometheus, free_port, running_prometheus

TOKEN = "s3cr3t-token"
PASSWORD = "hunter2-password"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def up_value(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("promalert_datasource_up")


def duration_count(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("promalert_datasource_query_duration_seconds_count")
    return value or 0.0


# A real Prometheus scraping a local exporter, shared by the tests of this module. -----------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def prom(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[RunningPrometheus, Exporter]]:
    async with serve_exporter() as exporter:
        exporter.set("test_gauge", {"name": "a"}, 97.0)
        exporter.set("test_gauge", {"name": "b"}, 0.5)
        exporter.set("test_special", {"kind": "nan"}, math.nan)
        exporter.set("test_special", {"kind": "pinf"}, math.inf)
        exporter.set("test_special", {"kind": "ninf"}, -math.inf)
        tmp = tmp_path_factory.mktemp("prometheus")
        async with running_prometheus(tmp, scrape_targets=[exporter.target]) as server:
            await server.wait_for("test_gauge", count=2)
            yield server, exporter


async def client_for(url: str, session: aiohttp.ClientSession, **config: Any) -> PrometheusClient:
    return PrometheusClient(DatasourceConfig(url=url, **config), session, Metrics())


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_vector_query_returns_labels_and_values(
    prom: tuple[RunningPrometheus, Exporter],
) -> None:
    server, exporter = prom
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        client = PrometheusClient(DatasourceConfig(url=server.url), session, metrics)
        result = await client.query("test_gauge", now())
    by_name = {s.labels["name"]: s for s in result.samples}
    assert by_name["a"].value == 97.0 and by_name["b"].value == 0.5
    assert by_name["a"].labels == Labels(
        {"__name__": "test_gauge", "instance": exporter.target, "job": "test", "name": "a"}
    )
    assert result.warnings == []
    assert up_value(metrics) == 1
    assert duration_count(metrics) == 1


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_nan_and_infinities_and_empty_results(
    prom: tuple[RunningPrometheus, Exporter],
) -> None:
    server, _ = prom
    async with aiohttp.ClientSession() as session:
        client = await client_for(server.url, session)
        special = await client.query("test_special", now())
        empty = await client.query("no_such_metric", now())
    values = {s.labels["kind"]: s.value for s in special.samples}
    assert math.isnan(values["nan"]) and values["pinf"] == math.inf and values["ninf"] == -math.inf
    assert empty.samples == []


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_scalar_results_are_one_sample_without_labels(
    prom: tuple[RunningPrometheus, Exporter],
) -> None:
    server, _ = prom
    async with aiohttp.ClientSession() as session:
        client = await client_for(server.url, session)
        arithmetic = await client.query("1 + 1", now())
        scalar = await client.query('scalar(test_gauge{name="a"})', now())
    assert arithmetic.samples == [Sample(Labels(), 2.0)]
    assert scalar.samples == [Sample(Labels(), 97.0)]


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
async def test_range_query_returns_series_points(prom: tuple[RunningPrometheus, Exporter]) -> None:
    server, _ = prom
    # Start at the first scraped sample: later steps see it through the 5m lookback.
    first = float((await server.query('test_gauge{name="a"}'))[0]["value"][0])
    start = datetime.fromtimestamp(first, UTC)
    async with aiohttp.ClientSession() as session:
        client = await client_for(server.url, session)
        result = await client.query_range(
            'test_gauge{name="a"}', start, start + timedelta(seconds=2), 1.0
        )
    assert len(result.series) == 1
    series = result.series[0]
    assert series.labels["name"] == "a"
    assert series.timestamps == pytest.approx([first, first + 1.0, first + 2.0])
    assert series.values == [97.0, 97.0, 97.0]


@pytest.mark.prometheus
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("expr", "start"),
    [
        ("sum(rate(test_gauge[5m])", "bad_data: "),  # syntax error: HTTP 400
        ("vector(1) * on() test_gauge", "execution: "),  # many-to-one without group_left: 422
        ('"just a string"', "query returned a string result"),
        ("test_gauge[1m]", "query returned a matrix result"),
    ],
)
async def test_rejected_queries_raise_query_error_and_keep_datasource_up(
    prom: tuple[RunningPrometheus, Exporter], expr: str, start: str
) -> None:
    server, _ = prom
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        client = PrometheusClient(DatasourceConfig(url=server.url), session, metrics)
        with pytest.raises(QueryError) as err:
            await client.query(expr, now())
    assert str(err.value).startswith(start)
    assert up_value(metrics) == 1
    assert duration_count(metrics) == 1


@pytest.mark.prometheus
async def test_path_prefix_and_stopped_prometheus(tmp_path: Path) -> None:
    metrics = Metrics()
    async with running_prometheus(tmp_path, route_prefix="/prometheus") as server:
        assert server.url.endswith("/prometheus")
        async with aiohttp.ClientSession() as session:
            client = PrometheusClient(DatasourceConfig(url=server.url), session, metrics)
            assert (await client.query("vector(3)", now())).samples[0].value == 3.0
            assert up_value(metrics) == 1
            await server.stop()
            with pytest.raises(DatasourceUnavailable, match="cannot connect"):
                await client.query("vector(3)", now())
    assert up_value(metrics) == 0
    assert duration_count(metrics) == 2


# A scripted local server for what a healthy Prometheus will not do on demand. --------------


async def test_posts_form_with_time_and_timeout_under_the_url_prefix() -> None:
    async with fake_api("/select/0/prometheus") as (api, url), aiohttp.ClientSession() as session:
        client = await client_for(url, session, timeout="15s", headers={"X-Scope-OrgID": "t1"})
        await client.query('up{job="a"} == 0', NOW)
        await client.query_range("up", NOW - timedelta(minutes=1), NOW, 15.0)
    (m1, path1, form1, headers1), (m2, path2, form2, _) = api.requests
    assert (m1, path1) == ("POST", "/select/0/prometheus/api/v1/query")
    assert form1 == {
        "query": 'up{job="a"} == 0',
        "time": f"{NOW.timestamp():.3f}",
        "timeout": "15s",
    }
    assert headers1["X-Scope-OrgID"] == "t1"
    assert (m2, path2) == ("POST", "/select/0/prometheus/api/v1/query_range")
    assert form2["step"] == "15.0" and float(form2["end"]) - float(form2["start"]) == 60.0


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"bearer_token": SecretStr(TOKEN)}, f"Bearer {TOKEN}"),
        (
            {"basic_auth": BasicAuth(username="bob", password=SecretStr(PASSWORD))},
            "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode(),
        ),
    ],
)
async def test_sends_credentials(config: dict[str, Any], expected: str) -> None:
    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        await (await client_for(url, session, **config)).query("up", NOW)
    assert api.requests[0][3]["Authorization"] == expected


async def test_url_credentials_become_basic_auth_and_never_show() -> None:
    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        client = await client_for(url.replace("http://", f"http://bob:{PASSWORD}@"), session)
        await client.query("up", NOW)
        api.handler = lambda request: asyncio.sleep(0, web.Response(status=502, text=PASSWORD))
        with pytest.raises(DatasourceUnavailable) as err:
            await client.query("up", NOW)
    assert api.requests[0][3]["Authorization"].startswith("Basic ")
    assert PASSWORD not in str(err.value) and PASSWORD not in client.url


def error_body(status: int, kind: str, message: str) -> Handler:
    body = {"status": "error", "errorType": kind, "error": message}
    return lambda request: asyncio.sleep(0, web.json_response(body, status=status))


def text_body(status: int, text: str) -> Handler:
    return lambda request: asyncio.sleep(0, web.Response(status=status, text=text))


@pytest.mark.parametrize(
    ("handler", "error", "fragment", "up"),
    [
        (
            error_body(503, "unavailable", "shutting down"),
            DatasourceUnavailable,
            "HTTP 503: unavailable: shutting down",
            0,
        ),
        (text_body(500, "internal error"), DatasourceUnavailable, "HTTP 500: 'internal error'", 0),
        (text_body(429, "slow down"), DatasourceUnavailable, "HTTP 429", 0),
        (
            error_body(400, "bad_data", "1:5: parse error: unexpected"),
            QueryError,
            "bad_data: 1:5: parse error: unexpected (query: up)",
            1,
        ),
        (
            error_body(422, "execution", "too many samples"),
            QueryError,
            "execution: too many samples",
            1,
        ),
        (
            text_body(404, "<html>not found</html>"),
            QueryError,
            "HTTP 404: '<html>not found</html>'",
            1,
        ),
        (text_body(200, "{not json"), QueryError, "not JSON", 1),
        (error_body(200, "internal", "odd"), QueryError, "internal: odd", 1),
        (text_body(400, f"echo: Bearer {TOKEN}"), QueryError, "echo: Bearer <secret>", 1),
    ],
)
async def test_http_errors_map_to_unavailable_or_query_error(
    handler: Handler, error: type[DatasourceError], fragment: str, up: int
) -> None:
    metrics = Metrics()
    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        api.handler = handler
        config = DatasourceConfig(url=url, bearer_token=SecretStr(TOKEN))
        client = PrometheusClient(config, session, metrics)
        with pytest.raises(DatasourceError) as err:
            await client.query("up", NOW)
    assert type(err.value) is error
    assert fragment in str(err.value)
    assert TOKEN not in str(err.value) and PASSWORD not in str(err.value)
    assert up_value(metrics) == up
    assert duration_count(metrics) == 1


@pytest.mark.parametrize(
    ("data", "check"),
    [
        (
            {
                "resultType": "vector",
                "result": [
                    {"metric": {"a": "1"}, "value": [1.0, "NaN"]},
                    {"metric": {"a": "2"}, "value": [1.0, "+Inf"]},
                    {"metric": {"a": "3"}, "value": [1.0, "-Inf"]},
                ],
            },
            lambda r: (
                math.isnan(r.samples[0].value)
                and r.samples[1].value == math.inf
                and r.samples[2].value == -math.inf
            ),
        ),
        (
            {"resultType": "scalar", "result": [1.0, "42.5"]},
            lambda r: r.samples == [Sample(Labels(), 42.5)],
        ),
    ],
)
async def test_special_values_and_scalars(
    data: dict[str, Any], check: Callable[[Any], bool]
) -> None:
    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        api.handler = lambda request: ok(data, warnings=["partial response"])
        result = await (await client_for(url, session)).query("x", NOW)
    assert check(result)
    assert result.warnings == ["partial response"]


@pytest.mark.parametrize(
    "data",
    [
        {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "abc"]}]},
        {"resultType": "vector", "result": [{"metric": {}, "histogram": [1.0, {}]}]},
        {"resultType": "vector", "result": "nope"},
    ],
)
async def test_malformed_results_are_query_errors(data: dict[str, Any]) -> None:
    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        api.handler = lambda request: ok(data)
        with pytest.raises(QueryError, match="unexpected response"):
            await (await client_for(url, session)).query("x", NOW)


async def test_slow_answer_times_out_as_unavailable() -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return await ok({"resultType": "vector", "result": []})

    async with fake_api() as (api, url), aiohttp.ClientSession() as session:
        api.handler = slow
        client = await client_for(url, session, timeout="200ms")
        with pytest.raises(DatasourceUnavailable, match="no answer within 200ms"):
            await client.query("up", NOW)
        assert api.requests[0][2]["timeout"] == "200ms"
        release.set()


async def test_connection_refused_is_unavailable() -> None:
    metrics = Metrics()
    async with aiohttp.ClientSession() as session:
        config = DatasourceConfig(
            url=f"http://127.0.0.1:{free_port()}", bearer_token=SecretStr(TOKEN)
        )
        client = PrometheusClient(config, session, metrics)
        with pytest.raises(DatasourceUnavailable, match="cannot connect") as err:
            await client.query("up", NOW)
    assert TOKEN not in str(err.value)
    assert up_value(metrics) == 0

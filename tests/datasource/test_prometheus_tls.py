"""TLS towards the datasource: CA verification, skipping it, and client certificates."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from promalert.config.models import DatasourceConfig, TLSConfig
from promalert.datasource import PrometheusClient
from promalert.errors import DatasourceError, DatasourceUnavailable
from promalert.metrics import Metrics
from support.fake_prometheus import fake_api

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


# TLS: a CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl. ---


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req",
        "-x509",
        *key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=promalert test CA",
    )
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl(
            "req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}"
        )
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
        )
    return d


def server_context(certs: Path, *, require_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs / "server.crt", certs / "server.key")
    if require_client_cert:
        context.load_verify_locations(certs / "ca.crt")
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.mark.parametrize(
    ("tls", "works"),
    [
        ({"ca_file": "ca.crt"}, True),
        (None, False),  # the system CAs do not know our test CA
        ({"insecure_skip_verify": True}, True),
    ],
)
async def test_tls_server_verification(
    certs: Path, tls: dict[str, Any] | None, works: bool
) -> None:
    config_tls = None
    if tls is not None:
        config_tls = TLSConfig(
            **{k: str(certs / v) if k.endswith("_file") else v for k, v in tls.items()}
        )
    metrics = Metrics()
    async with fake_api(ssl_context=server_context(certs)) as (api, url):
        async with aiohttp.ClientSession() as session:
            client = PrometheusClient(DatasourceConfig(url=url, tls=config_tls), session, metrics)
            if works:
                assert (await client.query("up", NOW)).samples == []
            else:
                with pytest.raises(DatasourceUnavailable, match="TLS error"):
                    await client.query("up", NOW)
    assert metrics.registry.get_sample_value("promalert_datasource_up") == (1 if works else 0)


async def test_tls_client_certificate(certs: Path) -> None:
    with_cert = TLSConfig(
        ca_file=str(certs / "ca.crt"),
        cert_file=str(certs / "client.crt"),
        key_file=str(certs / "client.key"),
    )
    without_cert = TLSConfig(ca_file=str(certs / "ca.crt"))
    async with fake_api(ssl_context=server_context(certs, require_client_cert=True)) as (api, url):
        async with aiohttp.ClientSession() as session:
            good = PrometheusClient(DatasourceConfig(url=url, tls=with_cert), session)
            assert (await good.query("up", NOW)).samples == []
            bad = PrometheusClient(DatasourceConfig(url=url, tls=without_cert), session)
            with pytest.raises(DatasourceUnavailable):
                await bad.query("up", NOW)
    assert len(api.requests) == 1


async def test_unreadable_tls_files_fail_at_construction(tmp_path: Path) -> None:
    tls = TLSConfig(ca_file=str(tmp_path / "missing-ca.crt"))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(DatasourceError, match="cannot load certificate files"):
            PrometheusClient(DatasourceConfig(url="https://127.0.0.1:1", tls=tls), session)

"""A live v2 API on 127.0.0.1 over real ingest, dispatcher, silences and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from promalert.api.alertmanager import add_alertmanager_routes
from promalert.clock import FakeClock
from promalert.config.models import Config
from promalert.dispatch.flush import Policy
from promalert.dispatch.group import Dispatcher
from promalert.dispatch.ingest import AlertIngest
from promalert.dispatch.silence import Silences
from promalert.metrics import Metrics
from promalert.notify.base import Message
from promalert.store import Store

CONFIG: dict[str, Any] = {
    "global": {"resolve_timeout": "5m"},
    "route": {
        "receiver": "default",
        "group_by": ["alertname"],
        "routes": [
            {"matchers": ['team="db"'], "receiver": "db", "continue": True},
            {"matchers": ['team=~"db|web"'], "receiver": "web"},
        ],
    },
    "receivers": [
        {"name": "default"},
        {"name": "db", "webhook_configs": [{"url": "http://127.0.0.1:1/hook?token=s3cret"}]},
        {"name": "web"},
    ],
    "inhibit_rules": [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": ["alertname"],
        }
    ],
}


@dataclass
class Quiet:
    """A notifier that accepts everything (the API tests never deliver)."""

    channel: str = "webhook"
    send_resolved: bool = True

    async def notify(self, message: Message) -> None:
        return None


@dataclass
class Handle:
    """What the API reads, built from real parts."""

    config: Config
    ingest: AlertIngest
    dispatcher: Dispatcher
    silences: Silences
    clock: FakeClock
    metrics: Metrics
    started_at: datetime


@pytest.fixture
def handle(tmp_path: Path, clock: FakeClock) -> Handle:
    config = Config.model_validate(CONFIG)
    store = Store.open(tmp_path / "api.db")
    metrics = Metrics()
    silences = Silences(store, clock)
    dispatcher = Dispatcher(
        config.route,
        {("db", 0): Quiet()},
        store,
        clock,
        metrics,
        external_url="http://x",
        policy=Policy.from_config(config),
        silences=silences,
    )
    ingest = AlertIngest(store, dispatcher, clock, metrics, config.global_.resolve_timeout)
    return Handle(config, ingest, dispatcher, silences, clock, metrics, clock.now())


@pytest.fixture
async def api(handle: Handle) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(client_max_size=1 << 20)
    add_alertmanager_routes(app, handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client

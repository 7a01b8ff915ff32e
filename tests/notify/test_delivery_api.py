"""The running service: channels wired from the config, ``GET /api/v1/notifications`` and
``POST /api/v1/twilio/status`` (signed callbacks) over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from provider_server import Request, json_response, serve

from promalert.model import Alert, Labels
from promalert.notify.twilio import signature
from promalert.service import Service
from support.prometheus import free_port

SID = "AC00000000000000000000000000000001"
TOKEN = "twilio-auth-token-s3cr3t"
EXTERNAL = "https://promalert.example.com"


def twilio() -> Any:
    sids = itertools.count(1)

    async def handle(request: Request) -> web.StreamResponse:
        return json_response({"sid": f"SM{next(sids):032d}", "status": "queued"}, 201)

    return handle


async def wait_for(check: Any, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_delivery_log_and_signed_twilio_status_callbacks(tmp_path: Path) -> None:
    port = free_port()
    async with serve(twilio()) as provider:
        config = tmp_path / "promalert.yml"
        config.write_text(
            f"""\
global: {{external_url: "{EXTERNAL}"}}
server: {{listen: "127.0.0.1:{port}"}}
storage: {{url: "sqlite:///data/promalert.db", notification_retention: 1d}}
route: {{receiver: team, group_wait: 0s, group_by: [alertname]}}
receivers:
  - name: team
    sms_configs:
      - api_url: "{provider.url()}"
        account_sid: {SID}
        auth_token: {TOKEN}
        from: "+15550000"
        to: ["+15550001"]
"""
        )
        service = Service(config)
        await service.start()
        try:
            assert service.ingest is not None
            alert = Alert(Labels({"alertname": "HighCPU"}), starts_at=service.clock.now())
            await service.ingest.put([alert], "api")
            await wait_for(lambda: len(provider.requests) == 1)
            (sent,) = provider.requests
            assert sent.form["StatusCallback"] == f"{EXTERNAL}/api/v1/twilio/status"
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:

                async def log() -> list[dict[str, Any]]:
                    async with http.get(f"{base}/api/v1/notifications") as response:
                        assert response.status == 200
                        data: list[dict[str, Any]] = await response.json()
                        return data

                entries = await log()
                for _ in range(50):
                    if entries and entries[0]["status"] == "sent":
                        break
                    await asyncio.sleep(0.05)
                    entries = await log()
                (entry,) = entries
                assert entry["receiver"] == "team" and entry["channel"] == "sms"
                assert (entry["status"], entry["attempts"], entry["firing"]) == ("sent", 1, 1)
                sid = f"SM{1:032d}"
                assert entry["deliveries"][0]["provider_id"] == sid

                params = {"AccountSid": SID, "MessageSid": sid, "MessageStatus": "delivered"}
                url = f"{base}/api/v1/twilio/status"
                forged = {
                    "X-Twilio-Signature": signature(
                        "not-the-token", EXTERNAL + "/api/v1/twilio/status", params
                    )
                }
                async with http.post(url, data=params, headers=forged) as response:
                    assert response.status == 403
                    assert await response.json() == {"error": "invalid X-Twilio-Signature"}
                assert (await log())[0]["status"] == "sent"

                good = {
                    "X-Twilio-Signature": signature(
                        TOKEN, EXTERNAL + "/api/v1/twilio/status", params
                    )
                }
                async with http.post(url, data=params, headers=good) as response:
                    assert response.status == 204
                assert (await log())[0]["status"] == "delivered"

                async with http.get(f"{base}/api/v1/notifications?limit=x") as response:
                    assert response.status == 400
                    assert "limit" in (await response.json())["error"]
                async with http.get(f"{base}/api/v1/notifications?channel=email") as response:
                    assert await response.json() == []
                async with http.get(f"{base}/metrics") as response:
                    metrics = await response.text()
                assert (
                    'promalert_notification_deliveries_total{channel="sms",status="delivered"} 1.0'
                    in metrics
                )
                everything = str(await log()) + metrics
                assert TOKEN not in everything
        finally:
            await service.stop()

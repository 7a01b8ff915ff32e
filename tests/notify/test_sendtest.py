"""``promalert notify test RECEIVER``: every channel's result and error, no secrets."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from aiohttp import web
from provider_server import Request, serve, text_response

from promalert.config.loader import load_config
from promalert.notify.sendtest import send_test

TOKEN = "slack-t0ken-s3cr3t-value"


async def test_each_integration_reports_ok_or_its_error(tmp_path: Path) -> None:
    async def provider(request: Request) -> web.StreamResponse:
        if request.path.startswith("/hook"):
            return text_response("ok")
        return text_response("channel_not_found", 404)

    async with serve(provider) as server:
        config = tmp_path / "promalert.yml"
        config.write_text(
            f"""\
route: {{receiver: team}}
receivers:
  - name: team
    webhook_configs: [{{url: "{server.url("/hook")}"}}]
    slack_configs: [{{api_url: "{server.url("/services/" + TOKEN)}"}}]
"""
        )
        out = io.StringIO()
        code = await send_test(load_config(config), "team", out)
        (hook,) = [r for r in server.requests if r.path == "/hook"]
    assert code == 1
    assert out.getvalue().splitlines() == [
        "webhook[0] of receiver 'team': ok",
        "slack[0] of receiver 'team': FAILED (http_4xx): slack[0] of receiver 'team': "
        "HTTP 404 Not Found: channel_not_found",
    ]
    alert = hook.json["alerts"][0]
    assert alert["labels"]["alertname"] == "PromalertTest" and alert["status"] == "firing"
    assert TOKEN not in out.getvalue()


async def test_unknown_receiver_lists_the_known_ones(tmp_path: Path) -> None:
    config = tmp_path / "promalert.yml"
    config.write_text("route: {receiver: team}\nreceivers: [{name: team}, {name: ops}]\n")
    out = io.StringIO()
    assert await send_test(load_config(config), "nope", out) == 2
    assert out.getvalue() == "error: no receiver 'nope' (receivers: team, ops)\n"
    out = io.StringIO()
    assert await send_test(load_config(config), "ops", out) == 0
    assert "nothing to send" in out.getvalue()


def test_command_line(tmp_path: Path) -> None:
    config = tmp_path / "promalert.yml"
    config.write_text("route: {receiver: team}\nreceivers: [{name: team}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "promalert", "notify", "test", "team", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "receiver 'team' has no integrations: nothing to send\n"

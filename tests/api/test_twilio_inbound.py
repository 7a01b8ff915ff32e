"""Twilio calling back: SMS replies (``ACK 12``) and voice keypresses, signatures checked.

A real :class:`Service` with an escalation policy and Twilio contact channels runs; its
``global.external_url`` has a path, as behind a reverse proxy that strips it. Requests
are signed the way Twilio documents it (base64 HMAC-SHA1 of the URL it called plus the
sorted form fields, keyed with the account's auth token), computed here independently.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml

from e2e.conftest import base_url, running_service
from e2e.hooks import serve_hooks
from promalert.service import Service
from support.prometheus import free_port

SMS_TOKEN = "sms-auth-token-0123456789"
VOICE_TOKEN = "voice-auth-token-012345678"
ALICE_PHONE = "+15550001"


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's documented request signature."""
    data = url + "".join(key + params[key] for key in sorted(params))
    return base64.b64encode(
        hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    ).decode()


def write_config(folder: Path, hook_url: str) -> Path:
    port = free_port()
    twilio = {"provider": "twilio", "api_url": "http://127.0.0.1:9", "from": "+15550000"}
    config: dict[str, Any] = {
        "global": {"external_url": f"http://127.0.0.1:{port}/promalert"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": "sqlite:///promalert.db"},
        "route": {"escalation": "critical", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [{"name": "level1", "webhook_configs": [{"url": hook_url}]}],
        "users": {"alice": {"phone": ALICE_PHONE}, "bob": {"phone": "+15550002"}},
        "contact_channels": {
            "sms": {**twilio, "account_sid": "AC1", "auth_token": SMS_TOKEN},
            "voice": {**twilio, "account_sid": "AC2", "auth_token": VOICE_TOKEN},
        },
        "escalation_policies": {
            "critical": {"levels": [{"targets": [{"receiver": "level1"}], "timeout": "1h"}]}
        },
    }
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Env:
    """The running service and a client of the Twilio routes served over it."""

    service: Service
    api: aiohttp.ClientSession
    external_url: str

    async def open_incident(self, name: str) -> int:
        """Post a firing alert and return the id of the incident it opens."""
        alert = [{"labels": {"alertname": name}}]
        async with self.api.post("/api/v2/alerts", json=alert) as response:
            assert response.status == 200, await response.text()
        manager = self.service.incidents
        assert manager is not None
        for _ in range(200):
            for incident in manager.list():
                if incident["group_labels"].get("alertname") == name:
                    return int(incident["id"])
            await asyncio.sleep(0.02)
        raise AssertionError(f"no incident opened for {name}")

    def incident(self, incident_id: int) -> dict[str, Any]:
        assert self.service.incidents is not None
        got = self.service.incidents.get(incident_id)
        assert got is not None
        return got

    async def post(
        self,
        path_qs: str,
        form: dict[str, str],
        *,
        token: str | None = SMS_TOKEN,
        signed_url: str | None = None,
    ) -> tuple[int, str, str]:
        """POST ``form`` to ``path_qs``, signed for ``signed_url`` (default: the real URL)."""
        url = signed_url or self.external_url + path_qs
        headers = {"X-Twilio-Signature": twilio_signature(token, url, form)} if token else {}
        async with self.api.post(path_qs, data=form, headers=headers) as response:
            return response.status, response.content_type, await response.text()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with serve_hooks() as hooks:
        config = write_config(tmp_path, hooks.url)
        async with running_service(config) as service:
            assert service.config is not None
            async with aiohttp.ClientSession(base_url=base_url(config)) as api:
                yield Env(service, api, service.config.global_.external_url)


def sms(body: str, sender: str = ALICE_PHONE) -> dict[str, str]:
    return {
        "From": sender,
        "To": "+15550000",
        "Body": body,
        "MessageSid": "SM1",
        "AccountSid": "AC1",
    }


async def test_sms_replies_ack_unack_and_resolve(env: Env) -> None:
    incident_id = await env.open_incident("DiskFull")
    for body, state, reply in [
        (f"ACK {incident_id}", "acknowledged", f"Incident {incident_id} acknowledged."),
        (f" unack #{incident_id} ", "triggered", f"Incident {incident_id} unacknowledged."),
        (f"Resolve {incident_id}", "resolved", f"Incident {incident_id} resolved."),
    ]:
        status, content_type, text = await env.post("/api/v1/twilio/sms", sms(body))
        assert (status, content_type) == (200, "text/xml"), text
        assert text == f"<Response><Message>{reply}</Message></Response>"
        assert env.incident(incident_id)["state"] == state
    moves = [(e["kind"], e.get("by"), e.get("via")) for e in env.incident(incident_id)["timeline"]]
    assert [m for m in moves if m[2] == "sms"] == [
        ("acknowledged", "alice", "sms"),
        ("unacknowledged", "alice", "sms"),
        ("resolved", "alice", "sms"),
    ]


async def test_sms_replies_say_what_was_wrong(env: Env) -> None:
    incident_id = await env.open_incident("CpuHot")
    await env.post("/api/v1/twilio/sms", sms(f"ack {incident_id}"))
    for body, reply in [
        ("hello", "Reply ACK &lt;id&gt;, UNACK &lt;id&gt; or RESOLVE &lt;id&gt;."),
        ("ACK", "Reply ACK &lt;id&gt;"),
        ("ACK 4242", "There is no incident 4242."),
        (f"ACK {incident_id}", "Cannot acknowledge an incident that is acknowledged"),
    ]:
        status, _, text = await env.post("/api/v1/twilio/sms", sms(body))
        assert status == 200
        assert text.startswith("<Response><Message>") and reply in text, (body, text)


async def test_unsigned_or_missigned_sms_is_refused_and_changes_nothing(env: Env) -> None:
    incident_id = await env.open_incident("Unsigned")
    form = sms(f"ACK {incident_id}")
    path = "/api/v1/twilio/sms"
    for token, signed_url in [
        (None, None),  # no signature at all
        ("some-other-token-000000000", None),  # another account's token
        (SMS_TOKEN, "http://127.0.0.1:1/api/v1/twilio/sms"),  # signed for another URL
        (SMS_TOKEN, env.external_url + "/api/v1/twilio/voice"),
    ]:
        status, content_type, text = await env.post(path, form, token=token, signed_url=signed_url)
        assert (status, content_type) == (403, "application/json"), text
        assert "X-Twilio-Signature" in text
    # A field changed after signing breaks the signature too.
    url = env.external_url + path
    headers = {"X-Twilio-Signature": twilio_signature(SMS_TOKEN, url, sms("RESOLVE 1"))}
    async with env.api.post(path, data=form, headers=headers) as response:
        assert response.status == 403
    assert env.incident(incident_id)["state"] == "triggered"


async def test_sms_from_an_unknown_number_is_refused(env: Env) -> None:
    incident_id = await env.open_incident("Stranger")
    status, _, text = await env.post("/api/v1/twilio/sms", sms(f"ACK {incident_id}", "+15559999"))
    assert status == 403 and "belongs to no configured user" in text
    assert env.incident(incident_id)["state"] == "triggered"


async def test_voice_keypresses_ack_and_resolve(env: Env) -> None:
    first = await env.open_incident("VoiceOne")
    second = await env.open_incident("VoiceTwo")
    digits = {"Digits": "1", "CallSid": "CA1", "AccountSid": "AC2"}
    path = "/api/v1/twilio/voice?" + urlencode({"incident": first, "user": "bob"})
    status, content_type, text = await env.post(path, digits, token=VOICE_TOKEN)
    assert (status, content_type) == (200, "text/xml")
    assert text == f"<Response><Say>Incident {first} acknowledged. Goodbye.</Say></Response>"
    path2 = "/api/v1/twilio/voice?" + urlencode({"incident": second, "user": "alice"})
    status, _, text = await env.post(path2, {**digits, "Digits": "2"}, token=VOICE_TOKEN)
    assert f"Incident {second} resolved." in text
    acks = [e for e in env.incident(first)["timeline"] if e["kind"] == "acknowledged"]
    assert [(e["by"], e["via"]) for e in acks] == [("bob", "voice")]
    assert env.incident(second)["resolved_by"] == "alice"
    # Pressing 1 again: the incident is no longer triggered, and the caller hears why.
    status, _, text = await env.post(path, digits, token=VOICE_TOKEN)
    assert "Cannot acknowledge an incident that is acknowledged" in text


async def test_voice_other_keys_ask_again_on_the_same_url(env: Env) -> None:
    incident_id = await env.open_incident("VoiceAgain")
    path = f"/api/v1/twilio/voice?incident={incident_id}&user=bob"
    status, _, text = await env.post(path, {"Digits": "7"}, token=VOICE_TOKEN)
    assert status == 200
    assert text.startswith('<Response><Gather numDigits="1" method="POST" action=')
    assert f'action="{env.external_url}{path.replace("&", "&amp;")}"' in text
    assert env.incident(incident_id)["state"] == "triggered"


async def test_voice_refusals(env: Env) -> None:
    incident_id = await env.open_incident("VoiceBad")
    path = f"/api/v1/twilio/voice?incident={incident_id}&user=bob"
    status, _, text = await env.post(path, {"Digits": "1"}, token="wrong-token-00000000")
    assert status == 403 and "X-Twilio-Signature" in text
    # The query is signed too: changing who presses the key breaks the signature.
    signed = env.external_url + path
    forged = path.replace("user=bob", "user=mallory")
    status, _, _ = await env.post(forged, {"Digits": "1"}, token=VOICE_TOKEN, signed_url=signed)
    assert status == 403
    status, _, text = await env.post("/api/v1/twilio/voice", {"Digits": "1"}, token=VOICE_TOKEN)
    assert status == 400 and "incident query parameter" in text
    assert env.incident(incident_id)["state"] == "triggered"

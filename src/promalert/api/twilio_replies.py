"""Twilio calling back about users' SMS and calls (SPEC §6): ack, unack, resolve.

- ``POST /api/v1/twilio/sms``: a reply like ``ACK 123``, ``UNACK 123`` or ``RESOLVE 123``
  from a user's phone, answered with a TwiML ``<Message>`` saying what happened.
- ``POST /api/v1/twilio/voice``: the key pressed in an incident call's ``<Gather>``
  (1 acknowledges, 2 resolves), answered with TwiML ``<Say>``.

Each is refused unless its ``X-Twilio-Signature`` matches one of the contact channels'
auth tokens for the URL Twilio called (``global.external_url`` plus the path).
"""

from __future__ import annotations

import logging
import re
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from aiohttp import web

from promalert.api.incidents import (
    INCIDENTS,
    NO_POLICIES,
    Action,
    act,
    error,
    incident_id_of,
    sentence,
)
from promalert.errors import PromalertError
from promalert.escalation.incidents import IncidentManager, IncidentNotFound
from promalert.escalation.policy import TransitionError
from promalert.notify.twilio import valid_signature

log = logging.getLogger(__name__)

_SMS = re.compile(r"^\s*(ack|unack|resolve)\s+#?(\d{1,18})\s*\.?\s*$", re.IGNORECASE)
_SMS_HELP = "Reply ACK <id>, UNACK <id> or RESOLVE <id>."
_DONE = {"ack": "acknowledged", "unack": "unacknowledged", "resolve": "resolved"}


def _twiml(body: str) -> web.Response:
    return web.Response(text=f"<Response>{body}</Response>", content_type="text/xml")


async def _twilio_request(
    request: web.Request,
) -> tuple[IncidentManager, dict[str, str]] | web.Response:
    """The manager and the form of a correctly signed Twilio request, or the refusal."""
    handle = request.app[INCIDENTS]
    manager, config = handle.incidents, handle.config
    if manager is None or config is None:
        return error(503, NO_POLICIES if config is not None else "promalert is starting")
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    # Twilio signs the URL it was given, which promalert built from external_url.
    url = config.global_.external_url.rstrip("/") + request.path_qs
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not any(
        valid_signature(token, url, params, signature) for token in manager.twilio_tokens()
    ):
        log.warning("refused a Twilio request to %s: signature does not match", request.path)
        return error(403, "invalid X-Twilio-Signature")
    return manager, params


def _outcome(manager: IncidentManager, action: Action, incident_id: int, **kwargs: Any) -> str:
    """What to tell the person after trying ``action`` on ``incident_id``."""
    try:
        act(manager, action, incident_id, **kwargs)
    except IncidentNotFound:
        return f"There is no incident {incident_id}."
    except TransitionError as exc:
        return sentence(str(exc))
    except PromalertError as exc:
        log.error("%s of incident %d failed: %s", action, incident_id, exc)
        return f"Could not {action} incident {incident_id}; try again or use the API."
    return f"Incident {incident_id} {_DONE[action]}."


async def _twilio_sms(request: web.Request) -> web.Response:
    found = await _twilio_request(request)
    if isinstance(found, web.Response):
        return found
    manager, params = found
    phone = params.get("From", "")
    user = manager.user_by_phone(phone)
    if user is None:
        # No reply to strangers: it would cost a message and confirm the number is watched.
        log.warning("refused an SMS reply from an unknown number")
        return error(403, "the sender's phone number belongs to no configured user")
    command = _SMS.match(params.get("Body", ""))
    if command is None:
        text = _SMS_HELP
    else:
        action: Action = command[1].lower()  # type: ignore[assignment]  # the regex allows only these
        text = _outcome(manager, action, int(command[2]), by=user, via="sms")
    return _twiml(f"<Message>{xml_escape(text)}</Message>")


async def _twilio_voice(request: web.Request) -> web.Response:
    found = await _twilio_request(request)
    if isinstance(found, web.Response):
        return found
    manager, params = found
    incident_id = incident_id_of(request.query.get("incident", ""))
    if incident_id is None:
        return error(400, "the incident query parameter must be a positive integer")
    user = request.query.get("user") or None
    digits = params.get("Digits", "").strip()
    if digits in ("1", "2"):
        action: Action = "ack" if digits == "1" else "resolve"
        text = _outcome(manager, action, incident_id, by=user, via="voice")
        return _twiml(f"<Say>{xml_escape(text)} Goodbye.</Say>")
    # Another key (or none): ask once more, posting back to this same signed URL.
    config = request.app[INCIDENTS].config
    assert config is not None  # checked by _twilio_request
    action_url = config.global_.external_url.rstrip("/") + request.path_qs
    prompt = "Press 1 to acknowledge, or 2 to resolve."
    return _twiml(
        f'<Gather numDigits="1" method="POST" action={quoteattr(action_url)}>'
        f"<Say>{xml_escape(prompt)}</Say></Gather>"
    )


def add_twilio_reply_routes(app: web.Application) -> None:
    """Add the SMS and voice reply routes (after :func:`add_incident_routes`)."""
    app.router.add_post("/api/v1/twilio/sms", _twilio_sms)
    app.router.add_post("/api/v1/twilio/voice", _twilio_voice)

"""The incidents API (SPEC §6): incidents, on-call, ack links and Twilio replies.

- ``GET /api/v1/incidents`` (``?state=``, ``?limit=``, ``?before=``), ``GET
  /api/v1/incidents/{id}``, ``POST /api/v1/incidents/{id}/ack|unack|resolve`` with an
  optional JSON body ``{"by": ..., "comment": ...}``; ``by`` defaults to the token holder,
  and the terminal client adds ``"via": "cli"`` so the timeline tells the paths apart.
- ``GET /api/v1/oncall`` (``?days=``, default 7).
- ``GET /ack/{token}`` shows a confirmation page and changes nothing, so link previewers
  cannot acknowledge; ``POST /ack/{token}`` acknowledges as the person the link was made for.
- Twilio's SMS replies and call keypresses: :mod:`promalert.api.twilio_replies`.

Errors on ``/api`` paths are ``{"error": ...}`` JSON; the ack pages are small HTML pages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from html import escape as html_escape
from typing import Any, Literal, Protocol
from xml.sax.saxutils import quoteattr

from aiohttp import web
from aiohttp.typedefs import Handler

from promalert.api.auth import caller
from promalert.clock import Clock
from promalert.config.models import Config
from promalert.escalation.acklinks import InvalidAckToken, read_token
from promalert.escalation.incidents import IncidentManager, IncidentNotFound
from promalert.escalation.policy import TransitionError

log = logging.getLogger(__name__)

Action = Literal["ack", "unack", "resolve"]
Via = Literal["api", "cli", "link", "sms", "voice"]
STATES = ("triggered", "acknowledged", "resolved")
NO_POLICIES = "no escalation_policies configured"
_BODY_FIELDS = frozenset({"by", "comment", "via"})
_MAX_DAYS = 90
_ACTIONS: tuple[Action, ...] = ("ack", "unack", "resolve")
_PAGE_HEADERS = {
    # The token is in the URL: keep it out of caches, referrers and search indexes.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}


class IncidentHandle(Protocol):
    """What the incidents API needs from the running service (parts change on reload)."""

    @property
    def incidents(self) -> IncidentManager | None:
        """The incident manager; None when no escalation policy is configured."""
        ...

    @property
    def config(self) -> Config | None:
        """The current configuration (``global.external_url``)."""
        ...

    @property
    def clock(self) -> Clock:
        """The service clock."""
        ...

    def stats(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Incident statistics of [start, end)."""
        ...


INCIDENTS = web.AppKey("incidents", IncidentHandle)


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def manager_of(request: web.Request) -> IncidentManager | web.Response:
    """The incident manager, or the 503 to answer when there is none."""
    manager = request.app[INCIDENTS].incidents
    return error(503, NO_POLICIES) if manager is None else manager


def incident_id_of(text: str) -> int | None:
    """A positive incident id from a path or form value, None when it is not one."""
    if not text.isascii() or not text.isdigit() or len(text) > 18 or int(text) < 1:
        return None
    return int(text)


def act(
    manager: IncidentManager, action: Action, incident_id: int, **kwargs: Any
) -> dict[str, Any]:
    """Apply ``action``; raise IncidentNotFound or TransitionError as the manager does."""
    methods: dict[Action, Callable[..., dict[str, Any]]] = {
        "ack": manager.acknowledge,
        "unack": manager.unacknowledge,
        "resolve": manager.resolve,
    }
    return methods[action](incident_id, **kwargs)


# -- JSON API ---------------------------------------------------------------------------


async def _list(request: web.Request) -> web.Response:
    manager = manager_of(request)
    if isinstance(manager, web.Response):
        return manager
    query = request.query
    state = query.get("state") or None
    if state is not None and state not in STATES:
        return error(400, f"state must be one of {', '.join(STATES)} (got {state!r})")
    try:
        limit = int(query.get("limit", "100"))
        before = int(query["before"]) if "before" in query else None
    except ValueError:
        return error(400, "limit and before must be integers")
    if not 1 <= limit <= 1000:
        return error(400, f"limit must be between 1 and 1000 (got {limit})")
    return web.json_response(manager.list(status=state, limit=limit, before=before))


def _target(request: web.Request) -> tuple[IncidentManager, int] | web.Response:
    """The manager and the incident id of ``/api/v1/incidents/{id}...`` (or the error)."""
    manager = manager_of(request)
    if isinstance(manager, web.Response):
        return manager
    text = request.match_info["id"]
    incident_id = incident_id_of(text)
    if incident_id is None:
        return error(400, f"incident id must be a positive integer (got {text!r})")
    return manager, incident_id


async def _get(request: web.Request) -> web.Response:
    target = _target(request)
    if isinstance(target, web.Response):
        return target
    manager, incident_id = target
    incident = manager.get(incident_id)
    if incident is None:
        return error(404, f"incident {incident_id} not found")
    return web.json_response(incident)


async def _action_body(request: web.Request) -> tuple[str | None, str | None, Via]:
    """(by, comment, via) from an optional JSON body; raise ValueError saying what is wrong."""
    raw = await request.read()
    if not raw.strip():
        return None, None, "api"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError('body must be a JSON object like {"by": "alice", "comment": "..."}')
    unknown = sorted(set(data) - _BODY_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)} (expected by, comment, via)")
    for name in ("by", "comment"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise ValueError(f"{name} must be a string")
    via = data.get("via", "api")
    if via not in ("api", "cli"):
        raise ValueError(f"via must be api or cli (got {via!r})")
    return data.get("by") or None, data.get("comment") or None, via


def _action(action: Action) -> Handler:
    """The handler of ``POST /api/v1/incidents/{id}/<action>``."""

    async def handle(request: web.Request) -> web.Response:
        target = _target(request)
        if isinstance(target, web.Response):
            return target
        manager, incident_id = target
        try:
            by, comment, via = await _action_body(request)
        except ValueError as exc:
            return error(400, str(exc))
        by = by or caller(request)
        try:
            incident = act(manager, action, incident_id, by=by, via=via, comment=comment)
        except IncidentNotFound:
            return error(404, f"incident {incident_id} not found")
        except TransitionError as exc:
            return error(409, str(exc))
        return web.json_response(incident)

    return handle


async def _oncall(request: web.Request) -> web.Response:
    manager = manager_of(request)
    if isinstance(manager, web.Response):
        return manager
    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        return error(400, "days must be an integer")
    if not 0 <= days <= _MAX_DAYS:
        return error(400, f"days must be between 0 and {_MAX_DAYS} (got {days})")
    return web.json_response(manager.oncall(days=days))


def _moment(text: str, name: str) -> datetime:
    """An RFC 3339 time or Unix seconds; raise ValueError naming the parameter."""
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValueError(
            f"{name} must be an RFC 3339 time or Unix seconds (got {text!r})"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{name} needs a time zone, like 2026-01-05T09:00:00Z (got {text!r})")
    return moment.astimezone(UTC)


async def _stats(request: web.Request) -> web.Response:
    handle = request.app[INCIDENTS]
    query = request.query
    try:
        end = _moment(query["end"], "end") if "end" in query else handle.clock.now()
        start = _moment(query["start"], "start") if "start" in query else end - timedelta(days=1)
    except ValueError as exc:
        return error(400, str(exc))
    if start >= end:
        return error(400, "start must be before end")
    return web.json_response(handle.stats(start, end))


# -- ack links --------------------------------------------------------------------------


def _page(status: int, title: str, body: str) -> web.Response:
    """A minimal HTML page; ``body`` is already escaped HTML."""
    text = (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html_escape(title)} - promalert</title></head>\n"
        f"<body><h1>{html_escape(title)}</h1>\n{body}\n</body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=_PAGE_HEADERS)


def sentence(text: str) -> str:
    """An error message as a sentence: capital first letter, full stop at the end."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _para(text: str) -> str:
    return f"<p>{html_escape(text)}</p>"


def _summary(incident: Mapping[str, Any]) -> str:
    """What the confirmation page says about an incident (escaped HTML)."""
    labels = incident.get("group_labels") or {}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(no group labels)"
    rows = [
        ("State", incident.get("state")),
        ("Priority", incident.get("priority")),
        ("Policy", incident.get("policy")),
        ("Level", incident.get("level")),
        ("Alerts", len(incident.get("alerts") or [])),
        ("Group", shown),
        ("Opened", incident.get("created_at")),
    ]
    cells = "".join(
        f"<tr><th>{html_escape(k)}</th><td>{html_escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def _claim_or_page(request: web.Request) -> tuple[IncidentManager, int, str | None] | web.Response:
    """The manager, incident id and user of a valid link, or the page refusing it."""
    manager = request.app[INCIDENTS].incidents
    if manager is None:
        return _page(503, "Not available", _para(f"promalert has {NO_POLICIES}."))
    now = request.app[INCIDENTS].clock.now()
    try:
        claim = read_token(manager.ack_secret(), request.match_info["token"], now)
    except InvalidAckToken as exc:
        title = "Link expired" if exc.expired else "Link not valid"
        hint = "Acknowledge through the API, the CLI or a newer notification."
        return _page(403, title, _para(sentence(str(exc))) + _para(hint))
    return manager, claim.incident_id, claim.user


async def _ack_page(request: web.Request) -> web.Response:
    found = _claim_or_page(request)
    if isinstance(found, web.Response):
        return found
    manager, incident_id, user = found
    incident = manager.get(incident_id)
    if incident is None:
        return _page(404, "Incident not found", _para(f"There is no incident #{incident_id}."))
    title = f"Incident #{incident_id}"
    if incident.get("state") != "triggered":
        note = _para(f"This incident is {incident.get('state')}: there is nothing to acknowledge.")
        return _page(200, title, note + _summary(incident))
    who = f" as {user}" if user else ""
    form = (
        f'<form method="post" action={quoteattr(request.path)}>'
        f'<button type="submit">Acknowledge{html_escape(who)}</button></form>'
    )
    return _page(200, title, _summary(incident) + form)


async def _ack_post(request: web.Request) -> web.Response:
    found = _claim_or_page(request)
    if isinstance(found, web.Response):
        return found
    manager, incident_id, user = found
    title = f"Incident #{incident_id}"
    try:
        incident = manager.acknowledge(incident_id, by=user, via="link")
    except IncidentNotFound:
        return _page(404, "Incident not found", _para(f"There is no incident #{incident_id}."))
    except TransitionError as exc:
        return _page(409, title, _para(sentence(str(exc))))
    who = f" by {user}" if user else ""
    return _page(200, title, _para(f"Acknowledged{who}.") + _summary(incident))


def add_incident_routes(app: web.Application, handle: IncidentHandle) -> None:
    """Add the incidents API, on-call, ack links and Twilio reply routes to ``app``."""
    app[INCIDENTS] = handle
    app.router.add_get("/api/v1/incidents", _list)
    app.router.add_get("/api/v1/incidents/{id}", _get)
    for action in _ACTIONS:
        app.router.add_post(f"/api/v1/incidents/{{id}}/{action}", _action(action))
    app.router.add_get("/api/v1/oncall", _oncall)
    app.router.add_get("/api/v1/stats", _stats)
    app.router.add_get("/ack/{token}", _ack_page)
    app.router.add_post("/ack/{token}", _ack_post)

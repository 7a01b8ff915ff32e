"""The aiohttp application: ``/metrics``, ``/-/healthy``, ``/-/ready``, ``/-/reload``, rules,
the delivery log and provider callbacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from promalert.api.alertmanager import AlertmanagerHandle, add_alertmanager_routes
from promalert.api.auth import auth_middleware
from promalert.api.incidents import IncidentHandle, add_incident_routes
from promalert.api.twilio_replies import add_twilio_reply_routes
from promalert.config.auth import AuthConfig


class ServiceHandle(Protocol):
    """What the HTTP layer needs from the running service."""

    @property
    def registry(self) -> CollectorRegistry:
        """The service's own metrics registry."""
        ...

    @property
    def ready(self) -> bool:
        """True once the first configuration is loaded and every loop runs."""
        ...

    async def reload(self) -> list[str]:
        """Reload the configuration; return the problems (empty when it succeeded)."""
        ...

    def rule_status(self) -> list[dict[str, Any]]:
        """State of every rule for ``GET /api/v1/rules``."""
        ...

    def notifications(
        self, *, limit: int, receiver: str | None, channel: str | None, before: int | None
    ) -> list[dict[str, Any]]:
        """The delivery log for ``GET /api/v1/notifications``, newest first."""
        ...

    def twilio_status(
        self, path_qs: str, params: Mapping[str, str], signature: str
    ) -> tuple[int, str]:
        """Apply a Twilio status callback; return the HTTP status and a short reason."""
        ...


SERVICE = web.AppKey("service", ServiceHandle)


def error_response(status: int, message: str) -> web.Response:
    """A JSON ``{"error": ...}`` response, the shape of every API error."""
    return web.json_response({"error": message}, status=status)


async def _healthy(request: web.Request) -> web.Response:
    return web.Response(text="promalert is Healthy.\n")


async def _ready(request: web.Request) -> web.Response:
    if request.app[SERVICE].ready:
        return web.Response(text="promalert is Ready.\n")
    return web.Response(text="promalert is not ready.\n", status=503)


async def _reload(request: web.Request) -> web.Response:
    problems = await request.app[SERVICE].reload()
    if problems:
        return error_response(400, "config not reloaded, old config kept:\n" + "\n".join(problems))
    return web.json_response({"status": "success"})


async def _rules(request: web.Request) -> web.Response:
    return web.json_response(request.app[SERVICE].rule_status())


async def _notifications(request: web.Request) -> web.Response:
    query = request.query
    try:
        limit = int(query.get("limit", "100"))
        before = int(query["before"]) if "before" in query else None
    except ValueError:
        return error_response(400, "limit and before must be integers")
    if not 1 <= limit <= 1000:
        return error_response(400, f"limit must be between 1 and 1000 (got {limit})")
    log = request.app[SERVICE].notifications(
        limit=limit, receiver=query.get("receiver"), channel=query.get("channel"), before=before
    )
    return web.json_response(log)


async def _twilio_status(request: web.Request) -> web.Response:
    form = await request.post()
    params = {key: str(value) for key, value in form.items()}
    signature = request.headers.get("X-Twilio-Signature", "")
    status, text = request.app[SERVICE].twilio_status(request.path_qs, params, signature)
    if status >= 400:
        return error_response(status, text)
    return web.Response(status=204)


def make_app(
    service: ServiceHandle,
    alertmanager: AlertmanagerHandle | None = None,
    *,
    incidents: IncidentHandle | None = None,
    auth: Callable[[], AuthConfig | None] | None = None,
) -> web.Application:
    """Build the aiohttp application serving ``service`` (and the v2 and incident APIs,
    if given); ``auth()`` gives the current ``server.auth`` (None: everything open)."""
    middlewares = [auth_middleware(auth)] if auth is not None else []
    app = web.Application(client_max_size=1 << 20, middlewares=middlewares)
    app[SERVICE] = service
    if alertmanager is not None:
        add_alertmanager_routes(app, alertmanager)
    if incidents is not None:
        add_incident_routes(app, incidents)
        add_twilio_reply_routes(app)
    app.router.add_get("/metrics", make_aiohttp_handler(service.registry))
    app.router.add_get("/-/healthy", _healthy)
    app.router.add_get("/-/ready", _ready)
    app.router.add_post("/-/reload", _reload)
    app.router.add_put("/-/reload", _reload)
    app.router.add_get("/api/v1/rules", _rules)
    app.router.add_get("/api/v1/notifications", _notifications)
    app.router.add_post("/api/v1/twilio/status", _twilio_status)
    return app

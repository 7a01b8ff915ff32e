"""The aiohttp application: ``/metrics``, ``/-/healthy``, ``/-/ready``, ``/-/reload``, rules."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler


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


def make_app(service: ServiceHandle) -> web.Application:
    """Build the aiohttp application serving ``service``."""
    app = web.Application(client_max_size=1 << 20)
    app[SERVICE] = service
    app.router.add_get("/metrics", make_aiohttp_handler(service.registry))
    app.router.add_get("/-/healthy", _healthy)
    app.router.add_get("/-/ready", _ready)
    app.router.add_post("/-/reload", _reload)
    app.router.add_put("/-/reload", _reload)
    app.router.add_get("/api/v1/rules", _rules)
    return app

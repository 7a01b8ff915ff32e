"""Bearer tokens and roles for the HTTP API (``server.auth``, SPEC §6).

Each request needs a role decided by its method and path (:func:`required_role`):
``viewer`` for reads, ``sender`` to post alerts, ``responder`` to ack, unack and resolve
incidents and to create or expire silences, ``admin`` for everything else that writes
(``/-/reload``). Health, readiness, ``/metrics``, ack links and Twilio callbacks stay
open: the last two carry their own signatures. With ``read: open`` reads need no token.
Without ``server.auth`` everything is open. A valid token's holder becomes the caller
(:func:`caller`), so an ack can default ``by`` to them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from promalert.config.auth import AuthConfig, Role, TokenConfig, role_allows

CALLER = web.RequestKey("promalert_caller", str)
"""The name of the token that authenticated the request (absent when none did)."""

_OPEN_PATHS = frozenset({"/-/healthy", "/-/ready", "/metrics"})
_OPEN_PREFIXES = ("/ack/", "/api/v1/twilio/")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_INCIDENT_ACTION = re.compile(r"^/api/v1/incidents/[^/]+/(ack|unack|resolve)$")
_SILENCE_WRITE = re.compile(r"^/api/v2/(silences|silence/[^/]+)$")


def required_role(method: str, path: str) -> Role | None:
    """The role a request needs, or None when it is open to anyone."""
    if path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
        return None
    if method in _READS:
        return "viewer"
    if method == "POST" and path == "/api/v2/alerts":
        return "sender"
    if method == "POST" and _INCIDENT_ACTION.match(path):
        return "responder"
    if method in ("POST", "DELETE") and _SILENCE_WRITE.match(path):
        return "responder"
    # Reload and any write not listed above: only admins may change the service.
    return "admin"


def find_token(auth: AuthConfig, presented: str) -> TokenConfig | None:
    """The token config whose secret equals ``presented`` (constant-time, all compared)."""
    given = presented.encode()
    found: TokenConfig | None = None
    for token in auth.tokens:
        # No early exit: the time taken must not say which token (if any) matched.
        if hmac.compare_digest(token.token.get_secret_value().encode(), given):
            found = token
    return found


def _bearer(request: web.Request) -> str | None:
    """The bearer token of the request, None without one, "" when the header is malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _route_path(request: web.Request) -> str:
    """The path of the route that will answer (``/ack/{token}``), else the request's path.

    Judging the matched route rather than the raw path means no spelling of a URL
    (dot segments, encoded slashes) can borrow an open route's rules for another one.
    """
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def _unauthorized(message: str) -> web.Response:
    return web.json_response(
        {"error": message},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="promalert"'},
    )


def caller(request: web.Request) -> str | None:
    """The name of the token holder who made the request, or None when anonymous."""
    return request.get(CALLER)


def auth_middleware(get_auth: Callable[[], AuthConfig | None]) -> Middleware:
    """A middleware enforcing ``server.auth`` as ``get_auth`` returns it now (reloads apply)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = get_auth()
        needed = required_role(request.method, _route_path(request))
        if auth is None or needed is None:
            return await handler(request)
        presented = _bearer(request)
        if presented is None:
            if needed == "viewer" and auth.read == "open":
                return await handler(request)
            return _unauthorized(f"this endpoint needs a token with role {needed}")
        token = find_token(auth, presented) if presented else None
        if token is None:
            # Said even on open reads: a client sending a wrong token should learn it.
            return _unauthorized("unknown token: send 'Authorization: Bearer <token>'")
        if not role_allows(token.role, needed):
            return web.json_response(
                {"error": f"token {token.name!r} has role {token.role}; this needs {needed}"},
                status=403,
            )
        request[CALLER] = token.name
        return await handler(request)

    return check

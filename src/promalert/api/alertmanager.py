"""Alertmanager API v2 on promalert: enough for Prometheus and ``amtool`` to use it.

``POST/GET /api/v2/alerts``, ``GET /api/v2/alerts/groups``, ``GET/POST /api/v2/silences``,
``GET/DELETE /api/v2/silence/{id}``, ``GET /api/v2/status``, ``GET /api/v2/receivers``,
with Alertmanager 0.25's JSON shapes, status codes and error texts (an error body is a
JSON string, or ``{"code", "message"}`` when the body itself is malformed, as there).
Alerts posted without ``endsAt`` resolve after ``global.resolve_timeout``. Invalid alerts
get a 400 naming the reason and are counted in ``promalert_alerts_invalid_total``; the
valid alerts of the same body are still taken, as Alertmanager does.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable
from datetime import datetime
from functools import cmp_to_key
from typing import Any, Protocol

from aiohttp import web

from promalert import __version__
from promalert.api import amjson
from promalert.api.amconfig import original_yaml
from promalert.clock import Clock
from promalert.config.matchers import Matcher
from promalert.config.models import Config
from promalert.dispatch.group import AlertStatus, Dispatcher
from promalert.dispatch.ingest import AlertIngest
from promalert.dispatch.silence import Silences
from promalert.errors import SilenceError, SilenceNotFound
from promalert.metrics import Metrics
from promalert.model import Alert
from promalert.rules.gotemplate.goregexp import RegexpError, compile_go

ALERTMANAGER_VERSION = "0.25.0"
"""The Alertmanager release whose API v2 this module reproduces."""

API_SOURCE = "api"
"""The ``source`` of alerts received through ``POST /api/v2/alerts``."""

_TRUE = frozenset({"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})


class AlertmanagerHandle(Protocol):
    """What the v2 API needs from the running service (parts change on reload)."""

    @property
    def config(self) -> Config | None:
        """The current configuration."""
        ...

    @property
    def ingest(self) -> AlertIngest | None:
        """Where alerts go in."""
        ...

    @property
    def dispatcher(self) -> Dispatcher | None:
        """Routing, groups and suppression."""
        ...

    @property
    def silences(self) -> Silences | None:
        """Every silence."""
        ...

    @property
    def clock(self) -> Clock:
        """The service clock."""
        ...

    @property
    def metrics(self) -> Metrics:
        """The service metrics."""
        ...

    @property
    def started_at(self) -> datetime:
        """When the service started (``status.uptime``)."""
        ...


AM = web.AppKey("alertmanager", AlertmanagerHandle)


def _text(status: int, message: str) -> web.Response:
    """An Alertmanager error body: the message as a JSON string."""
    return web.json_response(message, status=status)


def _coded(status: int, code: int, message: str) -> web.Response:
    """The error body Alertmanager gives for malformed requests."""
    return web.json_response({"code": code, "message": message}, status=status)


def _unavailable() -> web.Response:
    return _text(503, "promalert is starting or reloading; try again")


async def _read_json(request: web.Request, what: str) -> Any:
    """The request body as JSON; raise ShapeError saying what is wrong with it."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise amjson.ShapeError(f"request body too large: {exc.text}") from None
    if not body or body.isspace():  # strip() would copy the whole body
        raise amjson.ShapeError(f"{what} in body is required")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise amjson.ShapeError(f'parsing {what} body from "" failed, because {exc}') from None


async def _post_alerts(request: web.Request) -> web.Response:
    h = request.app[AM]
    ingest, config = h.ingest, h.config
    if ingest is None or config is None:
        return _unavailable()
    try:
        data = await _read_json(request, "alerts")
        posted = amjson.parse_alerts(data)
    except amjson.ShapeError as exc:
        h.metrics.alerts_invalid.inc()
        return _coded(400, exc.code, str(exc))
    now = h.clock.now()
    resolve_timeout = config.global_.resolve_timeout
    validate = amjson.validate_alert
    valid: list[Alert] = []
    errors: list[str] = []
    for item in posted:
        try:
            valid.append(validate(item, now, resolve_timeout))
        except ValueError as exc:
            errors.append(str(exc))
    if valid:
        await ingest.put(valid, API_SOURCE)
    if errors:
        h.metrics.alerts_invalid.inc(len(errors))
        return _text(400, "; ".join(errors))
    return web.Response(status=200)


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter read like go-swagger does (unknown text is false)."""
    value = request.query.get(name)
    return True if value is None else value.lower() in _TRUE


class _Query:
    """The filters shared by ``/alerts`` and ``/alerts/groups``."""

    def __init__(self, request: web.Request) -> None:
        self.active = _flag(request, "active")
        self.silenced = _flag(request, "silenced")
        self.inhibited = _flag(request, "inhibited")
        self.matchers: list[Matcher] = amjson.filter_matchers(request.query.getall("filter", []))
        receiver = request.query.get("receiver")
        self.receiver: re.Pattern[str] | None = None
        if receiver:
            try:
                self.receiver = compile_go(f"^(?:{receiver})$")
            except RegexpError as exc:
                raise ValueError(f"failed to parse receiver param: {exc}") from None

    def takes_receiver(self, receivers: list[str]) -> bool:
        return self.receiver is None or any(self.receiver.match(r) for r in receivers)

    def status_of(
        self, alert: Alert, now: datetime, status: Callable[[Alert], AlertStatus]
    ) -> AlertStatus | None:
        """The alert's status if it passes every filter, else None."""
        if alert.ends_at is not None and alert.ends_at < now:
            return None  # resolved alerts are not listed
        if not amjson.filter_matches(self.matchers, alert.labels):
            return None
        got = status(alert)
        if not self.active and got.state == "active":
            return None
        if not self.silenced and got.silenced_by:
            return None
        if not self.inhibited and got.inhibited_by:
            return None
        return got


async def _get_alerts(request: web.Request) -> web.Response:
    h = request.app[AM]
    ingest, dispatcher = h.ingest, h.dispatcher
    if ingest is None or dispatcher is None:
        return _unavailable()
    try:
        query = _Query(request)
    except ValueError as exc:
        return _text(400, str(exc))
    now = h.clock.now()
    out = []
    for alert in ingest.alerts():
        receivers = dispatcher.receivers(alert.labels)
        if not query.takes_receiver(receivers):
            continue
        status = query.status_of(alert, now, lambda a: dispatcher.status(a.labels, now))
        if status is not None:
            out.append(amjson.alert_json(alert, status, receivers, None))
    out.sort(key=lambda a: a["fingerprint"])
    return web.json_response(out)


def _before(a: dict[str, str], b: dict[str, str]) -> int:
    """prometheus/common ``LabelSet.Before`` as a three-way comparison."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for name in sorted({*a, *b}):
        if name not in a:
            return -1
        if name not in b:
            return 1
        if a[name] != b[name]:
            return -1 if a[name] < b[name] else 1
    return 0


def _group_order(x: dict[str, Any], y: dict[str, Any]) -> int:
    by_labels = _before(x["labels"], y["labels"])
    if by_labels:
        return by_labels
    rx, ry = x["receiver"]["name"], y["receiver"]["name"]
    return -1 if rx < ry else int(rx > ry)


async def _get_groups(request: web.Request) -> web.Response:
    h = request.app[AM]
    dispatcher = h.dispatcher
    if dispatcher is None:
        return _unavailable()
    try:
        query = _Query(request)
    except ValueError as exc:
        return _text(400, str(exc))
    now = h.clock.now()
    out = []
    for group in dispatcher.groups():
        if not query.takes_receiver([group.receiver]):
            continue
        alerts = []
        for alert in group.alerts:
            status = query.status_of(alert, now, lambda a: dispatcher.status(a.labels, now))
            if status is not None:
                receivers = dispatcher.receivers(alert.labels)
                alerts.append(amjson.alert_json(alert, status, receivers, None))
        if alerts:
            out.append(
                {
                    "alerts": alerts,
                    "labels": group.labels.as_dict(),
                    "receiver": {"name": group.receiver},
                }
            )
    out.sort(key=cmp_to_key(_group_order))
    return web.json_response(out)


_STATE_ORDER = {"active": 1, "pending": 2, "expired": 3}


def _silence_order(item: dict[str, Any]) -> tuple[int, str]:
    """Active by end, pending by start, expired by end, latest first (Alertmanager)."""
    state = item["status"]["state"]
    if state == "pending":
        return (2, item["startsAt"])
    if state == "active":
        return (1, item["endsAt"])
    # Times are fixed-width, so negating each character code sorts them descending.
    return (3, "".join(chr(0x10FFFF - ord(c)) for c in item["endsAt"]))


async def _get_silences(request: web.Request) -> web.Response:
    h = request.app[AM]
    if h.silences is None:
        return _unavailable()
    try:
        matchers = amjson.filter_matchers(request.query.getall("filter", []))
    except ValueError as exc:
        return _text(400, str(exc))
    now = h.clock.now()
    out = [
        amjson.silence_json(s, now)
        for s in h.silences.all()
        if amjson.filter_matches(matchers, {m.name: m.value for m in s.matchers})
    ]
    out.sort(key=_silence_order)
    return web.json_response(out)


async def _post_silence(request: web.Request) -> web.Response:
    h = request.app[AM]
    if h.silences is None:
        return _unavailable()
    try:
        silence = amjson.parse_silence(await _read_json(request, "silence"))
    except amjson.ShapeError as exc:
        return _coded(400 if exc.code == 400 else 422, exc.code, str(exc))
    if silence.starts_at >= silence.ends_at:
        return _text(400, "Failed to create silence: start time must be before end time")
    if silence.ends_at < h.clock.now():
        return _text(400, "Failed to create silence: end time can't be in the past")
    try:
        silence_id = h.silences.set(silence)
    except SilenceNotFound as exc:
        return _text(404, str(exc))
    except SilenceError as exc:
        return _text(400, str(exc))
    _count_silences(h)
    return web.json_response({"silenceID": silence_id})


def _silence_id(request: web.Request) -> tuple[str, web.Response | None]:
    silence_id = request.match_info["id"]
    if not amjson.is_uuid(silence_id):
        message = f"silenceID in path must be of type uuid: {json.dumps(silence_id)}"
        return silence_id, _coded(422, 601, message)
    return silence_id, None


async def _get_silence(request: web.Request) -> web.Response:
    h = request.app[AM]
    if h.silences is None:
        return _unavailable()
    silence_id, bad = _silence_id(request)
    if bad is not None:
        return bad
    try:
        silence = h.silences.get(silence_id)
    except SilenceNotFound:
        return web.Response(status=404)
    return web.json_response(amjson.silence_json(silence, h.clock.now()))


async def _delete_silence(request: web.Request) -> web.Response:
    h = request.app[AM]
    if h.silences is None:
        return _unavailable()
    silence_id, bad = _silence_id(request)
    if bad is not None:
        return bad
    try:
        h.silences.expire(silence_id)
    except SilenceError as exc:
        # Alertmanager 0.25 answers 500 here, also for an unknown id; amtool expects it.
        return _text(500, str(exc))
    _count_silences(h)
    return web.Response(status=200)


def _count_silences(h: AlertmanagerHandle) -> None:
    if h.silences is not None:
        for state, count in h.silences.counts(h.clock.now()).items():
            h.metrics.silences.labels(state=state.value).set(count)


async def _status(request: web.Request) -> web.Response:
    h = request.app[AM]
    if h.config is None:
        return _unavailable()
    return web.json_response(
        {
            "cluster": {"peers": [], "status": "disabled"},
            "config": {"original": original_yaml(h.config)},
            "uptime": amjson.format_time(h.started_at),
            # "version" is the Alertmanager API promalert implements, so amtool does not
            # warn about a version mismatch; promalert's own version is the "revision".
            "versionInfo": {
                "branch": "promalert",
                "buildDate": "",
                "buildUser": "",
                "goVersion": f"python{platform.python_version()}",
                "revision": f"promalert-{__version__}",
                "version": ALERTMANAGER_VERSION,
            },
        }
    )


async def _receivers(request: web.Request) -> web.Response:
    config = request.app[AM].config
    if config is None:
        return _unavailable()
    return web.json_response([{"name": r.name} for r in config.receivers])


def add_alertmanager_routes(app: web.Application, handle: AlertmanagerHandle) -> None:
    """Serve the Alertmanager API v2 for ``handle`` on ``app``."""
    app[AM] = handle
    app.router.add_post("/api/v2/alerts", _post_alerts)
    app.router.add_get("/api/v2/alerts", _get_alerts)
    app.router.add_get("/api/v2/alerts/groups", _get_groups)
    app.router.add_get("/api/v2/silences", _get_silences)
    app.router.add_post("/api/v2/silences", _post_silence)
    app.router.add_get("/api/v2/silence/{id}", _get_silence)
    app.router.add_delete("/api/v2/silence/{id}", _delete_silence)
    app.router.add_get("/api/v2/status", _status)
    app.router.add_get("/api/v2/receivers", _receivers)

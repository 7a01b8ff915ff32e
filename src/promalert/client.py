"""Terminal commands that talk to a running promalert over its HTTP API.

``promalert incidents``, ``incident ID``, ``ack``/``unack``/``resolve ID``, ``oncall``,
``alerts`` and ``silence add|list|expire``. Each takes ``--url`` (default
``$PROMALERT_URL`` or ``http://127.0.0.1:9099``), ``--token`` (default
``$PROMALERT_TOKEN``) and ``--json`` (print the server's JSON as it is). Exit status: 0
on success, 1 when the server refuses (its error message is printed), 2 when it cannot
be reached. Plain ``urllib``: a terminal command needs no event loop.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from promalert.clock import Clock, SystemClock
from promalert.config.matchers import parse_matcher
from promalert.durations import parse_duration
from promalert.errors import PromalertError

DEFAULT_URL = "http://127.0.0.1:9099"
CLIENT_COMMANDS = frozenset(
    {"incidents", "incident", "ack", "unack", "resolve", "oncall", "alerts", "silence"}
)
"""The top-level commands :func:`add_client_commands` adds."""

_STATES = ("triggered", "acknowledged", "resolved")
_OPERATORS = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}
_CELL = 60  # widest a free-text table cell gets before it is cut


class ClientError(PromalertError):
    """A command failed: the server refused (exit 1) or could not be reached (exit 2)."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Api:
    """Where the server is and how to authenticate to it."""

    url: str
    token: str | None
    timeout: float = 10.0

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request and return the decoded JSON answer (None for an empty one)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                detail = _error_text(exc.read())
            raise ClientError(f"{method} {path}: HTTP {exc.code}: {detail}", 1) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(
                f"cannot reach promalert at {self.url} ({reason}); is it running? "
                "(set --url or PROMALERT_URL)",
                2,
            ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ClientError(
                f"{method} {path}: the answer is not JSON: {raw[:200]!r}", 1
            ) from None


def _error_text(raw: bytes) -> str:
    """The message in an error body: ``{"error"}``, ``{"message"}``, a JSON string or text."""
    text = raw.decode(errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text or "(no message)"
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or data)
    return str(data)


# -- output -----------------------------------------------------------------------------


def _cut(text: str, width: int = _CELL) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows under headers in left-aligned columns, two spaces apart."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _labels(labels: Mapping[str, Any] | None, skip: str = "") -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()) if k != skip)


def _incidents(incidents: list[dict[str, Any]]) -> str:
    if not incidents:
        return "no incidents"
    rows = [
        (i["id"], i["state"], i["priority"], i["policy"], i["level"], i["created_at"],
         i.get("acknowledged_by") or "", _cut(_labels(i.get("group_labels"))))
        for i in incidents
    ]  # fmt: skip
    headers = ("ID", "STATE", "PRIO", "POLICY", "LEVEL", "CREATED", "ACKED BY", "GROUP")
    return table(headers, rows)


def _incident(incident: dict[str, Any]) -> str:
    keys = ("id", "state", "priority", "policy", "level", "created_at", "acknowledged_by",
            "acknowledged_at", "resolved_by", "resolved_at", "next_step_at")  # fmt: skip
    out = [f"{k}: {incident[k]}" for k in keys if incident.get(k) is not None]
    out.append(f"group_labels: {_labels(incident.get('group_labels')) or '(none)'}")
    alerts = incident.get("alerts") or []
    out += ["", f"alerts ({len(alerts)}):"]
    rows = [
        (a.get("status"), a.get("labels", {}).get("alertname", ""), a.get("startsAt"),
         _cut(_labels(a.get("labels"), skip="alertname")))
        for a in alerts
    ]  # fmt: skip
    out.append(table(("STATUS", "ALERTNAME", "STARTS", "LABELS"), rows))
    events = incident.get("timeline") or []
    if events:
        base = {"at", "kind", "by", "via"}
        steps = [
            (e.get("at"), e.get("kind"), e.get("by") or "", e.get("via") or "",
             _cut(" ".join(f"{k}={v}" for k, v in e.items() if k not in base)))
            for e in events
        ]  # fmt: skip
        out += ["", "timeline:", table(("AT", "EVENT", "BY", "VIA", "DETAIL"), steps)]
    return "\n".join(out)


def _oncall(schedules: list[dict[str, Any]]) -> str:
    if not schedules:
        return "no schedules"
    out = [
        table(
            ("SCHEDULE", "ON CALL", "UNTIL", "TIMEZONE"),
            [(s["schedule"], s.get("user") or "(nobody)", s.get("until"), s.get("timezone"))
             for s in schedules],
        )
    ]  # fmt: skip
    for s in schedules:
        if s.get("shifts"):
            rows = [(x["start"], x["end"], x.get("user") or "(nobody)") for x in s["shifts"]]
            out += ["", f"{s['schedule']}:", table(("START", "END", "USER"), rows)]
    return "\n".join(out)


def _alerts(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "no alerts"
    rows = [
        (a["labels"].get("alertname", ""), a.get("status", {}).get("state", ""),
         a.get("startsAt"), _cut(_labels(a["labels"], skip="alertname")))
        for a in alerts
    ]  # fmt: skip
    return table(("ALERTNAME", "STATE", "STARTS", "LABELS"), rows)


def _silences(silences: list[dict[str, Any]], show_expired: bool) -> str:
    shown = [s for s in silences if show_expired or s["status"]["state"] != "expired"]
    if not shown:
        return "no silences"
    rows = []
    for s in sorted(shown, key=lambda s: s["endsAt"]):
        matchers = ",".join(
            f"{m['name']}{_OPERATORS[(m['isEqual'], m['isRegex'])]}{json.dumps(m['value'])}"
            for m in s["matchers"]
        )
        rows.append((s["id"], s["status"]["state"], s["endsAt"], s["createdBy"],
                     _cut(matchers), _cut(s["comment"], 40)))  # fmt: skip
    return table(("ID", "STATE", "ENDS", "CREATED BY", "MATCHERS", "COMMENT"), rows)


# -- commands ---------------------------------------------------------------------------


def _action_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"via": "cli"}
    if args.by:
        body["by"] = args.by
    if args.comment:
        body["comment"] = args.comment
    return body


def _silence_body(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """The silence to post; raise ClientError (exit 1) for bad matchers or durations."""
    try:
        matchers = [parse_matcher(text) for text in args.matchers]
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise ClientError(str(exc), 1) from None
    if duration <= 0:
        raise ClientError("--duration must be longer than 0s", 1)
    author = args.author or _login()
    return {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in matchers
        ],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(seconds=duration)).isoformat(),
        "createdBy": author,
        "comment": args.comment,
    }


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (e.g. a container without a passwd entry)
        return "promalert-cli"


def _request(args: argparse.Namespace, now: datetime) -> tuple[str, str, Any, Callable[[Any], str]]:
    """(method, path, body, how to print the answer) for the command in ``args``."""
    command = args.command
    if command == "incidents":
        query = {"limit": str(args.limit), **({"state": args.state} if args.state else {})}
        return "GET", "/api/v1/incidents?" + urllib.parse.urlencode(query), None, _incidents
    if command == "incident":
        return "GET", f"/api/v1/incidents/{args.id}", None, _incident
    if command in ("ack", "unack", "resolve"):
        path = f"/api/v1/incidents/{args.id}/{command}"
        return "POST", path, _action_body(args), _incidents_one
    if command == "oncall":
        return "GET", f"/api/v1/oncall?days={args.days}", None, _oncall
    if command == "alerts":
        return "GET", "/api/v2/alerts", None, _alerts
    action = args.silence_command
    if action == "add":
        return "POST", "/api/v2/silences", _silence_body(args, now), _silence_added
    if action == "list":
        return "GET", "/api/v2/silences", None, lambda s: _silences(s, args.all)
    silence_id = urllib.parse.quote(args.id, safe="")
    return "DELETE", f"/api/v2/silence/{silence_id}", None, lambda _: f"expired {args.id}"


def _incidents_one(incident: dict[str, Any]) -> str:
    return _incidents([incident])


def _silence_added(answer: dict[str, Any]) -> str:
    return str(answer.get("silenceID", answer))


def run_client_command(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Clock | None = None,
) -> int:
    """Run the client command in ``args`` (from :func:`add_client_commands`); return its exit."""
    out = out or sys.stdout
    err = err or sys.stderr
    api = Api(args.url, args.token, timeout=args.timeout)
    try:
        method, path, body, show = _request(args, (clock or SystemClock()).now())
        answer = api.call(method, path, body)
    except ClientError as exc:
        print(f"promalert: {exc}", file=err)
        return exc.exit_code
    if args.json:
        print(json.dumps(answer, indent=2, ensure_ascii=False), file=out)
    else:
        print(show(answer), file=out)
    return 0


def _common() -> argparse.ArgumentParser:
    """The options every client command takes."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("PROMALERT_URL", DEFAULT_URL),
        help="promalert's base URL (default: $PROMALERT_URL or %(default)s)",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("PROMALERT_TOKEN"),
        help="API bearer token (default: $PROMALERT_TOKEN)",
    )
    common.add_argument("--json", action="store_true", help="print the server's JSON answer")
    common.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")
    return common


def _incident_id(text: str) -> str:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"incident ids are positive integers (got {text!r})")
    return text


def add_client_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the API client commands (incidents, ack, oncall, silence, ...) to ``sub``."""
    common = [_common()]
    incidents = sub.add_parser("incidents", parents=common, help="list incidents, newest first")
    incidents.add_argument("--state", choices=_STATES, help="only incidents in this state")
    incidents.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    incident = sub.add_parser("incident", parents=common, help="show one incident and its timeline")
    incident.add_argument("id", type=_incident_id)
    for name, verb in (("ack", "acknowledge"), ("unack", "unacknowledge"), ("resolve", "resolve")):
        action = sub.add_parser(name, parents=common, help=f"{verb} an incident")
        action.add_argument("id", type=_incident_id)
        action.add_argument("--by", help="who does it (default: the token's holder)")
        action.add_argument("--comment", help="a note for the timeline")
    oncall = sub.add_parser("oncall", parents=common, help="who is on call, and the next shifts")
    oncall.add_argument("--days", type=int, default=0, help="also list shifts of the next N days")
    sub.add_parser("alerts", parents=common, help="list active alerts")
    silence = sub.add_parser("silence", help="add, list or expire silences")
    actions = silence.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=common, help="silence alerts matching MATCHERs")
    add.add_argument("matchers", nargs="+", metavar="MATCHER", help='like severity="warning"')
    add.add_argument("--duration", default="1h", help="how long (default: %(default)s)")
    add.add_argument("--comment", required=True, help="why (required)")
    add.add_argument("--author", help="who (default: your login name)")
    listing = actions.add_parser("list", parents=common, help="list active and pending silences")
    listing.add_argument("--all", action="store_true", help="include expired silences")
    expire = actions.add_parser("expire", parents=common, help="expire a silence now")
    expire.add_argument("id", help="the silence id")

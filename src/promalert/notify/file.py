"""A local inbox: each notification appended to a file as one JSON line and/or printed.

Made for the demo and for trying rules out: no server needed to see what would be sent.
The file gets exactly the webhook's version 4 payload; the console gets one short line
such as ``[FIRING:1] HighCPU instance=web-1 — CPU at 97%``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from promalert.config.receivers import FileConfig
from promalert.notify.base import Message, integration_name, notify_error
from promalert.notify.payload import firing_count


def summary_line(payload: dict[str, Any]) -> str:
    """One human line for a payload: status and count, alert name, labels, summary."""
    firing = firing_count(payload)
    status = f"FIRING:{firing}" if payload.get("status") == "firing" else "RESOLVED"
    common: dict[str, str] = payload.get("commonLabels", {})
    group: dict[str, str] = payload.get("groupLabels", {})
    shown = {**common, **group}
    name = shown.pop("alertname", "")
    parts = [f"[{status}]"]
    if name:
        parts.append(name)
    parts.extend(f"{k}={v}" for k, v in sorted(shown.items()))
    alerts: list[dict[str, Any]] = payload.get("alerts", [])
    annotations: dict[str, str] = payload.get("commonAnnotations", {})
    text = annotations.get("summary") or annotations.get("description")
    if not text and alerts:
        first: dict[str, str] = alerts[0].get("annotations", {})
        text = first.get("summary") or first.get("description")
    if text:
        parts.append(f"— {text}")
    if len(alerts) > 1:
        parts.append(f"({len(alerts)} alerts)")
    return " ".join(parts)


def console_line(payload: dict[str, Any]) -> str:
    """:func:`summary_line`, naming the incident and level for escalation notifications."""
    line = summary_line(payload)
    incident = payload.get("incident")
    if not isinstance(incident, dict):
        return line
    status, _, rest = line.partition(" ")
    where = f"incident #{incident.get('id')} {incident.get('priority', '')} level "
    return f"{status} {where}{incident.get('level')} ({payload.get('receiver', '')}) {rest}"


class FileNotifier:
    """One ``file_configs`` entry of a receiver."""

    channel = "file"

    def __init__(
        self,
        config: FileConfig,
        receiver: str,
        index: int,
        *,
        base_dir: Path | None = None,
        stream: TextIO | None = None,
    ) -> None:
        """A relative ``path`` is taken from ``base_dir`` (the config file's folder)."""
        self._config = config
        self.name = integration_name(self.channel, receiver, index)
        self.path: Path | None = None
        if config.path is not None:
            path = Path(config.path)
            self.path = path if path.is_absolute() or base_dir is None else base_dir / path
        self._stream = stream

    @property
    def send_resolved(self) -> bool:
        """Whether resolved alerts are written."""
        return self._config.send_resolved

    async def notify(self, message: Message) -> None:
        """Append the payload to the file and/or print the summary line."""
        if self.path is not None:
            line = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")) + "\n"
            try:
                # A small append, but the disk may be slow: keep it off the event loop.
                await asyncio.to_thread(_append, self.path, line)
            except OSError as exc:
                raise notify_error(
                    self.name,
                    f"cannot write to {self.path}: {exc.strerror or type(exc).__name__}",
                    retryable=True,
                    reason="other",
                ) from None
        if self._config.console:
            stream = self._stream or sys.stdout
            print(console_line(message.payload), file=stream, flush=True)


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(line)

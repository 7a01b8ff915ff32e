"""Datasource outages: when every query fails for a while, say so with a meta-alert.

A failing datasource never resolves rule alerts (the engine leaves their state alone);
instead, once every query has failed for ``down_after``, promalert raises its own
``PromalertDatasourceDown`` alert, and resolves it when a query is answered again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from promalert.model import Alert, Labels

DATASOURCE_DOWN = "PromalertDatasourceDown"
"""The meta-alert's ``alertname``."""

_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


class DatasourceWatch:
    """Tracks since when the datasource has not answered and owns the meta-alert."""

    def __init__(self, *, down_after: timedelta, external_url: str) -> None:
        self._down_after = down_after
        self._external_url = external_url
        self._down_since: datetime | None = None
        self._error = ""
        self._meta: Alert | None = None

    @property
    def firing(self) -> Alert | None:
        """The meta-alert while it fires."""
        return self._meta

    def failed(self, at: datetime, error: str) -> None:
        """A query got no answer at ``at``."""
        if self._down_since is None or at < self._down_since:
            self._down_since = at
        self._error = error

    def answered(self) -> None:
        """A query got an answer (even an error about the query itself)."""
        self._down_since = None

    def check(self, at: datetime) -> Alert | None:
        """The meta-alert to send at ``at``: newly firing, just resolved, or None."""
        if self._down_since is not None:
            if self._meta is None and at - self._down_since >= self._down_after:
                self._meta = self._alert(self._down_since, self._error, at)
                return self._meta
            return None
        if self._meta is not None:
            resolved = self._meta.resolve(at)
            self._meta = None
            return resolved
        return None

    def dump(self) -> dict[str, Any]:
        """JSON-ready state, so a firing meta-alert is resolved after a restart too."""
        if self._meta is None or self._meta.starts_at is None:
            return {"firing": False}
        return {"firing": True, "since": self._meta.starts_at.isoformat(), "error": self._error}

    def load(self, data: Mapping[str, Any], now: datetime) -> None:
        """Restore :meth:`dump` output; ValueError if it is unreadable."""
        if not data.get("firing"):
            return
        try:
            since = datetime.fromisoformat(str(data["since"]))
        except KeyError:
            raise ValueError("firing without 'since'") from None
        if since.tzinfo is None:
            raise ValueError(f"timestamp {data['since']!r} has no timezone")
        self._down_since = since
        self._error = str(data.get("error", ""))
        self._meta = self._alert(since, self._error, now)

    def _alert(self, since: datetime, error: str, at: datetime) -> Alert:
        # Errors may quote the datasource URL; never let credentials in it reach a receiver.
        reason = _URL_CREDENTIALS.sub(r"\1", error) or "no answer"
        return Alert(
            labels=Labels({"alertname": DATASOURCE_DOWN, "severity": "critical"}),
            annotations=Labels(
                {
                    "summary": f"promalert cannot query its datasource: {reason}",
                    "description": (
                        f"Every query has failed since {since.isoformat()}; rule states are "
                        "kept as they were (nothing resolves) until the datasource answers."
                    ),
                }
            ),
            starts_at=since,
            generator_url=self._external_url,
            updated_at=at,
        )

"""The routing tree (SPEC §4, Alertmanager 0.25's ``route``)."""

from __future__ import annotations

from pydantic import Field

from promalert.config.base import Strict
from promalert.config.types import Duration


class RouteConfig(Strict):
    """The routing root: where alerts go and how they are grouped."""

    receiver: str
    group_by: list[str] = Field(default_factory=list)
    group_wait: Duration = 30.0
    group_interval: Duration = 300.0
    repeat_interval: Duration = 4 * 3600.0

    @property
    def group_by_all(self) -> bool:
        """True for ``group_by: ['...']``: every label set is its own group."""
        return "..." in self.group_by

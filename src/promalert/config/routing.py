"""The routing tree and inhibition rules (SPEC §4): Alertmanager 0.25's ``route`` and
``inhibit_rules``, plus promalert's opt-in noise control on routes.

Unset options (``None``) are inherited from the parent route, as in Alertmanager;
:mod:`promalert.dispatch.route` resolves them into the tree the dispatcher walks.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from promalert.config.base import Strict
from promalert.config.matchers import (
    LABEL_NAME,
    LegacyMatch,
    LegacyMatchRE,
    Matcher,
    MatcherList,
    legacy_matchers,
    sort_matchers,
)
from promalert.config.types import Duration


class FlappingConfig(Strict):
    """Hold an alert that changes state more than ``changes`` times within ``window``.

    A held alert is left out of notifications (and marked flapping) until it has kept
    one state for ``stable_for`` (default: ``window``); then it is notified as it is.
    """

    changes: int = Field(ge=1)
    window: Duration
    stable_for: Duration | None = None

    @property
    def release_after(self) -> float:
        """Seconds an alert must keep one state before it is released."""
        return self.window if self.stable_for is None else self.stable_for


class StormConfig(Strict):
    """Collapse a group into one summary notification when more than ``threshold``
    new alerts join it within ``window``; the summary lists ``sample`` of them."""

    threshold: int = Field(ge=1)
    window: Duration = 60.0
    sample: int = Field(default=10, ge=0)


class RouteConfig(Strict):
    """A node of the routing tree; the root is the top-level ``route``."""

    receiver: str | None = None
    # promalert: the escalation policy that turns each group into an incident (inherited).
    escalation: str | None = None
    group_by: list[str] | None = None
    continue_: bool = Field(default=False, alias="continue")
    match: LegacyMatch = Field(default_factory=dict)
    match_re: LegacyMatchRE = Field(default_factory=dict)
    matchers: MatcherList = ()
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    flapping: FlappingConfig | None = None
    storm: StormConfig | None = None

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [n for n in value if n != "..."]
        if names and len(names) != len(value):
            raise ValueError(
                "cannot have wildcard group_by (`...`) and other other labels at the same time"
            )
        seen: set[str] = set()
        for name in names:
            if not LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in group_by list")
            if name in seen:
                raise ValueError(f"duplicated label {name!r} in group_by")
            seen.add(name)
        return value

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _not_zero(cls, value: float | None, info: Any) -> float | None:
        if value == 0:
            raise ValueError(f"{info.field_name} cannot be zero")
        return value

    @property
    def group_by_all(self) -> bool:
        """True for ``group_by: ['...']``: every label set is its own group."""
        return self.group_by is not None and "..." in self.group_by

    def all_matchers(self) -> tuple[Matcher, ...]:
        """``match``, ``match_re`` and ``matchers`` together, in Alertmanager's order."""
        return sort_matchers([*legacy_matchers(self.match, self.match_re), *self.matchers])

    def walk(self, at: tuple[str | int, ...] = ("route",)) -> Iterator[tuple[Any, RouteConfig]]:
        """This route and every route below it, with its path in the config."""
        yield at, self
        for i, child in enumerate(self.routes):
            yield from child.walk((*at, "routes", i))


class RootRouteConfig(RouteConfig):
    """The top-level ``route``: it must name a default receiver, an escalation, or both."""

    @model_validator(mode="after")
    def _default_receiver(self) -> RootRouteConfig:
        if not self.receiver and not self.escalation:
            raise ValueError("root route must specify a default receiver (or an escalation)")
        return self


class InhibitRuleConfig(Strict):
    """Mute alerts matching the target while an alert matching the source fires, when
    both have the same values for the ``equal`` labels."""

    source_match: LegacyMatch = Field(default_factory=dict)
    source_match_re: LegacyMatchRE = Field(default_factory=dict)
    source_matchers: MatcherList = ()
    target_match: LegacyMatch = Field(default_factory=dict)
    target_match_re: LegacyMatchRE = Field(default_factory=dict)
    target_matchers: MatcherList = ()
    equal: list[str] = Field(default_factory=list)

    @field_validator("equal")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not LABEL_NAME.match(name):
                raise ValueError(f"invalid label name {name!r} in equal")
        return value

    def sources(self) -> tuple[Matcher, ...]:
        """Every source matcher."""
        legacy = legacy_matchers(self.source_match, self.source_match_re)
        return sort_matchers([*legacy, *self.source_matchers])

    def targets(self) -> tuple[Matcher, ...]:
        """Every target matcher."""
        legacy = legacy_matchers(self.target_match, self.target_match_re)
        return sort_matchers([*legacy, *self.target_matchers])


def _error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=None)


def route_problems(
    route: RouteConfig,
    receivers: Collection[str],
    intervals: Collection[str],
    policies: Collection[str] = (),
) -> list[InitErrorDetails]:
    """Every broken reference and misplaced option in the tree, located in the config."""
    problems: list[InitErrorDetails] = []
    if route.all_matchers():
        problems.append(_error(("route",), "root route must not have any matchers"))
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(route, key):
            problems.append(_error(("route", key), f"root route must not have any {key}"))
    for at, node in route.walk():
        if node.receiver is not None and node.receiver not in receivers:
            message = (
                f"receiver {node.receiver!r} is not defined "
                f"(receivers: {', '.join(sorted(receivers))})"
            )
            # The root's receiver is reported on the route itself, as before nesting existed.
            problems.append(_error(at if at == ("route",) else (*at, "receiver"), message))
        if node.escalation is not None and node.escalation not in policies:
            known = ", ".join(sorted(policies)) or "none defined"
            message = f"escalation policy {node.escalation!r} is not defined ({known})"
            problems.append(_error((*at, "escalation"), message))
        for key in ("mute_time_intervals", "active_time_intervals"):
            for i, name in enumerate(getattr(node, key)):
                if name not in intervals:
                    message = f"time interval {name!r} is not defined in time_intervals"
                    problems.append(_error((*at, key, i), message))
    return problems

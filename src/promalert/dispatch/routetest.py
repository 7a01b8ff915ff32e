"""``promalert route test LABEL=VALUE ...``: which routes and receivers an alert reaches.

Like ``amtool config routes test``, the first line lists the receivers, comma-separated,
in tree order; each following line describes one matched route (its Alertmanager key,
receiver, grouping, timing, time intervals, noise control) and the priority the alert
gets. ``--verify-receivers`` makes the exit status say whether the receivers match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from promalert.config.loader import load_config
from promalert.config.matchers import MatchType, parse_matchers
from promalert.config.models import Config
from promalert.dispatch.priority import priority_of
from promalert.dispatch.route import Route
from promalert.durations import format_duration
from promalert.errors import ConfigError
from promalert.model import Labels


def parse_labels(args: Sequence[str]) -> Labels:
    """``name=value`` arguments (quotes allowed) as a label set; raise ValueError."""
    labels: dict[str, str] = {}
    for arg in args:
        for matcher in parse_matchers(arg):
            if matcher.type is not MatchType.EQUAL:
                raise ValueError(f"expected LABEL=VALUE, got {arg!r}")
            labels[matcher.name] = matcher.value
    return Labels(labels)


def describe(route: Route) -> str:
    """One matched route as a line of text."""
    group_by = "[...]" if route.group_by_all else "[" + ", ".join(sorted(route.group_by)) + "]"
    parts = [
        route.key,
        f"receiver: {route.receiver}",
        f"group_by: {group_by}",
        f"group_wait: {format_duration(route.group_wait)}",
        f"group_interval: {format_duration(route.group_interval)}",
        f"repeat_interval: {format_duration(route.repeat_interval)}",
    ]
    if route.escalation:
        parts.append(f"escalation: {route.escalation}")
    if route.continue_:
        parts.append("continue: true")
    if route.mute_time_intervals:
        parts.append("mute_time_intervals: " + ", ".join(route.mute_time_intervals))
    if route.active_time_intervals:
        parts.append("active_time_intervals: " + ", ".join(route.active_time_intervals))
    if route.flapping:
        parts.append(
            f"flapping: >{route.flapping.changes} changes/{format_duration(route.flapping.window)}"
        )
    if route.storm:
        parts.append(
            f"storm: >{route.storm.threshold} alerts/{format_duration(route.storm.window)}"
        )
    return "  ".join(parts)


def route_test(config: Config, labels: Labels) -> tuple[list[str], list[str]]:
    """The receivers an alert with ``labels`` reaches, and one description per route."""
    routes = Route.from_config(config.route).match(labels)
    priority = priority_of(labels, config.priorities)
    lines = [f"{describe(r)}  priority: {priority}" for r in routes]
    return [r.receiver for r in routes], lines


def run_route_test(
    config_path: str, args: Sequence[str], out: TextIO, *, expect: str | None = None
) -> int:
    """The ``route test`` command; exit 0, or 1 on bad input or unexpected receivers."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    try:
        labels = parse_labels(args)
    except ValueError as exc:
        print(f"route test: {exc}", file=out)
        return 1
    receivers, lines = route_test(config, labels)
    print(",".join(receivers), file=out)
    for line in lines:
        print(f"  {line}", file=out)
    if expect is not None and expect.split(",") != receivers:
        print(f"WARNING: expected receivers {expect!r}, got {','.join(receivers)!r}", file=out)
        return 1
    return 0

"""Reading the tools' /metrics: per-group cycle times, evaluation errors and active alerts."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
# vmalert writes `{group="a", file="b"}` with a space after the comma, so allow one.
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of Prometheus text exposition."""

    name: str
    labels: dict[str, str]
    value: float


def parse(text: str, names: Iterable[str]) -> list[Sample]:
    """The samples of ``text`` whose metric name is one of ``names``."""
    wanted = frozenset(names)
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None or m.group(1) not in wanted:
            continue
        labels = {k: v for k, v in _LABEL.findall(m.group(2) or "")}
        out.append(Sample(m.group(1), labels, float(m.group(3))))
    return out


@dataclass(frozen=True, slots=True)
class Probe:
    """Which metrics of one tool tell its group cycles, errors and active alerts."""

    iterations: str  # counter of group cycles, label `group`
    duration: str  # label `group`; a running sum of cycle seconds, or the last cycle's seconds
    duration_is_sum: bool
    errors: str  # counter of failed rule evaluations (summed over all labels)
    firing: tuple[str, dict[str, str]]  # gauge (summed) and the labels it must carry
    pending: tuple[str, dict[str, str]]

    def names(self) -> set[str]:
        """Every metric name this probe reads."""
        return {self.iterations, self.duration, self.errors, self.firing[0], self.pending[0]}


VMALERT = Probe(
    iterations="vmalert_iteration_duration_seconds_count",
    duration="vmalert_iteration_duration_seconds_sum",
    duration_is_sum=True,
    errors="vmalert_execution_errors_total",
    firing=("vmalert_alerts_firing", {}),
    pending=("vmalert_alerts_pending", {}),
)

PROMALERT = Probe(
    iterations="promalert_rule_group_iterations_total",
    duration="promalert_rule_group_last_duration_seconds",
    duration_is_sum=False,
    errors="promalert_rule_evaluation_failures_total",
    firing=("promalert_alerts", {"state": "firing"}),
    pending=("promalert_alerts", {"state": "pending"}),
)


@dataclass(frozen=True, slots=True)
class Reading:
    """One scrape of a tool reduced to what the benchmark needs."""

    iterations: dict[str, float]
    duration: dict[str, float]
    errors: float
    firing: float
    pending: float


def read(probe: Probe, text: str) -> Reading:
    """Reduce a /metrics body to a Reading according to ``probe``."""
    iterations: dict[str, float] = {}
    duration: dict[str, float] = {}
    errors = firing = pending = 0.0
    for s in parse(text, probe.names()):
        if s.name == probe.iterations and "group" in s.labels:
            iterations[s.labels["group"]] = iterations.get(s.labels["group"], 0.0) + s.value
        if s.name == probe.duration and "group" in s.labels:
            duration[s.labels["group"]] = duration.get(s.labels["group"], 0.0) + s.value
        if s.name == probe.errors:
            errors += s.value
        if s.name == probe.firing[0] and _carries(s, probe.firing[1]):
            firing += s.value
        if s.name == probe.pending[0] and _carries(s, probe.pending[1]):
            pending += s.value
    return Reading(iterations, duration, errors, firing, pending)


def _carries(sample: Sample, labels: dict[str, str]) -> bool:
    return all(sample.labels.get(k) == v for k, v in labels.items())


@dataclass(slots=True)
class CycleLog:
    """Per-group cycle durations seen between successive readings of one tool."""

    probe: Probe
    last: Reading
    cycles: dict[str, list[float]] = field(default_factory=dict)
    timeline: list[tuple[float, str, float]] = field(default_factory=list)  # (at, group, s)
    unseen: int = 0  # cycles that ran between two readings and were not observed one by one

    def update(self, now: Reading, at: float) -> None:
        """Record the cycles that completed since the previous reading, taken at ``at``."""
        for group, count in now.iterations.items():
            new = count - self.last.iterations.get(group, 0.0)
            if new <= 0 or group not in now.duration:
                continue
            if self.probe.duration_is_sum:
                # The sum's delta over the count's delta is exact for one new cycle and the
                # mean of them if the reading fell behind.
                seconds = (now.duration[group] - self.last.duration.get(group, 0.0)) / new
            else:
                seconds = now.duration[group]
            self.cycles.setdefault(group, []).append(seconds)
            self.timeline.append((at, group, seconds))
            self.unseen += int(new) - 1
        self.last = now

    def completed(self) -> int:
        """Group cycles recorded so far, over all groups."""
        return sum(len(v) for v in self.cycles.values()) + self.unseen


def median(values: list[float]) -> float:
    """The median of ``values`` (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by nearest rank (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

"""``promalert backtest``: replay a rule over history and say when it would have fired.

The history comes from the configured Prometheus (range queries in chunks of at most
11,000 points per series). :mod:`promalert.rules.replay` computes, per series and
evaluation time, whether the rule's condition held; the same state machine as the
engine (:func:`promalert.rules.state.step`, with the rule's ``for``,
``keep_firing_for`` and ``cooldown``) turns that into firing and resolved times.
Times are RFC 3339 (``2026-01-05T09:00:00Z``), Unix seconds, ``now``, or relative to
now (``-7d``, ``-90m``). Anomaly, trend and frequency rules can be replayed.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TextIO

import aiohttp

from promalert.clock import Clock, SystemClock
from promalert.config.loader import load_all
from promalert.datasource.prometheus import PrometheusClient
from promalert.durations import format_duration, parse_duration
from promalert.errors import ConfigError, DatasourceError
from promalert.model import Labels
from promalert.rules.history import Progress, RangeQuery, to_datetime
from promalert.rules.kinds.base import Labeler
from promalert.rules.replay import Replay, replay_anomaly, replay_frequency, replay_trend
from promalert.rules.spec import AlertingRule, AnomalyRule, FrequencyRule, RuleGroup, TrendRule
from promalert.rules.state import AlertEntry, AlertState, Candidate, Key, Timing, step

KINDS = ("anomaly", "trend", "frequency")


class BacktestError(Exception):
    """The backtest cannot run: unknown rule, unsupported kind, bad time."""


@dataclass(frozen=True, slots=True)
class Span:
    """One firing of an alert: when it fired and when it resolved (None: still firing)."""

    labels: Labels
    fired_at: datetime
    resolved_at: datetime | None
    value: float  # $value when it fired
    score: float  # what the rule computed then (anomaly score, seconds, count)


@dataclass(frozen=True, slots=True)
class SeriesResult:
    """A replayed series with the alert it maps to and that alert's firings."""

    replay: Replay
    alert: Labels
    spans: list[Span] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Backtest:
    """The outcome of a backtest, ready to print and plot."""

    rule: AlertingRule
    start: datetime
    end: datetime
    series: list[SeriesResult]

    @property
    def spans(self) -> list[Span]:
        """Every firing, in time order."""
        return sorted((s for r in self.series for s in r.spans), key=lambda s: s.fired_at)


def parse_time(text: str, now: datetime) -> datetime:
    """RFC 3339, Unix seconds, ``now`` or ``-DURATION`` (before now) as an aware datetime."""
    text = text.strip()
    try:
        if text == "now":
            return now
        if text.startswith("-"):
            return now - timedelta(seconds=parse_duration(text[1:]))
        if text.replace(".", "", 1).isdigit():
            return to_datetime(float(text))
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BacktestError(f"bad time {text!r}: {exc}") from None
    if parsed.tzinfo is None:
        raise BacktestError(f"bad time {text!r}: give a timezone, e.g. {text}Z")
    return parsed


def find_rule(groups: Sequence[RuleGroup], name: str) -> tuple[RuleGroup, AlertingRule]:
    """The rule called ``name`` (or ``group/name`` when several groups have one)."""
    group_name, _, alert = name.rpartition("/")
    found = [
        (g, r)
        for g in groups
        for r in g.alerting_rules
        if r.alert == alert and (not group_name or g.name == group_name)
    ]
    if not found:
        names = sorted({r.alert for g in groups for r in g.alerting_rules})
        raise BacktestError(f"no rule named {name!r} (rules: {', '.join(names) or 'none'})")
    if len(found) > 1:
        where = ", ".join(f"{g.name}/{r.alert}" for g, r in found)
        raise BacktestError(f"several rules are named {name!r}; pick one of: {where}")
    return found[0]


async def backtest(
    group: RuleGroup,
    rule: AlertingRule,
    query_range: RangeQuery,
    start: datetime,
    end: datetime,
    *,
    interval: float,
    external_url: str = "",
    progress: Progress | None = None,
) -> Backtest:
    """Replay ``rule`` over [start, end] and derive its firings with the engine's state machine."""
    lo, hi = start.timestamp(), end.timestamp()
    if hi <= lo:
        raise BacktestError("--from must be before --to")
    interval = group.interval or interval
    replays: list[Replay]
    if isinstance(rule, AnomalyRule):
        replays = await replay_anomaly(rule, query_range, lo, hi, progress)
    elif isinstance(rule, TrendRule):
        replays = await replay_trend(rule, query_range, lo, hi, interval, progress)
    elif isinstance(rule, FrequencyRule):
        replays = await replay_frequency(rule, query_range, lo, hi, interval, progress)
    else:
        raise BacktestError(
            f"rule {rule.alert!r} is a {rule.kind} rule; backtest replays {', '.join(KINDS)} rules"
        )
    labeler = Labeler(
        name=rule.alert,
        labels={**group.labels, **rule.labels},
        annotations={},
        external_url=external_url,
    )
    results = [SeriesResult(r, Labels(dict(labeler.candidate(r.labels, 0.0).key))) for r in replays]
    _firings(rule, results)
    return Backtest(rule, start, end, results)


def _firings(rule: AlertingRule, results: list[SeriesResult]) -> None:
    """Run the alert state machine over every evaluation time; record spans per series."""
    by_key = {tuple(r.alert.items()): r for r in results}
    times = sorted({float(t) for r in results for t in r.replay.times})
    index = {id(r): {float(t): i for i, t in enumerate(r.replay.times)} for r in results}
    timing = Timing.of(rule.for_, rule.keep_firing_for, rule.cooldown)
    alerts: dict[Key, AlertEntry] = {}
    open_spans: dict[Key, tuple[datetime, float, float]] = {}
    for t in times:
        at = to_datetime(t)
        candidates: dict[Key, Candidate] = {}
        computed: dict[Key, float] = {}
        for key, r in by_key.items():
            i = index[id(r)].get(t)
            if i is not None and r.replay.active[i]:
                # $value: the observed value for anomaly rules, else what the rule computed.
                value = r.replay.values[i] if isinstance(rule, AnomalyRule) else r.replay.result[i]
                candidates[key] = Candidate(key, r.replay.labels, float(value))
                computed[key] = float(r.replay.result[i])
        result = step(alerts, candidates, at, timing, lambda c: Labels())
        alerts = result.alerts
        for e in result.notify:
            key = tuple(e.labels.items())
            if e.state is AlertState.FIRING and key not in open_spans:
                open_spans[key] = (at, e.value, computed.get(key, math.nan))
            elif e.state is AlertState.INACTIVE and key in open_spans:
                fired, value, score = open_spans.pop(key)
                by_key[key].spans.append(Span(e.labels, fired, at, value, score))
    for key, (fired, value, score) in open_spans.items():
        by_key[key].spans.append(Span(by_key[key].alert, fired, None, value, score))


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def report(result: Backtest) -> str:
    """The firings as text, one line per fired and resolved event, then a summary."""
    rule = result.rule
    lines = [
        f"backtest of {rule.alert} ({rule.kind}) from {_stamp(result.start)} "
        f"to {_stamp(result.end)}: {len(result.series)} series"
    ]
    for span in result.spans:
        what = f"value {span.value:g}"
        if isinstance(rule, AnomalyRule):
            what += f", score {span.score:.3f}"
        lines.append(f"{_stamp(span.fired_at)}  firing    {span.labels}  {what}")
        if span.resolved_at is not None:
            took = format_duration((span.resolved_at - span.fired_at).total_seconds())
            lines.append(f"{_stamp(span.resolved_at)}  resolved  {span.labels}  after {took}")
        else:
            lines.append(f"{'':20}  still firing at the end of the range")
    fired = len(result.spans)
    alerts = len({tuple(s.labels.items()) for s in result.spans})
    lines.append(f"{fired} firing(s) of {alerts} alert(s)")
    return "\n".join(lines)


class ProgressBar:
    """A one-line progress bar on a terminal; a line per tenth elsewhere."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream, self._label = stream, label
        self._tty = stream.isatty()
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total``."""
        if total <= 1:
            return
        tenth = done * 10 // total
        if self._tty:
            bar = "#" * (done * 30 // total)
            end = "\n" if done >= total else ""
            self._stream.write(f"\r{self._label} [{bar:<30}] {done * 100 // total:3d}%{end}")
        elif tenth != self._shown:
            self._stream.write(f"{self._label}: {done * 100 // total}%\n")
        self._shown = tenth
        self._stream.flush()


async def run_backtest_command(
    config_path: str,
    rule_name: str,
    start_text: str,
    end_text: str,
    plot: str | None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    clock: Clock | None = None,
) -> int:
    """The ``promalert backtest`` command; returns the exit status."""
    try:
        config, groups = await asyncio.to_thread(load_all, config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    if config.datasource is None:
        print(f"{config_path}: no datasource configured to fetch history from", file=err)
        return 1
    now = (clock or SystemClock()).now()
    try:
        group, rule = find_rule(groups, rule_name)
        start, end = parse_time(start_text, now), parse_time(end_text, now)
        async with aiohttp.ClientSession() as session:
            client = PrometheusClient(config.datasource, session)
            result = await backtest(
                group,
                rule,
                client.query_range,
                start,
                end,
                interval=config.global_.evaluation_interval,
                external_url=config.global_.external_url,
                progress=ProgressBar(err, "backtest"),
            )
    except (BacktestError, DatasourceError) as exc:
        print(f"backtest: {exc}", file=err)
        return 1
    print(report(result), file=out)
    if plot:
        from promalert.rules.plot import plot_backtest

        await asyncio.to_thread(plot_backtest, result, plot)
        print(f"wrote {plot}", file=out)
    return 0

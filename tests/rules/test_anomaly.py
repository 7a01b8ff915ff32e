"""``anomaly`` rules on a fake datasource and a fake clock: warm-up, firing, metrics, restarts."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from dataclasses import astuple
from datetime import datetime, timedelta
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.metrics import Metrics
from promalert.rules.kinds.anomaly import AnomalyEvaluator
from promalert.rules.spec import AnomalyRule, RuleGroup

Rows = list[tuple[dict[str, str], float]]


def noise(t: float) -> float:
    """A deterministic, slightly noisy level around 100."""
    return 100.0 + 3.0 * math.sin(t / 700.0) + ((int(t) * 7919) % 11 - 5) * 0.4


def group(**rule: Any) -> dict[str, Any]:
    base = {
        "alert": "ReqAnomaly",
        "kind": "anomaly",
        "query": "req",
        "history": "3h",
        "step": "1m",
        "annotations": {
            "summary": "{{ $labels.instance }} at {{ $value }} "
            "(expected {{ $labels.__expected }}, score {{ $labels.__score }})"
        },
    }
    return {"name": "g", "interval": "1m", "rules": [{**base, **rule}]}


def series(**values: Callable[[float], float | None]) -> Callable[[str, datetime], Rows]:
    """A query function: ``req{instance=name}`` = fn(t); None means absent at t."""

    def fn(expr: str, at: datetime) -> Rows:
        if expr != "req":
            return []
        rows = []
        for name, value_of in values.items():
            value = value_of(at.timestamp())
            if value is not None:
                rows.append(({"__name__": "req", "instance": name}, value))
        return rows

    return fn


def evaluator(engine: Any) -> AnomalyEvaluator:
    (runner,) = engine._runners.values()
    assert isinstance(runner.evaluator, AnomalyEvaluator)
    return runner.evaluator


def score(metrics: Metrics, instance: str, family: str = "score") -> float | None:
    value: float | None = metrics.registry.get_sample_value(
        f"promalert_anomaly_{family}", {"rule": "ReqAnomaly", "instance": instance}
    )
    return value


async def run(engine: Any, t0: datetime, minutes: range) -> None:
    for k in minutes:
        await engine.evaluate_group_once("g", t0 + timedelta(minutes=k, seconds=5))


async def test_spike_fires_with_template_values_and_metrics(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock, metrics: Metrics
) -> None:
    t0 = clock.now()
    spike = t0.timestamp() + 600
    ds.fn = series(a=lambda t: 1000.0 if t >= spike else noise(t))
    engine = make_engine(group())
    await run(engine, t0, range(10))
    assert sink.take() == []
    assert 95 < (score(metrics, "a", "expected") or 0) < 105
    assert (score(metrics, "a", "lower") or 0) <= (score(metrics, "a", "upper") or 0)
    # The first evaluation warmed up from 3h of history; later ones fetched one step.
    first, *rest = ds.range_calls
    assert first[2] - first[1] == 3 * 3600 and first[3] == 60
    assert all(end - start == 0 for _, start, end, _ in rest)

    await run(engine, t0, range(10, 11))
    (alert,) = sink.take()
    assert dict(alert.labels) == {"alertname": "ReqAnomaly", "instance": "a"}
    summary = alert.annotations["summary"]
    assert summary.startswith("a at 1000 (expected 10"), summary
    assert float(summary.rsplit("score ", 1)[1].rstrip(")")) >= 0.25
    assert (score(metrics, "a") or 0) >= 0.25


@pytest.mark.parametrize(("direction", "fires"), [("up", False), ("down", True), ("both", True)])
async def test_direction_decides_whether_a_drop_counts(
    make_engine: Any,
    ds: Any,
    sink: Any,
    clock: FakeClock,
    direction: str,
    fires: bool,
) -> None:
    t0 = clock.now()
    drop = t0.timestamp() + 120
    ds.fn = series(a=lambda t: -500.0 if t >= drop else noise(t))
    engine = make_engine(group(direction=direction, detector="zscore"))
    await run(engine, t0, range(3))
    assert bool(sink.take()) is fires


async def test_new_series_warm_up_before_firing(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock, metrics: Metrics
) -> None:
    t0 = clock.now()
    born, spike = t0.timestamp() + 60, t0.timestamp() + 300
    ds.fn = series(
        old=lambda t: 1000.0 if t >= spike else noise(t),
        new=lambda t: None if t < born else (1000.0 if t >= spike else noise(t)),
    )
    engine = make_engine(group(min_samples=20, detector="zscore"))
    await run(engine, t0, range(6))
    fired = {a.labels["instance"] for a in sink.take()}
    assert fired == {"old"}  # "new" has 5 points, fewer than min_samples
    assert evaluator(engine).models.keys() and score(metrics, "new") is not None


async def test_vanished_series_are_dropped_with_their_metrics(
    make_engine: Any, ds: Any, clock: FakeClock, metrics: Metrics
) -> None:
    t0 = clock.now()
    gone = t0.timestamp() + 120
    ds.fn = series(a=noise, b=lambda t: None if t >= gone else noise(t))
    engine = make_engine(group(detector="ewma"))
    await run(engine, t0, range(2))
    assert score(metrics, "b") is not None
    await run(engine, t0, range(2, 3))
    assert score(metrics, "b") is None and score(metrics, "a") is not None
    assert [m.labels["instance"] for m in evaluator(engine).models.values()] == ["a"]
    # Back again: warmed up from its whole history, not from zero.
    ds.fn = series(a=noise, b=noise)
    await run(engine, t0, range(3, 4))
    model = evaluator(engine).models[
        next(lb for lb in evaluator(engine).models if lb["instance"] == "b")
    ]
    assert model.count == 3 * 60 + 1


async def test_refit_rebuilds_from_history(make_engine: Any, ds: Any, clock: FakeClock) -> None:
    t0 = clock.now()
    ds.fn = series(a=noise)
    engine = make_engine(group(detector="mad", refit="5m"))
    await run(engine, t0, range(7))
    full = [c for c in ds.range_calls if c[2] - c[1] == 3 * 3600]
    assert [c[2] - t0.timestamp() for c in full] == [0, 300]


async def test_restart_keeps_models_and_continues_identically(
    make_engine: Any, ds: Any, store: Any, sink: Any, clock: FakeClock
) -> None:
    t0 = clock.now()
    spike = t0.timestamp() + 14 * 60
    ds.fn = series(a=lambda t: 1000.0 if t >= spike else noise(t), b=noise)
    steady = make_engine(group(), concurrency=1)
    await run(steady, t0, range(16))
    expected = {lb["instance"]: m.last for lb, m in evaluator(steady).models.items()}
    fired = [(a.labels["instance"], a.ends_at) for a in sink.take()]
    assert [name for name, _ in fired] == ["a", "a"]  # fired at the spike, resolved in the hold

    store.data.clear()
    first = make_engine(group())
    await run(first, t0, range(8))
    sink.take()
    ds.range_calls.clear()
    second = make_engine(group())  # a restart: same store, fresh process state
    await second.restore()
    restored = evaluator(second)
    assert {m.count for m in restored.models.values()} == {3 * 60 + 1 + 5}  # saved at minute 5
    await run(second, t0, range(8, 16))
    # It caught up from the checkpoint instead of warming up from history again.
    assert all(end - start < 3 * 3600 for _, start, end, _ in ds.range_calls)
    got = {lb["instance"]: m.last for lb, m in evaluator(second).models.items()}
    assert got.keys() == expected.keys()
    for name, last in got.items():  # batch and streaming agree to rounding
        assert last is not None and expected[name] is not None
        assert astuple(last) == pytest.approx(astuple(expected[name]), rel=1e-9)
    assert [(a.labels["instance"], a.ends_at) for a in sink.take()] == fired


async def test_changed_detector_discards_saved_models(
    make_engine: Any, ds: Any, store: Any, clock: FakeClock
) -> None:
    t0 = clock.now()
    ds.fn = series(a=noise)
    await run(make_engine(group(detector="ewma")), t0, range(2))
    engine = make_engine(group(detector="zscore"))
    await engine.restore()
    assert evaluator(engine).models == {}
    await run(engine, t0, range(2, 3))
    (model,) = evaluator(engine).models.values()
    assert type(model.detector).__name__ == "ZscoreDetector"


async def test_features_make_a_multivariate_forest(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock, metrics: Metrics
) -> None:
    t0 = clock.now()
    odd = t0.timestamp() + 300

    def fn(expr: str, at: datetime) -> Rows:
        t = at.timestamp()
        load = 50.0 + 40.0 * math.sin(t / 900.0)
        labels = {"instance": "a"}
        if expr == "req":
            # Latency follows load, until it leaves that relation while staying within
            # its usual range (178.9 against a range of 20..180): only the pair is odd.
            return [({"__name__": "req", **labels}, 2.0 * load + (80.0 if t >= odd else 0.0))]
        if expr == "load":
            return [({"__name__": "load", **labels, "job": "x"}, load)]
        return []

    ds.fn = fn
    rule = group(
        detector="isolation_forest",
        features={"load": "load"},
        on=["instance"],
        params={"trees": 50},
        threshold=0.3,
        direction="up",
        min_samples=50,
    )
    engine = make_engine(rule)
    await run(engine, t0, range(5))
    assert sink.take() == []
    assert (score(metrics, "a") or 1) < 0.3
    await run(engine, t0, range(5, 6))
    (alert,) = sink.take()
    assert alert.labels["instance"] == "a"
    (model,) = evaluator(engine).models.values()
    assert model.forest is not None and model.forest.train is not None
    assert model.forest.train.shape[1] == 2


def test_rule_model_rejects_bad_settings() -> None:
    def problems(**rule: Any) -> str:
        try:
            RuleGroup.model_validate(group(**rule))
        except ValueError as exc:
            return str(exc)
        return ""

    assert "unknown detector 'ewm'" in problems(detector="ewm")
    assert "params.alpah: unknown parameter 'alpah'" in problems(
        detector="ewma", params={"alpah": 0.1}
    )
    assert "valid: alpha, band, warmup" in problems(detector="ewma", params={"alpah": 0.1})
    assert "needs detector: isolation_forest" in problems(features={"cpu": "cpu"})
    assert "only used with features" in problems(on=["instance"])
    assert "history: must be at least one step" in problems(history="30s")
    assert "less than or equal to 1" in problems(threshold=1.5)
    assert problems(detector="isolation_forest", features={"cpu": "cpu"}, params={"trees": 5}) == ""
    rule = AnomalyRule.model_validate(group()["rules"][0])
    assert (rule.detector, rule.direction, rule.threshold) == ("ensemble", "both", 0.25)


def test_anomaly_collector_exports_snapshots_and_forgets_dropped_rules() -> None:
    metrics = Metrics()

    class Owner:
        """Stands in for an evaluator: entries live as long as their owner."""

    first, second = Owner(), Owner()
    metrics.anomaly.publish(
        first, "R", [({"__name__": "x", "host": "a", "rule": "theirs"}, 0.5, 10.0, 8.0, 12.0, 11.0)]
    )
    metrics.anomaly.publish(second, "S", [({"host": "b"}, 0.1, 1.0, 0.0, 2.0, 1.5)])
    get = metrics.registry.get_sample_value
    labels = {"rule": "R", "host": "a", "exported_rule": "theirs"}
    assert get("promalert_anomaly_score", labels) == 0.5
    assert get("promalert_anomaly_upper", labels) == 12.0
    assert get("promalert_anomaly_value", labels) == 11.0
    assert get("promalert_anomaly_lower", {"rule": "S", "host": "b"}) == 0.0
    # A new snapshot replaces the old one: the vanished series goes.
    metrics.anomaly.publish(first, "R", [])
    assert get("promalert_anomaly_score", labels) is None
    del second  # a rule removed by a reload: its evaluator is gone, and its series with it
    gc.collect()
    assert get("promalert_anomaly_expected", {"rule": "S", "host": "b"}) is None


async def test_outage_keeps_models_and_catches_up(
    make_engine: Any, ds: Any, clock: FakeClock, metrics: Metrics
) -> None:
    t0 = clock.now()
    ds.fn = series(a=noise)
    engine = make_engine(group(detector="ewma"))
    await run(engine, t0, range(2))
    (model,) = evaluator(engine).models.values()
    fed = model.count
    ds.down = True
    await run(engine, t0, range(2, 5))
    assert engine.rule_status()[0]["health"] == "err" and model.count == fed
    ds.down = False
    await run(engine, t0, range(5, 6))
    assert evaluator(engine).models[model.labels] is model and model.count == fed + 4
    assert metrics.registry.get_sample_value("promalert_datasource_up") == 1

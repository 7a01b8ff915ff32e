"""The per-series model of an ``anomaly`` rule, shared by live evaluation and backtests.

A :class:`SeriesModel` wraps one detector (univariate) or one multivariate forest
(rules with ``features``), counts the points it was fed (warm-up), and remembers its
last point and score. Rows are arrays of shape (points, columns): column 0 is the
rule's query, further columns are the features in rule order. Non-finite rows are not
fed: they score 0 with an unknown (NaN) expected value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from promalert.detect import Detector, Score, ScoreArrays, make_detector, restore
from promalert.detect.multivariate import ForestParams, MultivariateForest
from promalert.errors import RuleEvaluationError
from promalert.model import Labels
from promalert.rules.history import History
from promalert.rules.spec import AnomalyRule

Rows = tuple[np.ndarray, np.ndarray]
"""Timestamps (n,) and rows (n, columns) of one series."""


def _num(value: float) -> float | None:
    """A float for JSON: None for NaN and infinities."""
    return value if math.isfinite(value) else None


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


class SeriesModel:
    """One series' detector, how many points it has seen, and its last point and score."""

    def __init__(self, labels: Labels, rule: AnomalyRule) -> None:
        self.labels = labels
        self.min_samples = rule.min_samples
        self.detector: Detector | None = None
        self.forest: MultivariateForest | None = None
        if rule.features:
            self.forest = MultivariateForest(ForestParams.parse(rule.params))
        else:
            self.detector = make_detector(rule.detector, rule.params)
        self.pending: list[list[float]] = []  # multivariate rows before the first fit
        self.count = 0
        self.last_ts = -math.inf
        self.last_value = math.nan
        self.last: Score | None = None

    @property
    def warm(self) -> bool:
        """True once the model has been fed ``min_samples`` finite points."""
        return self.count >= self.min_samples

    def warm_up(self, ts: np.ndarray, rows: np.ndarray) -> ScoreArrays:
        """Start from history: a forest fits on all rows but the last and scores that one."""
        if self.forest is None:
            return self.feed(ts, rows)
        finite = np.isfinite(rows).all(axis=1)
        if finite.sum() > self.min_samples:
            last = int(np.flatnonzero(finite)[-1])
            self.forest.fit(rows[:last][finite[:last]])
            self.count = int(finite[:last].sum())
            self.last_ts = float(ts[last - 1]) if last else -math.inf
            tail = self.feed(ts[last:], rows[last:])
            head = _unscored(rows[:last])
            return _concat(head, tail)
        return self.feed(ts, rows)

    def feed(self, ts: np.ndarray, rows: np.ndarray) -> ScoreArrays:
        """Score the points after ``last_ts`` in order and fold them in."""
        keep = ts > self.last_ts
        ts, rows = ts[keep], rows[keep]
        n = ts.size
        out = _unscored(rows)
        if n == 0:
            return out
        finite = np.isfinite(rows).all(axis=1)
        idx = np.flatnonzero(finite)
        if idx.size:
            scored = self._score(ts[idx], rows[idx])
            for field in ("score", "expected", "lower", "upper"):
                getattr(out, field)[idx] = getattr(scored, field)
        self.count += int(idx.size)
        self.last_ts = float(ts[-1])
        self.last_value = float(rows[-1, 0])
        self.last = out.at(n - 1)
        return out

    def _score(self, ts: np.ndarray, rows: np.ndarray) -> ScoreArrays:
        if self.detector is not None:
            if ts.size == 1:  # the usual live case: the streaming path skips numpy's overhead
                s = self.detector.update(float(ts[0]), float(rows[0, 0]))
                return ScoreArrays(
                    *(np.array([v]) for v in (s.score, s.expected, s.lower, s.upper))
                )
            return self.detector.score_batch(ts, rows[:, 0])
        assert self.forest is not None
        if self.forest.fitted:
            return self.forest.score(rows)
        # Collect rows until there are min_samples, fit on them, score the rest.
        need = max(self.min_samples - len(self.pending), 0)
        head, tail = rows[:need], rows[need:]
        self.pending.extend(head.tolist())
        self.pending = self.pending[-self.forest.params.max_rows :]
        out = _unscored(head)
        if tail.shape[0] == 0:
            return out
        self.forest.fit(np.array(self.pending, dtype=float))
        self.pending = []
        return _concat(out, self.forest.score(tail))

    def dump(self) -> dict[str, Any]:
        """JSON-able state."""
        model = self.detector.state_dict() if self.detector is not None else None
        if self.forest is not None:
            model = self.forest.state_dict()
        last = None
        if self.last is not None:
            s = self.last
            last = [_num(s.score), _num(s.expected), _num(s.lower), _num(s.upper)]
        return {
            "labels": self.labels.as_dict(),
            "count": self.count,
            "last_ts": _num(self.last_ts),
            "last_value": _num(self.last_value),
            "last": last,
            "pending": self.pending,
            "model": model,
        }

    @classmethod
    def load(cls, data: Mapping[str, Any], rule: AnomalyRule) -> SeriesModel:
        """Rebuild from :meth:`dump` output; ValueError if it does not fit ``rule``."""
        labels = Labels({str(k): str(v) for k, v in data["labels"].items()})
        model = cls(labels, rule)
        state = data["model"]
        if model.forest is not None:
            model.forest = MultivariateForest.from_state(state)
        else:
            model.detector = restore(state)
        model.count = int(data["count"])
        model.last_ts = -math.inf if data["last_ts"] is None else float(data["last_ts"])
        model.last_value = _float(data["last_value"])
        if data["last"] is not None:
            model.last = Score(*(_float(v) for v in data["last"]))
        model.pending = [[float(v) for v in row] for row in data["pending"]]
        return model


def _unscored(rows: np.ndarray) -> ScoreArrays:
    n = rows.shape[0]
    nan = np.full(n, np.nan)
    return ScoreArrays(np.zeros(n), nan.copy(), nan.copy(), nan.copy())


def _concat(a: ScoreArrays, b: ScoreArrays) -> ScoreArrays:
    return ScoreArrays(
        np.concatenate((a.score, b.score)),
        np.concatenate((a.expected, b.expected)),
        np.concatenate((a.lower, b.lower)),
        np.concatenate((a.upper, b.upper)),
    )


def passes(rule: AnomalyRule, score: float, value: float, expected: float) -> bool:
    """True when ``score`` reaches the threshold on a side ``direction`` counts."""
    if not score >= rule.threshold:
        return False
    if rule.direction == "up":
        return value > expected
    if rule.direction == "down":
        return value < expected
    return True


def join_key(labels: Labels, on: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    """The labels a feature is matched on: ``on`` if given, else all but ``__name__``."""
    if on:
        if any(name not in labels for name in on):
            return None
        return tuple((name, labels[name]) for name in on)
    return tuple((k, v) for k, v in labels.items() if k != "__name__")


def join_rows(
    main: Mapping[Labels, History],
    features: Sequence[tuple[str, Mapping[Labels, History]]],
    on: Sequence[str],
) -> dict[Labels, Rows]:
    """Rows per main series: its values, then each feature's, at the timestamps all share.

    A main series without a match in every feature gets no rows; two feature series
    with one join key make the evaluation fail, since the match would be a guess.
    """
    if not features:
        return {lb: (h.timestamps, h.values.reshape(-1, 1)) for lb, h in main.items()}
    indexed: list[dict[tuple[tuple[str, str], ...], History]] = []
    for name, found in features:
        by_key: dict[tuple[tuple[str, str], ...], History] = {}
        for labels, history in found.items():
            key = join_key(labels, on)
            if key is None:
                continue
            if key in by_key:
                raise RuleEvaluationError(
                    f"feature {name!r} returns several series for {dict(key)}; "
                    "aggregate it or set 'on' to labels that tell them apart"
                )
            by_key[key] = history
        indexed.append(by_key)
    out: dict[Labels, Rows] = {}
    for labels, history in main.items():
        key = join_key(labels, on)
        parts = [by_key.get(key) for by_key in indexed] if key is not None else [None]
        if any(p is None for p in parts):
            continue
        ts = history.timestamps
        for part in parts:
            assert part is not None
            ts = np.intersect1d(ts, part.timestamps)
        columns = [history.values[np.searchsorted(history.timestamps, ts)]]
        for part in parts:
            assert part is not None
            columns.append(part.values[np.searchsorted(part.timestamps, ts)])
        out[labels] = (ts, np.column_stack(columns))
    return out

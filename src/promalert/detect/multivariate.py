"""Multivariate isolation forest: scores rows of (main value, feature values...) jointly.

Used by ``anomaly`` rules with ``features``: a point can be normal in every column on
its own yet rare in combination (high traffic with low CPU). The forest is fitted on
the most recent ``max_rows`` rows before the fit point and scores later rows until it
is fitted again; the band is the range of the main value in the training rows.

A forest's raw score barely moves past the edge of its training data (0.6 is already
an obvious outlier), so it is put in the common unit of every detector, *surprise*, by
a record test against the training rows' own raw scores (``record_surprise``): beating
the most isolated training row is a 1-in-(n+1) event, and beating it by a margin,
measured in the gap between that row and the typical one, is rarer still.

The state keeps the training rows, so a restored model refits the same forest (fixed
``random_state``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]

from promalert.detect.base import ScoreArrays, check, params_state, parse_params
from promalert.detect.scoring import record_surprises, scores_from_surprise

NAME = "isolation_forest"
_EXCESS_SCALE = 0.1  # margin (in gaps) that makes beating the training rows 10x rarer, x ln 10
_TIE = 1.0  # decades a tie with the most isolated training row counts less than beating it


@dataclass(frozen=True, slots=True)
class ForestParams:
    """Parameters of the multivariate isolation forest (``params`` of a rule with features)."""

    trees: int = 100  # trees per forest
    random_state: int = 0  # seed of every fit, so refits on the same rows agree
    max_rows: int = 2000  # most recent rows a forest is fitted on

    def __post_init__(self) -> None:
        check(self.trees >= 1, f"trees must be >= 1, got {self.trees}")
        check(self.max_rows >= 16, f"max_rows must be >= 16, got {self.max_rows}")

    @classmethod
    def parse(cls, raw: Mapping[str, object]) -> ForestParams:
        """Build from raw values; ValueError names the bad parameter and the valid ones."""
        return parse_params(cls, NAME, raw)


class MultivariateForest:
    """An isolation forest over feature rows whose first column is the alerting value."""

    def __init__(self, params: ForestParams) -> None:
        self.params = params
        self.train: np.ndarray | None = None
        self._forest: IsolationForest | None = None
        self._center = self._lower = self._upper = np.nan
        self._top = self._typical = np.nan  # raw scores of the training rows: max, median

    @property
    def fitted(self) -> bool:
        """True once a forest has been fitted."""
        return self._forest is not None

    def fit(self, rows: np.ndarray) -> None:
        """Fit on the last ``max_rows`` finite rows of ``rows`` (shape: points x columns)."""
        rows = np.asarray(rows, dtype=float)
        rows = rows[np.isfinite(rows).all(axis=1)][-self.params.max_rows :]
        if rows.shape[0] < 2:
            raise ValueError(f"need at least 2 finite rows to fit, got {rows.shape[0]}")
        forest = IsolationForest(
            n_estimators=self.params.trees, random_state=self.params.random_state
        )
        self._forest = forest.fit(rows)
        self.train = rows
        raw = -self._forest.score_samples(rows)
        self._top, self._typical = float(raw.max()), float(np.median(raw))
        main = rows[:, 0]
        self._center = float(np.median(main))
        self._lower, self._upper = float(main.min()), float(main.max())

    def score(self, rows: np.ndarray) -> ScoreArrays:
        """Score rows with the current forest (0 before the first fit)."""
        rows = np.asarray(rows, dtype=float).reshape(-1, self._columns(rows))
        n = rows.shape[0]
        main = rows[:, 0]
        if self._forest is None or n == 0:
            return ScoreArrays(np.zeros(n), main.copy(), main.copy(), main.copy())
        finite = np.isfinite(rows).all(axis=1)
        score = np.zeros(n)
        if finite.any():
            raw = -self._forest.score_samples(rows[finite])  # 0.5 normal, near 1 anomalous
            m = raw.size
            assert self.train is not None
            seen = np.full(m, float(self.train.shape[0]))
            surprise = record_surprises(
                raw, np.full(m, self._top), np.full(m, self._typical), seen, _EXCESS_SCALE, _TIE
            )
            score[finite] = scores_from_surprise(surprise)
        return ScoreArrays(
            score,
            np.full(n, self._center),
            np.minimum(np.full(n, self._lower), main),
            np.maximum(np.full(n, self._upper), main),
        )

    def _columns(self, rows: np.ndarray) -> int:
        if self.train is not None:
            return int(self.train.shape[1])
        return int(np.asarray(rows).shape[-1]) if np.asarray(rows).ndim > 1 else 1

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state: parameters and training rows."""
        return {
            "detector": NAME,
            "multivariate": True,
            "params": params_state(self.params),
            "train": None if self.train is None else self.train.tolist(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output, refitting the same forest."""
        if not state.get("multivariate"):
            raise ValueError("state is not a multivariate forest's")
        model = cls(ForestParams(**state["params"]))
        if state.get("train") is not None:
            model.fit(np.array(state["train"], dtype=float))
        return model

"""The Detector contract, checked on every detector: causal, streaming == batch, state, range."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from promalert.detect import Detector, restore

Series = tuple[np.ndarray, np.ndarray]
TOL = {"rtol": 1e-9, "atol": 1e-12}


def stream(det: Detector, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Scores, expected values and bands of the streaming path, as a (4, n) array."""
    rows = [det.update(float(t), float(v)) for t, v in zip(ts, values, strict=True)]
    return np.array([[r.score, r.expected, r.lower, r.upper] for r in rows]).T


def batch(det: Detector, ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The same four rows from the batch path."""
    out = det.score_batch(ts, values)
    return np.vstack([out.score, out.expected, out.lower, out.upper])


def test_streaming_equals_batch(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    np.testing.assert_allclose(stream(factory(), ts, values), batch(factory(), ts, values), **TOL)


def test_batch_in_chunks_equals_one_batch(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    whole = batch(factory(), ts, values)
    det = factory()
    cuts = [0, 1, 17, 300, 301, 777, ts.size]
    parts = [batch(det, ts[a:b], values[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    np.testing.assert_allclose(np.hstack(parts), whole, **TOL)


def test_causal_prefix_scores_match(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    whole = batch(factory(), ts, values)
    for cut in (150, 640, 1001):
        prefix = batch(factory(), ts[:cut], values[:cut])
        np.testing.assert_allclose(prefix, whole[:, :cut], **TOL)


def test_future_values_do_not_change_past_scores(
    factory: Callable[[], Detector], series: Series
) -> None:
    ts, values = series
    changed = values.copy()
    changed[900:] = -changed[900:] * 3
    np.testing.assert_array_equal(
        batch(factory(), ts, values)[:, :900], batch(factory(), ts, changed)[:, :900]
    )


def test_scores_within_unit_interval(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    rng = np.random.default_rng(3)
    wild = values + rng.standard_cauchy(values.size) * 5  # heavy tails, huge outliers
    for vs in (values, wild, np.full(values.size, 42.0)):
        score = factory().score_batch(ts, vs).score
        assert np.all(np.isfinite(score))
        assert score.min() >= 0.0
        assert score.max() <= 1.0


def test_state_round_trip_continues_identically(
    factory: Callable[[], Detector], series: Series
) -> None:
    ts, values = series
    whole = batch(factory(), ts, values)
    for cut in (5, 400, 1050):
        det = factory()
        first = batch(det, ts[:cut], values[:cut])
        state = json.loads(json.dumps(det.state_dict(), allow_nan=False))
        revived = restore(state)
        assert type(revived) is type(det)
        rest = stream(revived, ts[cut:], values[cut:])
        np.testing.assert_allclose(np.hstack([first, rest]), whole, **TOL)


def test_warmup_scores_zero(factory: Callable[[], Detector]) -> None:
    det = factory()
    ts = 1_700_000_000.0 + 300.0 * np.arange(40)
    values = np.zeros(40)
    values[::2] = 1000.0  # wildly alternating: anything scored would be high
    values[5] = -1e6
    score = det.score_batch(ts, values).score
    assert np.all(score[:25] == 0.0)


def test_empty_batches_change_nothing(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    whole = batch(factory(), ts, values)
    det = factory()
    assert len(det.score_batch(ts[:0], values[:0])) == 0
    first = batch(det, ts[:500], values[:500])
    assert len(det.score_batch(ts[:0], values[:0])) == 0
    np.testing.assert_allclose(np.hstack([first, batch(det, ts[500:], values[500:])]), whole, **TOL)

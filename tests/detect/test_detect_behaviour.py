"""What detectors are for: spikes score high, warm-up holds, parameters are checked."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from promalert.detect import DETECTORS, Detector, make_detector
from promalert.detect.scoring import Suppressor, normal_surprise, normal_surprises

Series = tuple[np.ndarray, np.ndarray]


def test_spike_scores_high(factory: Callable[[], Detector], series: Series) -> None:
    ts, values = series
    spiked = values.copy()
    spiked[900] += 60.0  # ~60 noise standard deviations, mid-range of the daily swing
    score = factory().score_batch(ts, spiked).score
    others = score[600:900]  # after warm-up, before the spike (day 4 has a step change)
    assert score[900] >= 0.25
    assert score[900] > others.max()


@pytest.mark.parametrize("detector", ["ewma", "zscore", "mad", "ensemble", "isolation_forest"])
def test_warmup_param_holds_scores_at_zero(detector: str) -> None:
    warmup = 120
    det = make_detector(detector, {"warmup": warmup})
    rng = np.random.default_rng(1)
    ts = 1_700_000_000.0 + 60.0 * np.arange(200)
    values = rng.normal(10, 1, 200)
    values[[40, 80, warmup - 1]] = 500.0  # spikes inside the warm-up are not scored
    values[160] = 5000.0
    score = det.score_batch(ts, values).score
    assert np.all(score[:warmup] == 0.0)
    assert score[160] > 0.0


def test_unknown_parameter_names_it_and_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter 'alpah'.*valid: alpha, band, warmup"):
        make_detector("ewma", {"alpah": "0.1"})


@pytest.mark.parametrize(
    ("detector", "params", "named"),
    [
        ("ewma", {"alpha": "fast"}, "alpha"),
        ("ewma", {"alpha": "1.5"}, "alpha"),
        ("zscore", {"window": "2.5"}, "window"),
        ("mad", {"window": "1"}, "window"),
        ("seasonal", {"period": "-5"}, "period"),
        ("isolation_forest", {"warmup": "3"}, "warmup"),
        ("ensemble", {"alert_level": "0"}, "alert_level"),
    ],
)
def test_invalid_parameter_value_names_it(
    detector: str, params: dict[str, object], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        make_detector(detector, params)


def test_strings_from_the_command_line_are_converted() -> None:
    det = make_detector("zscore", {"window": "30", "band": "2.5"})
    assert det.state_dict()["params"] == {"window": 30, "band": 2.5, "warmup": 30}


def test_unknown_detector_lists_the_registry() -> None:
    with pytest.raises(ValueError, match="unknown detector 'nope'.*ensemble"):
        make_detector("nope")
    assert sorted(DETECTORS) == [
        "ensemble",
        "ewma",
        "isolation_forest",
        "mad",
        "seasonal",
        "zscore",
    ]


def test_normal_surprise_matches_known_tails() -> None:
    # two-sided tails: P(|Z| > 1.96) = 0.05, P(|Z| > 3) = 0.0027, P(|Z| > 6) = 1.97e-9
    for z, p in ((1.96, 0.05), (3.0, 0.0026998), (6.0, 1.973e-9)):
        assert normal_surprise(z) == pytest.approx(-np.log10(p), rel=1e-4)
    zs = np.array([0.0, 1.96, -3.0, 40.0])
    np.testing.assert_allclose(normal_surprises(zs), [normal_surprise(z) for z in zs], rtol=1e-12)


def test_suppressor_holds_repeats_after_a_detection() -> None:
    scores = np.array([0.1, 0.5, 0.6, 0.2, 0.7, 0.3, 0.9, 0.4])
    held = Suppressor(0.5, hold=3).run(scores)
    np.testing.assert_allclose(held, [0.1, 0.5, 0.4995, 0.2, 0.4995, 0.3, 0.9, 0.4])
    one_by_one = Suppressor(0.5, hold=3)
    np.testing.assert_allclose([one_by_one.step(s) for s in scores], held)


def test_seasonal_detects_daily_period_when_auto(series: Series) -> None:
    ts, values = series
    det = make_detector("seasonal", {"period": "0"})
    det.score_batch(ts, values)
    assert det.state_dict()["period"] == 86400.0
    flat = make_detector("seasonal", {"period": "0"})
    rng = np.random.default_rng(0)
    flat.score_batch(ts, rng.normal(0, 1, ts.size))
    assert flat.state_dict()["period"] == 300.0  # no seasonality: one slot per step

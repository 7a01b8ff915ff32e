"""The NAB scorer of bench/nab on small hand-computed corpora."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest


def _load_scorer() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "nab" / "scorer.py"
    spec = importlib.util.spec_from_file_location("nab_scorer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nab_scorer"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


nab = _load_scorer()

# By hand: sigmoid(x) = 2/(1+exp(5x)) - 1.
TP_AT_3_OF_4 = 0.9669890878  # row 11 of window [10, 13]: sigmoid(-3/4) / sigmoid(-1)
FP_TWO_THIRDS = -0.9311096087  # two rows past a width-4 window: sigmoid(2/3)


def test_probation_is_15_percent_capped_at_750() -> None:
    assert nab.probation_rows(20) == 3
    assert nab.probation_rows(4033) == 604
    assert nab.probation_rows(22695) == 750


def test_row_weights_by_hand() -> None:
    window, value = nab.row_weights(20, [(10, 13)])
    assert list(window[10:14]) == [0, 0, 0, 0]
    assert value[10] == pytest.approx(1.0)  # left edge gives tpWeight exactly
    assert value[11] == pytest.approx(TP_AT_3_OF_4)
    assert value[5] == -1.0  # before any window: a full false positive
    assert value[15] == pytest.approx(FP_TWO_THIRDS)
    assert value[19] == pytest.approx(-0.99999, abs=1e-4)  # y = 2: almost a full FP


def test_threshold_sweep_and_normalisation_by_hand() -> None:
    scores = np.zeros(20)
    scores[1] = 1.0  # inside the probationary period: ignored
    scores[5] = 0.8  # false positive before any window
    scores[11] = 0.9  # true positive
    scores[15] = 0.7  # false positive just after the window
    standard, low_fp, low_fn = nab.score_corpus([(scores, [(10, 13)])])
    # Best threshold 0.9 catches the window alone: raw = TP value, null = -1, perfect = 1.
    assert standard.threshold == 0.9
    assert standard.raw == pytest.approx(TP_AT_3_OF_4)
    assert standard.normalised == pytest.approx(100 * (TP_AT_3_OF_4 + 1) / 2)
    assert (standard.tp, standard.fp, standard.fn) == (1, 0, 0)
    assert low_fp.normalised == pytest.approx(standard.normalised)
    assert low_fn.normalised == pytest.approx(100 * (TP_AT_3_OF_4 + 2) / 3)


def test_paying_for_false_positives_when_a_window_is_worth_it() -> None:
    # File A has a false positive scored above file B's only detection.
    a = np.zeros(40)
    a[20] = 0.9
    b = np.zeros(40)
    b[30] = 0.5  # left edge of B's window [30, 33]
    standard, low_fp, _ = nab.score_corpus([(a, []), (b, [(30, 33)])])
    assert standard.threshold == 0.5
    assert standard.raw == pytest.approx(1.0 - 0.11)
    assert low_fp.raw == pytest.approx(1.0 - 0.22)
    # Missing everything scores exactly 0; a perfect detector 100.
    assert nab.score_corpus([(np.zeros(40), [(30, 33)])])[0].normalised == 0.0
    perfect = np.zeros(40)
    perfect[30] = 1.0
    assert nab.score_corpus([(perfect, [(30, 33)])])[0].normalised == pytest.approx(100.0)


def test_only_the_best_detection_in_a_window_counts() -> None:
    scores = np.zeros(40)
    scores[[30, 31, 32]] = 0.6
    result = nab.score_corpus([(scores, [(30, 33)])])[0]
    assert result.raw == pytest.approx(1.0)
    assert (result.tp, result.fp) == (1, 0)


def test_window_indices_from_timestamps() -> None:
    stamps = np.arange(10, dtype=float) * 60
    assert nab.window_indices(stamps, [(90.0, 300.0)]) == [(2, 5)]

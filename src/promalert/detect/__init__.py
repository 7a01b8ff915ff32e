"""Anomaly detectors: causal, streaming, with a vectorised batch path (numpy; sklearn for IF).

Public surface::

    DETECTORS["ensemble"](**params) -> Detector      # the default
    make_detector(name, params) -> Detector          # ValueError names what is wrong
    restore(state) -> Detector                       # from Detector.state_dict()
    Detector.update(ts, value) -> Score               # streaming, one point
    Detector.score_batch(ts, values) -> ScoreArrays   # same scores, many points
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from promalert.detect.base import Detector, Score, ScoreArrays
from promalert.detect.ensemble import EnsembleDetector
from promalert.detect.ewma import EwmaDetector
from promalert.detect.iforest import IforestDetector
from promalert.detect.mad import MadDetector
from promalert.detect.seasonal import SeasonalDetector
from promalert.detect.zscore import ZscoreDetector

DEFAULT_DETECTOR = "ensemble"

_CLASSES: dict[str, type[Detector]] = {
    "ewma": EwmaDetector,
    "zscore": ZscoreDetector,
    "mad": MadDetector,
    "seasonal": SeasonalDetector,
    "isolation_forest": IforestDetector,
    "ensemble": EnsembleDetector,
}

DETECTORS: dict[str, Callable[..., Detector]] = dict(_CLASSES)


def make_detector(name: str, params: Mapping[str, object] | None = None) -> Detector:
    """Build a registered detector; unknown names or parameters raise ValueError."""
    factory = DETECTORS.get(name)
    if factory is None:
        valid = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector {name!r} (valid: {valid})")
    return factory(**dict(params or {}))


def restore(state: Mapping[str, Any]) -> Detector:
    """Rebuild a detector from its ``state_dict()``, whichever kind it is."""
    cls = _CLASSES.get(str(state.get("detector")))
    if cls is None:
        raise ValueError(f"state names unknown detector {state.get('detector')!r}")
    detector: Detector = cls.from_state(state)
    return detector


__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Detector",
    "Score",
    "ScoreArrays",
    "make_detector",
    "restore",
]

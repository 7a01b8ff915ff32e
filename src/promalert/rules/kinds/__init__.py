"""Rule kinds: one evaluator class per ``kind``, found by name in :data:`EVALUATORS`.

To add a kind (``trend``, ``anomaly``, ``frequency``): write its model in
:mod:`promalert.rules.spec` (registered in ``RULE_SPECS``) and a
:class:`~promalert.rules.kinds.base.KindEvaluator` subclass in a module here, then add
it below under the same key.
"""

from __future__ import annotations

from promalert.rules.kinds.anomaly import AnomalyEvaluator
from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler
from promalert.rules.kinds.composite import CompositeEvaluator
from promalert.rules.kinds.expr import ExprEvaluator
from promalert.rules.kinds.frequency import FrequencyEvaluator
from promalert.rules.kinds.threshold import ThresholdEvaluator
from promalert.rules.kinds.trend import TrendEvaluator

EVALUATORS: dict[str, type[KindEvaluator]] = {
    "expr": ExprEvaluator,
    "threshold": ThresholdEvaluator,
    "composite": CompositeEvaluator,
    "anomaly": AnomalyEvaluator,
    "trend": TrendEvaluator,
    "frequency": FrequencyEvaluator,
}
"""Evaluator classes by rule ``kind`` (keys as in ``RULE_SPECS``, plus ``expr``)."""

__all__ = [
    "EVALUATORS",
    "AnomalyEvaluator",
    "CompositeEvaluator",
    "EvalInput",
    "ExprEvaluator",
    "FrequencyEvaluator",
    "KindEvaluator",
    "Labeler",
    "ThresholdEvaluator",
    "TrendEvaluator",
]

"""Rule kinds: one evaluator class per ``kind``, found by name in :data:`EVALUATORS`.

To add a kind (``trend``, ``anomaly``, ``frequency``): write its model in
:mod:`promalert.rules.spec` (registered in ``RULE_SPECS``) and a
:class:`~promalert.rules.kinds.base.KindEvaluator` subclass in a module here, then add
it below under the same key.
"""

from __future__ import annotations

from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler
from promalert.rules.kinds.composite import CompositeEvaluator
from promalert.rules.kinds.expr import ExprEvaluator
from promalert.rules.kinds.threshold import ThresholdEvaluator

EVALUATORS: dict[str, type[KindEvaluator]] = {
    "expr": ExprEvaluator,
    "threshold": ThresholdEvaluator,
    "composite": CompositeEvaluator,
}
"""Evaluator classes by rule ``kind`` (keys as in ``RULE_SPECS``, plus ``expr``)."""

__all__ = [
    "EVALUATORS",
    "CompositeEvaluator",
    "EvalInput",
    "ExprEvaluator",
    "KindEvaluator",
    "Labeler",
    "ThresholdEvaluator",
]

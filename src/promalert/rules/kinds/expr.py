"""``expr`` rules: Prometheus alerting rules, one alert per series the expression returns."""

from __future__ import annotations

from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler, add_unique
from promalert.rules.spec import AlertingRule, ExprRule
from promalert.rules.state import Candidate, Key


class ExprEvaluator(KindEvaluator):
    """Every sample of ``expr`` is an active alert, NaN included (Prometheus semantics)."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, ExprRule):
            raise TypeError(f"ExprEvaluator needs an ExprRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._rule = rule

    @property
    def expr(self) -> str:
        """The rule's expression."""
        return self._rule.expr

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Query ``expr``; each result sample becomes a candidate."""
        result = await inp.query(self._rule.expr)
        out: dict[Key, Candidate] = {}
        candidate = self.labeler.candidate
        for sample in result.samples:
            add_unique(out, candidate(sample.labels, sample.value))
        return out

"""``threshold`` rules: a series is active while its value meets ``condition``.

With ``clear``, a series whose alert is pending or firing stays active until ``clear``
holds (hysteresis), so a value hovering at the threshold does not flap. A NaN value is
never active: it meets no condition, and holding an alert on a value that says nothing
would keep it firing forever.
"""

from __future__ import annotations

import math

from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler, add_unique
from promalert.rules.spec import AlertingRule, ThresholdRule
from promalert.rules.state import AlertState, Candidate, Key


class ThresholdEvaluator(KindEvaluator):
    """Series of ``query`` meeting ``condition`` (or, once active, not yet ``clear``)."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, ThresholdRule):
            raise TypeError(f"ThresholdEvaluator needs a ThresholdRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._rule = rule

    @property
    def expr(self) -> str:
        """The rule's query."""
        return self._rule.query

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Query and keep the series that are active under the condition and hysteresis."""
        result = await inp.query(self._rule.query)
        holds = self._rule.condition.holds
        clear = self._rule.clear
        # Hysteresis only matters for series that already have an alert.
        hold_open = clear is not None and bool(inp.alerts)
        out: dict[Key, Candidate] = {}
        for sample in result.samples:
            value = sample.value
            if holds(value):
                add_unique(out, self.labeler.candidate(sample.labels, value))
            elif hold_open and clear is not None and not math.isnan(value):
                candidate = self.labeler.candidate(sample.labels, value)
                entry = inp.alerts.get(candidate.key)
                if (
                    entry is not None
                    and entry.state is not AlertState.INACTIVE
                    and not clear.holds(value)
                ):
                    add_unique(out, candidate)
        return out

"""``frequency`` rules: a condition that held at ``count`` evaluations within ``within``.

Occurrences are this rule's evaluations at which a series met ``condition`` (one
instant query per evaluation, like a threshold rule), so "5 times within 10m" with a
1m group interval means 5 of the last 10 evaluations. The evaluation times are kept
per series and saved with the rule's state, so a restart keeps the count. A series is
active while at least ``count`` occurrences lie in (now - ``within``, now], even if it
is absent now; ``$value`` is the number of occurrences. Series whose occurrences have
all aged out are forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promalert.model import Labels
from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler, add_unique
from promalert.rules.spec import AlertingRule, FrequencyRule
from promalert.rules.state import Candidate, Key

STATE_VERSION = 1


def in_window(times: list[float], now: float, within: float) -> list[float]:
    """The occurrence times inside (now - within, now]."""
    return [t for t in times if now - within < t <= now]


class FrequencyEvaluator(KindEvaluator):
    """Counts, per series, the evaluations at which the condition held."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, FrequencyRule):
            raise TypeError(f"FrequencyEvaluator needs a FrequencyRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._rule = rule
        # Per series: its labels and the times the condition held, oldest first.
        self.seen: dict[Labels, list[float]] = {}

    @property
    def expr(self) -> str:
        """The rule's query."""
        return self._rule.query

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Record the series meeting the condition now; return those with enough occurrences."""
        rule = self._rule
        result = await inp.query(rule.query)
        now = inp.at.timestamp()
        seen = {labels: list(times) for labels, times in self.seen.items()}  # failures keep state
        for sample in result.samples:
            if rule.condition.holds(sample.value):
                times = seen.setdefault(sample.labels, [])
                if not times or times[-1] < now:
                    times.append(now)
        out: dict[Key, Candidate] = {}
        kept: dict[Labels, list[float]] = {}
        for labels, times in seen.items():
            recent = in_window(times, now, rule.within)
            if not recent:
                continue
            kept[labels] = recent
            if len(recent) >= rule.count:
                add_unique(out, self.labeler.candidate(labels, float(len(recent))))
        self.seen = kept
        return out

    def dump_extra(self) -> dict[str, Any] | None:
        """The occurrence times per series."""
        if not self.seen:
            return None
        return {
            "version": STATE_VERSION,
            "series": [
                {"labels": labels.as_dict(), "times": list(times)}
                for labels, times in self.seen.items()
            ],
        }

    def load_extra(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`dump_extra` output (other versions are ignored)."""
        if data.get("version") != STATE_VERSION:
            return
        self.seen = {
            Labels({str(k): str(v) for k, v in item["labels"].items()}): [
                float(t) for t in item["times"]
            ]
            for item in data["series"]
        }

"""What every rule kind shares: the evaluator interface and alert identity/templating."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promalert.datasource.prometheus import QueryResult, RangeResult
from promalert.errors import RuleEvaluationError, TemplateError
from promalert.metrics import Metrics
from promalert.model import Labels
from promalert.rules.spec import AlertingRule
from promalert.rules.state import AlertEntry, Candidate, Key
from promalert.rules.template import render_template

DUPLICATE_LABELSET = "vector contains metrics with the same labelset after applying alert labels"


@dataclass(frozen=True, slots=True)
class EvalInput:
    """Everything an evaluator may use during one evaluation."""

    at: datetime
    # Runs an instant query at ``at``.
    query: Callable[[str], Awaitable[QueryResult]]
    # This rule's current alerts, read-only (threshold hysteresis needs them).
    alerts: Mapping[Key, AlertEntry]
    # Label sets of the alerts currently firing for an alert name, across all groups.
    firing: Callable[[str], Iterable[Labels]]
    # Runs a range query (expr, start, end, step seconds); None where there is none.
    query_range: Callable[[str, datetime, datetime, float], Awaitable[RangeResult]] | None = None
    # promalert's metrics, for kinds that export per-series values (anomaly).
    metrics: Metrics | None = None


class Labeler:
    """Builds alert identities and renders annotations exactly as Prometheus does.

    Identity = the source labels without ``__name__``, then the group and rule labels
    (templated; an empty result removes the label, as Prometheus's label builder does),
    then ``alertname``. Templates see the source labels (``__name__`` included) as
    ``$labels`` and the value as ``$value``.
    """

    def __init__(
        self,
        *,
        name: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        external_url: str,
        external_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._template_name = f"__alert_{name}"
        self._external_url = external_url
        self._external_labels = external_labels
        self._static_set = {k: v for k, v in labels.items() if "{{" not in v and v}
        self._static_del = [k for k, v in labels.items() if not v]
        self._templated = [(k, v) for k, v in labels.items() if "{{" in v]
        self._annotations = list(annotations.items())
        self._static_annotations = (
            Labels(dict(annotations)) if all("{{" not in v for v in annotations.values()) else None
        )

    def expand(self, text: str, source: Mapping[str, str], value: float) -> str:
        """Render one label or annotation template; errors become Prometheus's error text."""
        if "{{" not in text:
            return text
        try:
            return render_template(
                text,
                labels=source,
                value=value,
                external_url=self._external_url,
                external_labels=self._external_labels,
                name=self._template_name,
            )
        except TemplateError as exc:
            return f"<error expanding template: {exc}>"

    def candidate(
        self, source: Labels, value: float, base: Mapping[str, str] | None = None
    ) -> Candidate:
        """The candidate for one series: identity from ``base`` (default: ``source``)."""
        labels = source.as_dict() if base is None else dict(base)
        labels.pop("__name__", None)
        for label, text in self._templated:
            expanded = self.expand(text, source, value)
            if expanded:
                labels[label] = expanded
            else:
                labels.pop(label, None)
        for label in self._static_del:
            labels.pop(label, None)
        labels.update(self._static_set)
        labels["alertname"] = self.name
        return Candidate(tuple(sorted(labels.items())), source, value)

    def annotations(self, candidate: Candidate) -> Labels:
        """Render the rule's annotations for a candidate."""
        if self._static_annotations is not None:
            return self._static_annotations
        return Labels(
            {k: self.expand(v, candidate.source, candidate.value) for k, v in self._annotations}
        )


class KindEvaluator(ABC):
    """Evaluates one rule of one kind: runs its queries, says which alerts are active now.

    A new kind subclasses this, registers in :data:`promalert.rules.kinds.EVALUATORS`,
    and gets ``for``, ``keep_firing_for``, ``cooldown``, labels, annotations, limits,
    persistence and delivery from the engine. A kind that remembers more than its alerts
    (a ``frequency`` counter, an ``anomaly`` model) overrides ``dump_extra`` and
    ``load_extra`` so that memory is stored with the rule's state.
    """

    # Alert names of other rules this evaluator reads; such rules run after the others.
    references: frozenset[str] = frozenset()

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        self.rule = rule
        self.labeler = labeler

    @property
    @abstractmethod
    def expr(self) -> str:
        """The PromQL expression linked from the alerts' generatorURL."""

    @abstractmethod
    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Return the candidates active at ``inp.at``, keyed by identity.

        Raises ``DatasourceUnavailable``/``QueryError`` from queries and
        ``RuleEvaluationError`` when the result cannot become alerts.
        """

    def dump_extra(self) -> dict[str, Any] | None:
        """Kind-specific memory to persist with the rule's alerts (None: nothing)."""
        return None

    def load_extra(self, data: Mapping[str, Any]) -> None:
        """Restore what :meth:`dump_extra` returned."""
        return None


def add_unique(out: dict[Key, Candidate], candidate: Candidate) -> None:
    """Add ``candidate``; two series with one identity fail the evaluation, as in Prometheus."""
    if candidate.key in out:
        raise RuleEvaluationError(DUPLICATE_LABELSET)
    out[candidate.key] = candidate

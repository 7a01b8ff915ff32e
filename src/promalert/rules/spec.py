"""Rule-file models: Prometheus's format plus promalert's ``kind`` rules.

Every rule kind is a pydantic model with a literal ``kind``. A new kind (``trend``,
``anomaly``, ``frequency``) adds its model here and its evaluator in
:mod:`promalert.rules.kinds`, then registers both in ``RULE_SPECS`` and
``promalert.rules.kinds.EVALUATORS``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from promalert.config.types import ConditionField, Duration, LabelMap
from promalert.rules.logic import parse_logic


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _AlertBase(_Strict):
    """Fields every alerting rule has, whatever its kind."""

    alert: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    labels: LabelMap = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    # No new firing of the same alert until it has been resolved this long.
    cooldown: Duration = 0.0

    @property
    def name(self) -> str:
        """The rule's alert name."""
        return self.alert


class ExprRule(_AlertBase):
    """A Prometheus alerting rule: fires for every series ``expr`` returns."""

    kind: Literal["expr"] = "expr"
    expr: str = Field(min_length=1)


class RecordingRule(_Strict):
    """A Prometheus recording rule: accepted and ignored (keep it in Prometheus)."""

    kind: Literal["record"] = "record"
    record: str
    expr: str
    labels: LabelMap = Field(default_factory=dict)


class ThresholdRule(_AlertBase):
    """Fires for each series of ``query`` whose value meets ``condition``.

    With ``clear``, a firing series stays firing until ``clear`` holds (hysteresis).
    """

    kind: Literal["threshold"]
    query: str = Field(min_length=1)
    condition: ConditionField
    clear: ConditionField | None = None


class CompositeCondition(_Strict):
    """One named part of a composite rule: a query and condition, or another alert."""

    query: str | None = None
    condition: ConditionField | None = None
    alert: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> CompositeCondition:
        if self.alert is not None:
            if self.query is not None or self.condition is not None:
                raise ValueError("give either 'alert' or 'query' with 'condition', not both")
        elif self.query is None or self.condition is None:
            raise ValueError("needs 'query' and 'condition', or 'alert'")
        return self


class CompositeRule(_AlertBase):
    """Fires where ``logic`` over named conditions holds, joined on the ``on`` labels."""

    kind: Literal["composite"]
    conditions: dict[str, CompositeCondition] = Field(min_length=1)
    logic: str = "all"
    on: list[str] = Field(default_factory=list)

    @field_validator("logic")
    @classmethod
    def _logic_parses(cls, value: str, info: ValidationInfo) -> str:
        # Checked here so `promalert check` reports a bad expression at load time.
        parse_logic(value, list(info.data.get("conditions") or {}))
        return value


FEATURE_PARAMS = ("max_rows", "random_state", "trees")
"""The ``params`` of a multivariate (``features``) isolation forest."""


def _check_detector(detector: str, params: dict[str, Any], features: dict[str, str]) -> None:
    """Build the detector once so `promalert check` reports a bad name or parameter.

    Messages start with the offending field (``params.window: ...``) so the loader
    points at that line. Imported lazily: only files with anomaly rules pay for sklearn.
    """
    from promalert.detect import DETECTORS, make_detector

    if detector not in DETECTORS:
        valid = ", ".join(sorted(DETECTORS))
        raise ValueError(f"detector: unknown detector {detector!r} (valid: {valid})")
    for key, value in params.items():
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise ValueError(f"params.{key}: expected a number or a string, got {value!r}")
    if features:
        if detector != "isolation_forest":
            raise ValueError(
                f"features: a multivariate rule needs detector: isolation_forest, not {detector!r}"
            )
        from promalert.detect.multivariate import ForestParams

        build: Callable[[dict[str, Any]], object] = ForestParams.parse
    else:
        build = partial(make_detector, detector)
    try:
        build(params)
    except ValueError as exc:
        # Name the first parameter that fails on its own; else it is their combination.
        for key, value in params.items():
            try:
                build({key: value})
            except ValueError as alone:
                raise ValueError(f"params.{key}: {alone}") from None
        raise ValueError(f"params: {exc}") from None


class AnomalyRule(_AlertBase):
    """Fires for each series of ``query`` whose anomaly score passes ``threshold``.

    Each series gets its own detector, warmed up from ``history`` (range queries at
    ``step``) when first seen and rebuilt every ``refit``; ``direction`` says which
    side of the expected value counts. ``features`` (name: query, joined with the main
    series on ``on`` labels, default all but ``__name__``) make it a multivariate
    isolation forest over the main value and the features.
    """

    kind: Literal["anomaly"]
    query: str = Field(min_length=1)
    detector: str = "ensemble"
    params: dict[str, Any] = Field(default_factory=dict)
    history: Duration = 86400.0
    step: Duration = 60.0
    refit: Duration = 86400.0  # 0: never rebuild from history after the first sight
    threshold: float = Field(default=0.25, gt=0.0, le=1.0)
    direction: Literal["up", "down", "both"] = "both"
    features: dict[str, str] = Field(default_factory=dict)
    on: list[str] = Field(default_factory=list)
    # Points a series must have been fed before it may fire (new series warm up).
    min_samples: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _valid_model(self) -> AnomalyRule:
        if self.step <= 0:
            raise ValueError("step: must be greater than 0")
        if self.history < self.step:
            raise ValueError(f"history: must be at least one step ({self.step:g}s)")
        if self.refit and self.refit < self.step:
            raise ValueError(f"refit: must be 0 (never) or at least one step ({self.step:g}s)")
        for name, query in self.features.items():
            if not query.strip():
                raise ValueError(f"features.{name}: must not be empty")
        if self.on and not self.features:
            raise ValueError("on: only used with features")
        _check_detector(self.detector, self.params, self.features)
        return self


class TrendRule(_AlertBase):
    """Fires for each series whose robust linear trend over ``window`` meets ``condition``
    within ``within`` from now; ``$value`` is the seconds until it does."""

    kind: Literal["trend"]
    query: str = Field(min_length=1)
    window: Duration
    step: Duration = 60.0
    condition: ConditionField
    within: Duration
    # Finite points in the window needed before a series is fitted.
    min_samples: int = Field(default=5, ge=3)

    @model_validator(mode="after")
    def _valid_spans(self) -> TrendRule:
        if self.step <= 0:
            raise ValueError("step: must be greater than 0")
        if self.window < 2 * self.step:
            raise ValueError(f"window: must cover at least two steps ({2 * self.step:g}s)")
        if self.within <= 0:
            raise ValueError("within: must be greater than 0")
        return self


class FrequencyRule(_AlertBase):
    """Fires for each series of ``query`` whose ``condition`` held at ``count`` or more of
    this rule's evaluations within the last ``within``; ``$value`` is that number."""

    kind: Literal["frequency"]
    query: str = Field(min_length=1)
    condition: ConditionField
    count: int = Field(ge=1)
    within: Duration

    @field_validator("within")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value


AlertingRule = ExprRule | ThresholdRule | CompositeRule | AnomalyRule | TrendRule | FrequencyRule
"""Every rule that produces alerts."""

RULE_SPECS: dict[str, type[_AlertBase]] = {
    "threshold": ThresholdRule,
    "composite": CompositeRule,
    "anomaly": AnomalyRule,
    "trend": TrendRule,
    "frequency": FrequencyRule,
}
"""Rule models by ``kind``; rules without ``kind`` are ``expr`` or ``record`` rules."""


class RuleGroup(_Strict):
    """A group of rules evaluated together on one interval."""

    name: str = Field(min_length=1)
    interval: Duration | None = None
    labels: LabelMap = Field(default_factory=dict)
    limit: int = Field(default=0, ge=0)
    rules: list[AlertingRule | RecordingRule] = Field(default_factory=list)
    # Where the group came from, for messages and the rules API.
    source: str = ""

    @property
    def alerting_rules(self) -> list[AlertingRule]:
        """The rules that produce alerts, in file order."""
        return [r for r in self.rules if not isinstance(r, RecordingRule)]

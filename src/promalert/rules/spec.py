"""Rule-file models: Prometheus's format plus promalert's ``kind`` rules.

Every rule kind is a pydantic model with a literal ``kind``. A new kind (``trend``,
``anomaly``, ``frequency``) adds its model here and its evaluator in
:mod:`promalert.rules.kinds`, then registers both in ``RULE_SPECS`` and
``promalert.rules.kinds.EVALUATORS``.
"""

from __future__ import annotations

from typing import Literal

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


AlertingRule = ExprRule | ThresholdRule | CompositeRule
"""Every rule that produces alerts."""

RULE_SPECS: dict[str, type[_AlertBase]] = {
    "threshold": ThresholdRule,
    "composite": CompositeRule,
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

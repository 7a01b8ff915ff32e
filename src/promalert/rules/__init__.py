"""Rule evaluation: the engine, the per-rule alert state machine and the rule kinds."""

from __future__ import annotations

from promalert.rules.logic import Logic, parse_logic

__all__ = ["Logic", "parse_logic"]

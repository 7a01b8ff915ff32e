"""Priorities: severity mapping and channel selection."""

from __future__ import annotations

from promalert.config.priorities import PrioritiesConfig
from promalert.dispatch.priority import ChannelSelector, most_urgent, priority_of


def test_default_mapping_is_the_specs() -> None:
    cases = {"critical": "P1", "high": "P2", "warning": "P3", "medium": "P3", "low": "P4"}
    for severity, expected in cases.items():
        assert priority_of({"severity": severity}) == expected
    assert priority_of({"severity": "Critical"}) == "P1"
    assert priority_of({"severity": "info"}) == "P5"
    assert priority_of({}) == "P5"


def test_configured_mapping_and_label() -> None:
    cfg = PrioritiesConfig.model_validate(
        {"label": "level", "severities": {"sev1": "P1", "Page": "P2"}, "default": "P4"}
    )
    assert priority_of({"level": "sev1"}, cfg) == "P1"
    assert priority_of({"level": "page"}, cfg) == "P2"
    assert priority_of({"severity": "critical"}, cfg) == "P4"


def test_most_urgent() -> None:
    assert most_urgent(["P4", "P2", "P3"]) == "P2"
    assert most_urgent([]) == "P5"


def test_selection_is_off_without_a_priorities_section() -> None:
    assert ChannelSelector(None).selects("r", "pagerduty", "P5")


def test_default_channel_map() -> None:
    s = ChannelSelector(PrioritiesConfig())
    table = {
        p: sorted(
            c for c in ("slack", "webhook", "email", "pagerduty", "sms") if s.selects("r", c, p)
        )
        for p in ("P1", "P2", "P3", "P4", "P5")
    }
    assert table == {
        "P1": ["email", "pagerduty", "slack", "sms", "webhook"],
        "P2": ["email", "pagerduty", "slack", "webhook"],
        "P3": ["email", "slack", "webhook"],
        "P4": ["slack", "webhook"],
        "P5": ["slack", "webhook"],
    }


def test_receiver_override_names_channels_and_kinds() -> None:
    cfg = PrioritiesConfig.model_validate(
        {"select_channels": True, "receivers": {"ops": {"P3": ["sms", "chat"]}}}
    )
    s = ChannelSelector(cfg)
    assert s.selects("ops", "sms", "P3") and s.selects("ops", "teams", "P3")
    assert not s.selects("ops", "email", "P3")
    assert s.selects("other", "email", "P3")
    assert not ChannelSelector(cfg.model_copy(update={"select_channels": False})).enabled

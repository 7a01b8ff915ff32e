"""Inhibition: Alertmanager's rules for sources, targets, equal labels and two-sided matches."""

from __future__ import annotations

from datetime import datetime, timedelta

from promalert.clock import FakeClock
from promalert.config.routing import InhibitRuleConfig
from promalert.dispatch.inhibit import Inhibitor
from promalert.model import Alert, Labels

NOW = FakeClock().now()


def alert(ends: datetime | None = None, **labels: str) -> Alert:
    return Alert(Labels(labels), starts_at=NOW - timedelta(minutes=5), ends_at=ends)


def inhibitor(*rules: dict[str, object]) -> Inhibitor:
    return Inhibitor.from_config(InhibitRuleConfig.model_validate(r) for r in rules)


CRIT_MUTES_WARN = {
    "source_matchers": ['severity="critical"'],
    "target_matchers": ['severity="warning"'],
    "equal": ["cluster"],
}


def test_firing_source_with_equal_labels_inhibits_target() -> None:
    ih = inhibitor(CRIT_MUTES_WARN)
    source = alert(alertname="Down", severity="critical", cluster="eu")
    ih.observe(source)
    assert ih.inhibited_by({"severity": "warning", "cluster": "eu"}, NOW) == source.fingerprint
    assert ih.inhibited_by({"severity": "warning", "cluster": "us"}, NOW) is None
    assert ih.inhibited_by({"severity": "info", "cluster": "eu"}, NOW) is None


def test_missing_equal_label_counts_as_empty_on_both_sides() -> None:
    ih = inhibitor(CRIT_MUTES_WARN)
    ih.observe(alert(severity="critical"))
    assert ih.inhibited_by({"severity": "warning"}, NOW) is not None
    assert ih.inhibited_by({"severity": "warning", "cluster": "eu"}, NOW) is None


def test_resolved_source_inhibits_nothing_and_is_collected() -> None:
    ih = inhibitor(CRIT_MUTES_WARN)
    ih.observe(alert(ends=NOW + timedelta(seconds=30), severity="critical"))
    assert ih.inhibited_by({"severity": "warning"}, NOW) is not None
    later = NOW + timedelta(seconds=30)
    assert ih.inhibited_by({"severity": "warning"}, later) is None
    assert ih.gc(later) == 1


def test_alert_matching_both_sides_is_not_inhibited_by_itself_or_its_peers() -> None:
    ih = inhibitor({"source_matchers": ["team=db"], "target_matchers": ["team=db"]})
    a = alert(alertname="A", team="db")
    b = alert(alertname="B", team="db")
    ih.observe(a)
    ih.observe(b)
    assert ih.inhibited_by(a.labels, NOW) is None
    assert ih.inhibited_by(b.labels, NOW) is None


def test_legacy_match_forms_and_regexes() -> None:
    ih = inhibitor(
        {"source_match": {"alertname": "NodeDown"}, "target_match_re": {"alertname": "Disk.*"}}
    )
    ih.observe(alert(alertname="NodeDown"))
    assert ih.inhibited_by({"alertname": "DiskFull"}, NOW) is not None
    assert ih.inhibited_by({"alertname": "CPUHigh"}, NOW) is None


def test_rules_are_independent() -> None:
    ih = inhibitor(CRIT_MUTES_WARN, {"source_matchers": ["maintenance=on"], "target_matchers": []})
    ih.observe(alert(maintenance="on"))
    assert ih.inhibited_by({"anything": "x"}, NOW) is not None

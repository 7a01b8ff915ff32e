"""Pure delivery decisions: backoff, giving up, rate-limit windows, digest windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promalert.config.receivers import SMSConfig, WebhookConfig
from promalert.notify.digest import digestible, merge, window_end
from promalert.notify.policy import DeliveryPolicy, DigestPolicy, Limit, RetryPolicy
from promalert.notify.ratelimit import RateLimiter
from promalert.store import OutboxRow

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_backoff_is_exponential_with_bounded_jitter_and_cap() -> None:
    policy = RetryPolicy(base_delay=2.0, factor=3.0, max_delay=100.0, jitter=0.1)
    assert [policy.delay(n, 0.5) for n in (1, 2, 3, 4)] == [2.0, 6.0, 18.0, 54.0]
    assert policy.delay(1, 0.0) == pytest.approx(1.8)
    assert policy.delay(1, 0.999) == pytest.approx(2.2, abs=1e-3)
    assert policy.delay(10, 0.5) == 100.0
    assert RetryPolicy(jitter=0.0).delay(3, 0.9) == 4.0


def test_gives_up_by_attempts_or_age() -> None:
    assert not RetryPolicy(attempts=0, max_age=60).gives_up(1000, 59)
    assert RetryPolicy(attempts=0, max_age=60).gives_up(1, 60)
    assert RetryPolicy(attempts=3, max_age=60).gives_up(3, 1)
    assert not RetryPolicy(attempts=3, max_age=60).gives_up(2, 1)


def test_policy_from_config() -> None:
    config = SMSConfig.model_validate(
        {
            "account_sid": "AC1",
            "auth_token": "t",
            "from": "+1",
            "to": ["+2", "+3"],
            "retry": {"attempts": 5, "base_delay": "2s", "max_age": "10m"},
            "rate_limit": {"count": 10, "per": "1m"},
            "recipient_rate_limit": {"count": 3, "per": "1h"},
            "digest": {"interval": "15m", "max_size": 20},
        }
    )
    assert DeliveryPolicy.from_config(config) == DeliveryPolicy(
        retry=RetryPolicy(5, 2.0, 2.0, 300.0, 600.0, 0.2),
        rate_limit=Limit(10, 60.0),
        recipient_limit=Limit(3, 3600.0),
        recipients=("+2", "+3"),
        digest=DigestPolicy(900.0, 20, frozenset({"P4", "P5"})),
    )
    assert DeliveryPolicy.from_config(WebhookConfig.model_validate({"url": "http://x"})) == (
        DeliveryPolicy()
    )


def test_rate_limiter_slides_its_window() -> None:
    limiter = RateLimiter()
    limit = [("k", Limit(2, 60.0))]
    assert limiter.wait(limit, T0) == 0
    limiter.record(limit, T0)
    limiter.record(limit, T0 + timedelta(seconds=10))
    assert limiter.wait(limit, T0 + timedelta(seconds=20)) == 40.0
    assert limiter.wait(limit, T0 + timedelta(seconds=60)) == 0
    limiter.record(limit, T0 + timedelta(seconds=60))
    assert limiter.wait(limit, T0 + timedelta(seconds=61)) == 9.0
    # Another key has its own window; the longest wait of several keys wins.
    other = ("j", Limit(1, 300.0))
    limiter.record([other], T0)
    assert limiter.wait([*limit, other], T0 + timedelta(seconds=61)) == 239.0


def payload(*severities: str, incident: bool = False) -> dict[str, object]:
    alerts = [
        {"status": "firing", "labels": {"alertname": "A", "severity": s}, "annotations": {}}
        for s in severities
    ]
    out: dict[str, object] = {"alerts": alerts, "groupKey": "g", "receiver": "team"}
    if incident:
        out["incident"] = {"id": 1}
    return out


def test_digestible_only_when_every_alert_is_low_priority() -> None:
    low = frozenset({"P4", "P5"})
    assert digestible(payload("low", "info"), low)
    assert not digestible(payload("low", "critical"), low)
    assert not digestible(payload("low", incident=True), low)
    assert not digestible(payload(), low)
    assert digestible(payload("warning"), frozenset({"P3"}))


def test_windows_are_aligned_to_the_epoch() -> None:
    assert window_end(T0, 900) == T0 + timedelta(minutes=15)
    assert window_end(T0 + timedelta(minutes=14, seconds=59), 900) == T0 + timedelta(minutes=15)
    assert window_end(T0 + timedelta(minutes=15), 900) == T0 + timedelta(minutes=30)


def row(row_id: int, group: str, *severities: str) -> OutboxRow:
    data = payload(*severities)
    data["groupKey"] = group
    data["externalURL"] = "http://pa"
    return OutboxRow(row_id, T0, "team", "slack", 0, group, data, "pending", 0, T0, "", None, None)


def test_merge_holds_every_alert_and_says_how_many_notifications() -> None:
    merged = merge([row(1, "g1", "low"), row(2, "g2", "info", "low")])
    assert len(merged["alerts"]) == 3
    assert merged["groupKey"] == "digest"
    assert merged["status"] == "firing"
    assert merged["commonLabels"] == {"alertname": "A"}
    assert merged["digest"] == {"notifications": 2, "groups": ["g1", "g2"], "firing": 3}

"""promalert's own metrics (SPEC §8), registered on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from promalert import __version__

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DELAY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_QUERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric promalert exports, created on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.rule_evaluations = Counter(
            "promalert_rule_evaluations_total",
            "Rule evaluations, by group and rule.",
            ["group", "rule"],
            registry=r,
        )
        self.rule_evaluation_failures = Counter(
            "promalert_rule_evaluation_failures_total",
            "Rule evaluations that failed (query error, bad result, template error).",
            ["group", "rule"],
            registry=r,
        )
        self.group_last_duration = Gauge(
            "promalert_rule_group_last_duration_seconds",
            "How long the group's last evaluation cycle took.",
            ["group"],
            registry=r,
        )
        self.group_iterations_missed = Counter(
            "promalert_rule_group_iterations_missed_total",
            "Group evaluations skipped because the previous cycle overran the interval.",
            ["group"],
            registry=r,
        )
        self.group_iterations = Counter(
            "promalert_rule_group_iterations_total",
            "Group evaluation cycles run.",
            ["group"],
            registry=r,
        )
        self.alerts = Gauge(
            "promalert_alerts",
            "Alerts known to promalert, by state (pending, firing, resolved).",
            ["state"],
            registry=r,
        )
        self.alerts_received = Counter(
            "promalert_alerts_received_total",
            "Alerts received, by source (rules, api).",
            ["source"],
            registry=r,
        )
        self.alerts_invalid = Counter(
            "promalert_alerts_invalid_total",
            "Alerts rejected as invalid.",
            registry=r,
        )
        self.notifications = Counter(
            "promalert_notifications_total",
            "Notifications delivered, by channel and receiver.",
            ["channel", "receiver"],
            registry=r,
        )
        self.notifications_failed = Counter(
            "promalert_notifications_failed_total",
            "Notification attempts that failed, by channel, receiver and reason.",
            ["channel", "receiver", "reason"],
            registry=r,
        )
        self.notification_retries = Counter(
            "promalert_notification_retries_total",
            "Notification attempts that were retries.",
            ["channel"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "promalert_outbox_pending",
            "Notifications written to the outbox and not yet delivered or given up.",
            registry=r,
        )
        self.notification_latency = Histogram(
            "promalert_notification_latency_seconds",
            "Duration of one send attempt.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.notification_delay = Histogram(
            "promalert_notification_delay_seconds",
            "Time from an alert firing to its notification being delivered.",
            ["channel"],
            buckets=_DELAY_BUCKETS,
            registry=r,
        )
        self.datasource_up = Gauge(
            "promalert_datasource_up",
            "1 when the last query to the datasource got an answer, else 0.",
            registry=r,
        )
        self.datasource_query_duration = Histogram(
            "promalert_datasource_query_duration_seconds",
            "Duration of queries to the datasource.",
            buckets=_QUERY_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "promalert_build_info",
            "Always 1; the version label says which promalert runs.",
            ["version"],
            registry=r,
        )
        self.config_last_reload_successful = Gauge(
            "promalert_config_last_reload_successful",
            "1 when the last configuration (re)load succeeded.",
            registry=r,
        )
        self.config_last_reload_success_timestamp = Gauge(
            "promalert_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration (re)load.",
            registry=r,
        )
        self.build_info.labels(version=__version__).set(1)
        self.datasource_up.set(1)

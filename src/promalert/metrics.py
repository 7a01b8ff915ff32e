"""promalert's own metrics (SPEC §8), registered on an injected registry."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from promalert import __version__

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_DELAY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Time to acknowledge or resolve an incident: seconds to a day (SLA targets are added).
INCIDENT_BUCKETS = (
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
)
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
        # Routing: groups, silences, suppression and noise control.
        self.aggregation_groups = Gauge(
            "promalert_aggregation_groups",
            "Aggregation groups that exist now.",
            registry=r,
        )
        self.silences = Gauge(
            "promalert_silences",
            "Silences, by state (pending, active, expired).",
            ["state"],
            registry=r,
        )
        self.alerts_suppressed = Counter(
            "promalert_alerts_suppressed_total",
            "Alerts left out of a group flush, by reason "
            "(inhibited, silenced, muted, flapping, storm).",
            ["reason"],
            registry=r,
        )
        self.alerts_flapping = Gauge(
            "promalert_alerts_flapping",
            "Alerts held back because they are flapping.",
            registry=r,
        )
        self.flapping_detected = Counter(
            "promalert_flapping_detected_total",
            "Times an alert was found to be flapping.",
            registry=r,
        )
        self.storm_summaries = Counter(
            "promalert_storm_summaries_total",
            "Alert storms collapsed into one summary notification.",
            registry=r,
        )
        self.notifications_rate_limited = Counter(
            "promalert_notifications_rate_limited_total",
            "Sends delayed by a channel's or recipient's rate limit.",
            ["channel"],
            registry=r,
        )
        self.notification_template_failures = Counter(
            "promalert_notification_template_failures_total",
            "Notifications sent as plain text because their template failed to render.",
            ["channel"],
            registry=r,
        )
        self.notification_deliveries = Counter(
            "promalert_notification_deliveries_total",
            "Delivery reports from providers (e.g. Twilio status callbacks), by status.",
            ["channel", "status"],
            registry=r,
        )
        self.incidents = Gauge(
            "promalert_incidents",
            "Open incidents by state (triggered, acknowledged) and priority.",
            ["state", "priority"],
            registry=r,
        )
        self.escalation_steps = Counter(
            "promalert_escalation_steps_total",
            "Escalation levels notified, by policy and level.",
            ["policy", "level"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "promalert_sla_breaches_total",
            "Incidents that missed an SLA target, by policy and kind (ack, resolve).",
            ["policy", "kind"],
            registry=r,
        )
        self.sla_warnings = Counter(
            "promalert_sla_warnings_total",
            "Incidents that reached the warning point of an SLA target, by policy and kind.",
            ["policy", "kind"],
            registry=r,
        )
        self.oncall = Gauge(
            "promalert_oncall",
            "1 for the user on call in each schedule, 0 for its other members.",
            ["schedule", "user"],
            registry=r,
        )
        self._incident_buckets: tuple[float, ...] = ()
        self.incident_ack_seconds: Histogram
        self.incident_resolve_seconds: Histogram
        self.set_incident_buckets(())
        self.build_info.labels(version=__version__).set(1)
        self.datasource_up.set(1)
        self.anomaly = AnomalyCollector()
        r.register(self.anomaly)

    def set_incident_buckets(self, targets: Iterable[float]) -> None:
        """Make the ack/resolve histograms' buckets include every SLA target (seconds).

        Buckets cannot change on a live histogram, so a new set of targets (a reload)
        replaces both histograms; their counts start again from zero.
        """
        buckets = tuple(sorted({*INCIDENT_BUCKETS, *(float(t) for t in targets if t > 0)}))
        if buckets == self._incident_buckets:
            return
        if self._incident_buckets:
            self.registry.unregister(self.incident_ack_seconds)
            self.registry.unregister(self.incident_resolve_seconds)
        self._incident_buckets = buckets
        self.incident_ack_seconds = Histogram(
            "promalert_incident_ack_seconds",
            "Time from an incident's opening to its first acknowledgement.",
            ["policy", "priority"],
            buckets=buckets,
            registry=self.registry,
        )
        self.incident_resolve_seconds = Histogram(
            "promalert_incident_resolve_seconds",
            "Time from an incident's opening to its resolution.",
            ["policy", "priority"],
            buckets=buckets,
            registry=self.registry,
        )


AnomalyRow = tuple[Mapping[str, str], float, float, float, float, float]
"""One series: its labels, then score, expected, lower, upper and the value it saw."""

_ANOMALY_FAMILIES = (
    ("promalert_anomaly_score", "Anomaly score in [0, 1] of the series' last point, by rule."),
    ("promalert_anomaly_expected", "Value the anomaly detector expected for the series."),
    ("promalert_anomaly_lower", "Lower edge of the series' expected band."),
    ("promalert_anomaly_upper", "Upper edge of the series' expected band."),
    ("promalert_anomaly_value", "The series' last value the anomaly detector scored."),
)


class AnomalyCollector(Collector):
    """Per-series anomaly gauges labelled ``rule`` plus the series' own labels.

    Each anomaly rule's series carry their own label names, which fixed-label gauges
    cannot hold, so rules publish whole snapshots here and scrapes read them. Entries
    are held by weak reference to the publishing evaluator: a rule removed by a reload
    disappears with its evaluator, and a vanished series with the next snapshot.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # scrapes may run in another thread
        self._rows: weakref.WeakKeyDictionary[object, tuple[int, str, list[AnomalyRow]]] = (
            weakref.WeakKeyDictionary()
        )
        self._published = 0

    def publish(self, owner: object, rule: str, rows: Iterable[AnomalyRow]) -> None:
        """Replace everything ``owner`` (one rule's evaluator) exports."""
        snapshot = list(rows)
        with self._lock:
            self._published += 1
            self._rows[owner] = (self._published, rule, snapshot)

    def forget(self, owner: object) -> None:
        """Stop exporting ``owner``'s series."""
        with self._lock:
            self._rows.pop(owner, None)

    def describe(self) -> Iterator[Metric]:
        """The four families, without samples (lets the registry check names)."""
        for name, doc in _ANOMALY_FAMILIES:
            yield GaugeMetricFamily(name, doc)

    def collect(self) -> Iterator[Metric]:
        """One sample per published series in each family."""
        with self._lock:
            snapshots = sorted(self._rows.values(), key=lambda item: item[0])
        latest: dict[tuple[tuple[str, str], ...], tuple[float, ...]] = {}
        for _, rule, rows in snapshots:  # oldest first: a newer owner of a series wins
            for labels, *observed in rows:
                merged = {"rule": rule}
                for key, text in labels.items():
                    if key == "__name__":
                        continue
                    # A series label named like ours is kept, renamed as Prometheus does.
                    merged["exported_rule" if key == "rule" else key] = text
                latest[tuple(sorted(merged.items()))] = tuple(observed)
        families = [GaugeMetricFamily(name, doc) for name, doc in _ANOMALY_FAMILIES]
        for pairs, sample in latest.items():
            for family, value in zip(families, sample, strict=True):
                family.add_sample(family.name, dict(pairs), value)
        yield from families

"""From alerts to notifications: ingest, grouping with Alertmanager's timing, dedup."""

from promalert.dispatch.group import AlertGroup, Dispatcher, Route
from promalert.dispatch.ingest import AlertIngest
from promalert.dispatch.nflog import NotifyReason, needs_update

__all__ = ["AlertGroup", "AlertIngest", "Dispatcher", "NotifyReason", "Route", "needs_update"]

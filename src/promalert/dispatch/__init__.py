"""From alerts to notifications: ingest, the routing tree, grouping with Alertmanager's
timing, inhibition, time intervals, silences, noise control, priorities, dedup."""

from promalert.dispatch.flush import Policy
from promalert.dispatch.group import AlertGroup, AlertStatus, Dispatcher
from promalert.dispatch.ingest import AlertIngest
from promalert.dispatch.inhibit import Inhibitor, InhibitRule
from promalert.dispatch.nflog import NotificationLog, NotifyReason, needs_update
from promalert.dispatch.priority import ChannelSelector, priority_of
from promalert.dispatch.route import Route
from promalert.dispatch.silence import Silence, Silences, SilenceState

__all__ = [
    "AlertGroup",
    "AlertIngest",
    "AlertStatus",
    "ChannelSelector",
    "Dispatcher",
    "InhibitRule",
    "Inhibitor",
    "NotificationLog",
    "NotifyReason",
    "Policy",
    "Route",
    "Silence",
    "SilenceState",
    "Silences",
    "needs_update",
    "priority_of",
]

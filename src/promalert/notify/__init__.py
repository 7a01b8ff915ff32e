"""Notifications: the v4 payload, one notifier per channel, and the outbox delivery worker."""

from promalert.notify.base import FAILURE_REASONS, Message, Notifier
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.payload import build_payload
from promalert.notify.registry import build_notifiers

__all__ = [
    "FAILURE_REASONS",
    "DeliveryWorker",
    "Message",
    "Notifier",
    "build_notifiers",
    "build_payload",
]

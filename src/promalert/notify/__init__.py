"""Notifications: one module per channel behind one protocol, templates, and delivery.

- :mod:`.base`: the :class:`Notifier` protocol, :class:`Message`, :class:`Receipt`, the
  closed set of failure reasons;
- channels: :mod:`.webhook`, :mod:`.file`, :mod:`.email`, :mod:`.slack`,
  :mod:`.pagerduty`, :mod:`.twilio` (SMS, voice), :mod:`.wecom`, :mod:`.dingtalk`,
  :mod:`.teams`, :mod:`.telegram`, :mod:`.discord`; :mod:`.registry` builds them;
- :mod:`.templates` (+ :mod:`.template_data`, :mod:`.template_check`): sandboxed Jinja2;
- :mod:`.outbox`: the delivery worker, with :mod:`.policy` (retries), :mod:`.ratelimit`
  and :mod:`.digest`; :mod:`.delivery_api` serves the delivery log and Twilio callbacks.
"""

from promalert.notify.base import FAILURE_REASONS, Message, Notifier, Receipt
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.payload import build_payload
from promalert.notify.policy import DeliveryPolicy
from promalert.notify.registry import build_notifiers, delivery_policies
from promalert.notify.templates import Templates, user_template_files

__all__ = [
    "FAILURE_REASONS",
    "DeliveryPolicy",
    "DeliveryWorker",
    "Message",
    "Notifier",
    "Receipt",
    "Templates",
    "build_notifiers",
    "build_payload",
    "delivery_policies",
    "user_template_files",
]

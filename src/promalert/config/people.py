"""People and how to reach them (SPEC §4): ``users`` and ``contact_channels``.

A user names their addresses (``email``, ``phone``, ``slack``); a contact channel is a
transport (SMTP, Twilio, a Slack webhook) configured once. An escalation level that
reaches a user on contact kind ``sms`` sends through ``contact_channels.sms`` to the
user's ``phone``. :func:`user_receiver` turns a user into an ordinary receiver, so user
notifications use the same notifiers, outbox and delivery log as any other.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from promalert.config.base import Strict
from promalert.config.escalation import ContactKind
from promalert.config.receivers import (
    GLOBAL_DEFAULTS,
    EmailConfig,
    ReceiverConfig,
    SlackConfig,
    SMSConfig,
    VoiceConfig,
    fill_defaults,
)
from promalert.config.types import TimeZone

CONTACT_KINDS: tuple[ContactKind, ...] = ("email", "sms", "voice", "slack")
USER_RECEIVER_PREFIX = "user:"
"""User receivers are named ``user:<name>``; a colon is never in a configured receiver's name."""

_PHONE = re.compile(r"^\+[1-9][0-9]{3,14}$")


class UserConfig(Strict):
    """A person who can be on call: their addresses and time zone."""

    email: str | None = None
    phone: str | None = None
    slack: str | None = None
    timezone: TimeZone = "UTC"

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError(f"phone must be in E.164 form like +15550001 (got {value!r})")
        return value

    def address(self, kind: ContactKind) -> str | None:
        """The user's recipient for contact kind ``kind`` (None if they have none)."""
        if kind == "email":
            return self.email
        if kind in ("sms", "voice"):
            return self.phone
        return self.slack


class EmailContact(EmailConfig):
    """``contact_channels.email``: an email config whose ``to`` is the user's address."""

    to: list[str] = Field(default_factory=list)


class SMSContact(SMSConfig):
    """``contact_channels.sms``: Twilio SMS to the user's phone."""

    to: list[str] = Field(default_factory=list)


class VoiceContact(VoiceConfig):
    """``contact_channels.voice``: a Twilio call to the user's phone."""

    to: list[str] = Field(default_factory=list)


class ContactChannelsConfig(Strict):
    """The transports that reach users, one per contact kind."""

    email: EmailContact | None = None
    sms: SMSContact | None = None
    voice: VoiceContact | None = None
    slack: SlackConfig | None = None

    def kinds(self) -> list[ContactKind]:
        """The contact kinds configured, in a fixed order."""
        return [k for k in CONTACT_KINDS if getattr(self, k) is not None]


def user_receiver_name(user: str) -> str:
    """The receiver name a user's notifications are delivered and logged under."""
    return USER_RECEIVER_PREFIX + user


def user_receiver(name: str, user: UserConfig, contacts: ContactChannelsConfig) -> ReceiverConfig:
    """A receiver reaching ``user`` on every configured kind they have an address for."""
    fields: dict[str, list[Any]] = {}
    for kind in contacts.kinds():
        address = user.address(kind)
        if address is None:
            continue
        config = getattr(contacts, kind)
        if kind == "slack":
            fields["slack_configs"] = [config.model_copy(update={"mention": address})]
        else:
            fields[f"{kind}_configs"] = [config.model_copy(update={"to": [address]})]
    # Validated already (as contact channels); construct skips validating them again.
    values: dict[str, Any] = {n: [] for n in ReceiverConfig.model_fields if n.endswith("_configs")}
    values.update(fields, name=user_receiver_name(name))
    return ReceiverConfig.model_construct(None, **values)


def apply_contact_defaults(data: Any) -> Any:
    """Copy ``global`` SMTP and Slack defaults into ``contact_channels`` (raw config)."""
    if not isinstance(data, dict):
        return data
    defaults, contacts = data.get("global"), data.get("contact_channels")
    if not isinstance(defaults, dict) or not isinstance(contacts, dict):
        return data
    contacts = dict(contacts)
    for kind, channel in (("email", "email_configs"), ("slack", "slack_configs")):
        if isinstance(contacts.get(kind), dict):
            contacts[kind] = fill_defaults(contacts[kind], GLOBAL_DEFAULTS[channel], defaults)
    return {**data, "contact_channels": contacts}

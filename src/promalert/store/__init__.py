"""Durable state: SQLite today (PostgreSQL is planned behind the same API)."""

from promalert.store.records import (
    Lane,
    NewNotification,
    NflogEntry,
    NflogKey,
    OutboxRow,
    StoredAlert,
    decode_time,
    encode_time,
)
from promalert.store.sqlite import Store

__all__ = [
    "Lane",
    "NewNotification",
    "NflogEntry",
    "NflogKey",
    "OutboxRow",
    "Store",
    "StoredAlert",
    "decode_time",
    "encode_time",
]

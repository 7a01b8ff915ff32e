"""How the store writes: a schema 4 store upgrades in place (to 5 and 6), "sent"
marks ride along with the next transaction, new lanes are reported once, stored payload
JSON is reused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from promalert.config.receivers import WebhookConfig
from promalert.errors import StoreError
from promalert.model import Alert, Labels
from promalert.notify.base import Message
from promalert.notify.webhook import WebhookNotifier
from promalert.store import NewNotification, NflogEntry, NflogKey, Store, outbox_sql
from promalert.store.migrations import MIGRATIONS
from promalert.store.records import EncodedPayload, StoredAlert, compact_json

T0 = datetime(2026, 11, 23, 12, 0, 0, 250000, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "p.db")
    yield s
    s.close()


def queue(store: Store, group: str, payload: dict[str, object] | None = None) -> int:
    key = NflogKey(group, "team", "webhook", 0)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), T0, T0 + timedelta(days=1))
    body = payload if payload is not None else {"groupKey": group, "alerts": []}
    note = NewNotification("team", "webhook", 0, group, body, T0, T0)
    return store.write_flushes([], [(entry, note)])[0]


def statuses(path: Path) -> dict[int, str]:
    """Row statuses as another connection sees them (only what was committed)."""
    with sqlite3.connect(str(path)) as conn:
        return {int(i): str(s) for i, s in conn.execute("SELECT id, status FROM outbox")}


def test_schema_4_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        + "".join(MIGRATIONS[:4])
        + "INSERT INTO schema_version (version) VALUES (4);"
    )
    for row_id, status in ((1, "sent"), (2, "pending"), (3, "pending")):
        conn.execute(
            "INSERT INTO outbox (id, created_at, receiver, channel, integration, group_key, "
            "payload, status, next_attempt_at) VALUES (?, ?, 'team', 'webhook', 0, ?, '{}', ?, ?)",
            (
                row_id,
                "2026-11-23T12:00:00.000000Z",
                f"g{row_id}",
                status,
                "2026-11-23T12:00:00.000000Z",
            ),
        )
    conn.close()

    store = Store.open(path)
    try:
        indexes = {
            str(r[0])
            for r in store._conn.execute(  # noqa: SLF001 - checking the schema itself
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='outbox'"
            )
        }
        assert "outbox_pending" in indexes and "outbox_by_status" not in indexes
        assert "outbox_by_created" in indexes and "outbox_by_age" not in indexes
        assert [r.id for r in store.outbox_heads()] == [2, 3]
        store.mark_sent(2, 1, T0)
        assert [r.id for r in store.outbox_heads()] == [3]
    finally:
        store.close()
    assert statuses(path) == {1: "sent", 2: "sent", 3: "pending"}
    with sqlite3.connect(str(path)) as check:
        assert check.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)


@pytest.mark.parametrize("update_from", [True, False], ids=["one-statement", "sqlite<3.33"])
async def test_marks_are_written_with_the_next_transaction(
    store: Store, update_from: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_sql, "UPDATE_FROM", update_from)
    first, second = queue(store, "a"), queue(store, "b")
    store.mark_sent(first, 1, T0)
    store.mark_sent(second, 2, T0 + timedelta(seconds=1))
    assert statuses(store.path) == {first: "pending", second: "pending"}  # deferred
    # Queueing new rows leaves them to the timer: that commit is on the way to a send.
    third = queue(store, "c")
    assert statuses(store.path) == {first: "pending", second: "pending", third: "pending"}
    store.defer([third], T0)  # any other transaction writes the marks first
    assert statuses(store.path) == {first: "sent", second: "sent", third: "pending"}
    rows = {r.id: r for r in store.outbox_rows("sent")}
    assert (rows[first].attempts, rows[first].sent_at) == (1, T0)
    assert (rows[second].attempts, rows[second].sent_at) == (2, T0 + timedelta(seconds=1))


async def test_marks_of_a_failed_transaction_are_kept_and_written_later(store: Store) -> None:
    row = queue(store, "a")
    store.mark_sent(row, 1, T0)
    with pytest.raises(StoreError):
        with store._tx("failing on purpose") as conn:  # noqa: SLF001
            conn.execute("INSERT INTO no_such_table VALUES (1)")
    assert statuses(store.path) == {row: "pending"}
    assert store.outbox_heads() == []  # still delivered as far as the worker knows
    await asyncio.sleep(0.1)  # the deferred-marks timer
    assert statuses(store.path) == {row: "sent"}


def test_temp_files_are_kept_in_memory(store: Store) -> None:
    # Statement journals of the outbox updates went to temp files: ~60 KB per mark.
    assert store._conn.execute("PRAGMA temp_store").fetchone()[0] == 2  # noqa: SLF001


def test_new_outbox_heads_reports_each_new_lane_once(store: Store) -> None:
    assert store.new_outbox_heads() is None  # first look: everything is new
    a1 = queue(store, "a")
    queue(store, "a")  # behind a1: not a new lane
    b1 = queue(store, "b")
    assert [r.id for r in store.new_outbox_heads() or []] == [a1, b1]
    assert store.new_outbox_heads() == []
    store.mark_sent(b1, 1, T0)
    b2 = queue(store, "b")  # lane b emptied and started again
    assert [r.id for r in store.new_outbox_heads() or []] == [b2]
    store.flush_deferred()
    with store._tx("an update from elsewhere") as conn:  # noqa: SLF001
        conn.execute("UPDATE outbox SET last_error='x' WHERE id=?", (a1,))
    assert store.new_outbox_heads() is None  # reloaded: the caller must look at every lane


async def test_webhook_sends_the_json_the_outbox_stored(store: Store) -> None:
    payload = {"groupKey": "g", "alerts": [{"labels": {"name": "ü<&>"}}], "n": 1.5}
    assert store.outbox_heads() == []  # the worker loads the index at start
    row_id = queue(store, "g", payload)
    (row,) = store.outbox_heads()
    assert row.id == row_id and type(row.payload) is EncodedPayload
    stored = store._conn.execute(  # noqa: SLF001
        "SELECT payload FROM outbox WHERE id=?", (row_id,)
    ).fetchone()[0]
    assert compact_json(row.payload) == stored and row.payload == payload
    config = WebhookConfig.model_validate({"url": "http://127.0.0.1:9/hook"})
    async with aiohttp.ClientSession() as session:  # body() sends nothing
        hook = WebhookNotifier(config, session, "team", 0)
        plain = hook.body(Message("team", "g", dict(payload), row_id))
        assert hook.body(Message("team", "g", row.payload, row_id)) == plain
    assert json.loads(plain) == payload and plain.endswith(b"\n")


async def test_deferred_alert_saves_are_written_by_the_timer_or_the_next_read(
    store: Store,
) -> None:
    def saved() -> set[str]:
        with sqlite3.connect(str(store.path)) as conn:
            return {str(r[0]) for r in conn.execute("SELECT fingerprint FROM alerts")}

    a = StoredAlert(Alert(Labels({"alertname": "A"}), Labels(), T0, None, "", T0), "api")
    b = StoredAlert(Alert(Labels({"alertname": "B"}), Labels(), T0, None, "", T0), "api")
    store.save_alerts([a], defer=True)
    queue(store, "g")  # the outbox commit does not carry them: it is on the way to a send
    assert saved() == set()
    await asyncio.sleep(0.1)  # the deferred-writes timer
    assert saved() == {a.alert.fingerprint}
    store.save_alerts([b], defer=True)
    assert {s.alert.fingerprint for s in store.load_alerts()} == {  # a read writes them first
        a.alert.fingerprint,
        b.alert.fingerprint,
    }

"""The SQLite store: migrations, each table's API, atomic enqueue, unreadable rows."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promalert.errors import StoreError
from promalert.model import Alert, Labels
from promalert.store import (
    NewNotification,
    NflogEntry,
    NflogKey,
    Store,
    StoredAlert,
    decode_time,
    encode_time,
)
from promalert.store.migrations import MIGRATIONS

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "sub" / "dir" / "promalert.db")
    yield s
    s.close()


def _raw(store: Store) -> sqlite3.Connection:
    return sqlite3.connect(str(store.path))


def _note(group_key: str = "{}:{}", at: datetime = T0, receiver: str = "team") -> NewNotification:
    return NewNotification(
        receiver=receiver,
        channel="webhook",
        integration=0,
        group_key=group_key,
        payload={"version": "4", "status": "firing"},
        created_at=at,
        first_firing_at=at - timedelta(seconds=30),
    )


def _entry(group_key: str = "{}:{}", at: datetime = T0, hours: float = 1) -> NflogEntry:
    key = NflogKey(group_key, "team", "webhook", 0)
    return NflogEntry(key, frozenset({"a"}), frozenset({"b"}), at, at + timedelta(hours=hours))


def test_open_creates_folder_wal_and_latest_schema(store: Store) -> None:
    assert store.path.exists()
    with _raw(store) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    s = Store.open(path)
    s.set_kv("k", "v")
    s.close()
    s = Store.open(path)
    assert s.get_kv("k") == "v"
    s.close()


def test_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    Store.open(path).close()
    with sqlite3.connect(str(path)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99.*newer promalert"):
        Store.open(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"cannot open store .*p\.db"):
        Store.open(path)


def test_time_encoding_round_trips_and_sorts() -> None:
    later = T0 + timedelta(microseconds=1)
    assert decode_time(encode_time(T0)) == T0
    assert encode_time(T0) < encode_time(later)
    assert encode_time(T0) == "2026-01-05T09:00:00.123456Z"
    # Remembered times (two of them) give the same answers as decoding afresh.
    times = [T0, later, T0, T0 + timedelta(hours=1), later, T0]
    assert [decode_time(encode_time(t)) for t in times] == times
    with pytest.raises(ValueError):
        decode_time(encode_time(T0)[:-1])  # one that was remembered, cut short


def test_rule_state_round_trip_and_pruning(store: Store) -> None:
    assert store.load_rule_state("a") is None
    store.save_rule_state("a", {"alerts": [1, 2], "x": {"y": "z"}})
    store.save_rule_state("b", {"n": 1})
    store.save_rule_state("c", {"n": 2})
    assert store.load_rule_state("a") == {"alerts": [1, 2], "x": {"y": "z"}}
    store.save_rule_state("a", {"replaced": True})
    assert store.load_rule_state("a") == {"replaced": True}
    store.delete_rule_states_except({"a", "c", "never-saved"})
    assert store.load_rule_state("b") is None
    assert store.load_rule_state("c") == {"n": 2}


def test_unreadable_rule_state_is_skipped_with_a_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with _raw(store) as conn:
        conn.execute("INSERT INTO rule_state VALUES ('bad', '{not json')")
        conn.execute("INSERT INTO rule_state VALUES ('list', '[1]')")
    with caplog.at_level(logging.WARNING):
        assert store.load_rule_state("bad") is None
        assert store.load_rule_state("list") is None
    assert "bad" in caplog.text and "list" in caplog.text


def test_alerts_round_trip_exactly(store: Store) -> None:
    alert = Alert(
        labels=Labels({"alertname": "HighCPU", "instance": "web-1"}),
        annotations=Labels({"summary": "CPU at 97%"}),
        starts_at=T0,
        ends_at=None,
        generator_url="http://prom/graph",
        updated_at=T0 + timedelta(seconds=1),
    )
    resolved = Alert(Labels({"alertname": "Disk"}), starts_at=T0, ends_at=T0, updated_at=T0)
    store.save_alerts([StoredAlert(alert, "rules"), StoredAlert(resolved, "api", timeout=True)])
    loaded = {s.alert.fingerprint: s for s in store.load_alerts()}
    assert loaded[alert.fingerprint] == StoredAlert(alert, "rules", False)
    assert loaded[resolved.fingerprint] == StoredAlert(resolved, "api", True)
    store.delete_alerts([alert.fingerprint])
    assert [s.alert for s in store.load_alerts()] == [resolved]


def test_unreadable_alert_rows_are_skipped(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    good = Alert(Labels({"alertname": "A"}), starts_at=T0, updated_at=T0)
    store.save_alerts([StoredAlert(good, "api")])
    with _raw(store) as conn:
        conn.execute(
            "INSERT INTO alerts VALUES ('f1', '{broken', '{}', ?, NULL, '', ?, 'api', 0)",
            (encode_time(T0), encode_time(T0)),
        )
        conn.execute(
            "INSERT INTO alerts VALUES ('f2', '{}', '{}', 'yesterday', NULL, '', ?, 'api', 0)",
            (encode_time(T0),),
        )
    with caplog.at_level(logging.WARNING):
        assert [s.alert for s in store.load_alerts()] == [good]
    assert "f1" in caplog.text and "f2" in caplog.text


def test_enqueue_writes_outbox_row_and_nflog_entry(store: Store) -> None:
    entry = _entry()
    row_id = store.enqueue(entry, _note())
    assert store.nflog_entry(entry.key, T0) == entry
    (row,) = store.outbox_rows()
    assert row.id == row_id
    assert (row.status, row.attempts, row.payload) == ("pending", 0, _note().payload)
    assert row.next_attempt_at == T0 and row.created_at == T0
    assert row.first_firing_at == T0 - timedelta(seconds=30)
    assert row.lane == ("{}:{}", "team", "webhook", 0)
    assert store.count_pending() == 1


def test_enqueue_is_atomic(store: Store) -> None:
    with _raw(store) as conn:
        conn.execute("DROP TABLE outbox")
    with pytest.raises(StoreError, match="writing to the outbox"):
        store.enqueue(_entry(), _note())
    # The nflog write in the same transaction was rolled back.
    assert store.nflog_entry(_entry().key, T0) is None


def test_expired_nflog_entries_are_ignored_and_pruned(store: Store) -> None:
    entry = _entry(hours=1)
    store.save_nflog(entry)
    assert store.nflog_entry(entry.key, T0 + timedelta(minutes=59)) == entry
    assert store.nflog_entry(entry.key, T0 + timedelta(hours=1)) is None
    assert store.delete_expired_nflog(T0 + timedelta(minutes=30)) == 0
    assert store.delete_expired_nflog(T0 + timedelta(hours=2)) == 1


def test_outbox_heads_are_the_oldest_pending_row_of_each_lane(store: Store) -> None:
    first = store.enqueue(_entry("g1"), _note("g1"))
    second = store.enqueue(_entry("g1"), _note("g1"))
    other = store.enqueue(_entry("g2"), _note("g2"))
    assert [r.id for r in store.outbox_heads()] == [first, other]
    store.mark_sent(first, 1, T0)
    assert [r.id for r in store.outbox_heads()] == [second, other]
    head = store.outbox_head(("g1", "team", "webhook", 0))
    assert head is not None and head.id == second


def test_outbox_state_changes(store: Store) -> None:
    a = store.enqueue(_entry("g1"), _note("g1"))
    b = store.enqueue(_entry("g2"), _note("g2"))
    store.mark_retry(a, 1, T0 + timedelta(seconds=2), "HTTP 500")
    store.mark_failed(b, 1, "HTTP 400")
    rows = {r.id: r for r in store.outbox_rows()}
    assert (rows[a].status, rows[a].attempts, rows[a].last_error) == ("pending", 1, "HTTP 500")
    assert rows[a].next_attempt_at == T0 + timedelta(seconds=2)
    assert (rows[b].status, rows[b].last_error) == ("failed", "HTTP 400")
    store.mark_sent(a, 2, T0 + timedelta(seconds=3))
    sent = store.outbox_rows("sent")[0]
    assert (sent.attempts, sent.sent_at, sent.last_error) == (2, T0 + timedelta(seconds=3), "")
    assert store.count_pending() == 0


def test_finished_outbox_rows_are_pruned_by_age(store: Store) -> None:
    old = store.enqueue(_entry("g1"), _note("g1", at=T0))
    new = store.enqueue(_entry("g2"), _note("g2", at=T0 + timedelta(days=8)))
    pending = store.enqueue(_entry("g3"), _note("g3", at=T0))
    store.mark_sent(old, 1, T0)
    store.mark_sent(new, 1, T0)
    assert store.delete_finished_outbox(T0 + timedelta(days=1)) == 1
    assert sorted(r.id for r in store.outbox_rows()) == [new, pending]


def test_unreadable_outbox_row_is_failed_not_blocking(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    bad = store.enqueue(_entry("g1"), _note("g1"))
    good = store.enqueue(_entry("g1"), _note("g1"))
    with _raw(store) as conn:
        conn.execute("UPDATE outbox SET payload='{oops' WHERE id=?", (bad,))
    with caplog.at_level(logging.WARNING):
        assert [r.id for r in store.outbox_heads()] == [good]
    with _raw(store) as conn:
        assert (
            conn.execute("SELECT status FROM outbox WHERE id=?", (bad,)).fetchone()[0] == "failed"
        )
    assert f"outbox row {bad} is unreadable" in caplog.text


def test_kv(store: Store) -> None:
    assert store.get_kv("x") is None
    store.set_kv("x", "1")
    store.set_kv("x", "2")
    assert store.get_kv("x") == "2"

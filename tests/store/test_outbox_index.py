"""The in-memory index of pending outbox rows always agrees with the table, and delivery
marks written together per loop turn still reach the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from promalert.clock import FakeClock
from promalert.store import NewNotification, NflogEntry, NflogKey, Store

T0 = FakeClock().now()


def queue(store: Store, group: str, n: int = 1) -> list[int]:
    key = NflogKey(group, "team", "webhook", 0)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), T0, T0 + timedelta(days=5))
    note = NewNotification("team", "webhook", 0, group, {"alerts": [], "g": group}, T0)
    return store.write_flushes([], [(entry, note)] * n)


def from_sql(store: Store) -> list[tuple[int, int, str]]:
    rows = store._conn.execute(  # noqa: SLF001 - comparing against the table itself
        "SELECT id, attempts, next_attempt_at FROM outbox WHERE status='pending' ORDER BY id"
    ).fetchall()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def from_index(store: Store) -> list[tuple[int, int, str]]:
    return [
        (r.id, r.attempts, r.next_attempt_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        for r in store.pending_outbox_rows()
    ]


def test_index_follows_every_kind_of_write(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    a, b = queue(store, "g1", 2)
    (c,) = queue(store, "g2")
    assert store.count_pending() == 3  # loads the index
    (d,) = queue(store, "g3")
    store.mark_retry(a, 1, T0 + timedelta(seconds=5), "HTTP 500")
    store.record_failure(c, 1, "HTTP 503", "http_5xx", T0 + timedelta(seconds=9))
    store.defer([d], T0 + timedelta(minutes=1))
    assert from_index(store) == from_sql(store)
    store.mark_sent(a, 2, T0)
    store.record_failure(c, 2, "HTTP 400", "http_4xx", None)
    store.mark_failed(d, 1, "gone")
    assert [r.id for r in store.outbox_heads()] == [b]
    assert from_index(store) == from_sql(store)
    assert store.count_pending() == 1
    store.close()


def test_writes_from_elsewhere_make_the_index_reload(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    a, b = queue(store, "g1", 2)
    assert store.count_pending() == 2
    with store._raw_tx("test") as conn:  # noqa: SLF001 - someone else's write
        conn.execute("UPDATE outbox SET status='sent' WHERE id=?", (a,))
    assert [r.id for r in store.outbox_heads()] == [b]
    assert store.count_pending() == 1
    store.close()


async def test_sent_marks_are_written_together_soon_after(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    ids = queue(store, "g1", 3)
    assert store.count_pending() == 3
    for row_id in ids:
        store.mark_sent(row_id, 1, T0)
    assert store.count_pending() == 0  # the index knows at once
    raw = store._conn.execute  # noqa: SLF001
    assert raw("SELECT COUNT(*) FROM outbox WHERE status='sent'").fetchone()[0] == 0
    await asyncio.sleep(0.2)
    assert raw("SELECT COUNT(*) FROM outbox WHERE status='sent'").fetchone()[0] == 3
    store.close()


async def test_reads_and_close_write_pending_marks_first(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    a, b = queue(store, "g1", 2)
    store.mark_sent(a, 1, T0)
    assert [r.status for r in store.outbox_rows()] == ["pending", "sent"]
    store.mark_sent(b, 1, T0)
    store.close()
    reopened = Store.open(path)
    assert reopened.count_pending() == 0
    reopened.close()

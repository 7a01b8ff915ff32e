"""WAL checkpoints happen on the background thread, not in the store's commits."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from promalert.store import Store
from promalert.store.checkpoint import Checkpointer


def test_store_commits_never_checkpoint(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    raw = store._conn  # noqa: SLF001 - reading SQLite's own setting
    assert raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    store.close()


def test_the_thread_copies_the_wal_into_the_database(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x TEXT)")
    for _ in range(100):
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    before = path.stat().st_size
    checkpointer = Checkpointer(path, interval=0.05)
    deadline = time.monotonic() + 10
    while path.stat().st_size <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    checkpointer.stop()
    assert path.stat().st_size > before + 100 * 4000
    conn.close()

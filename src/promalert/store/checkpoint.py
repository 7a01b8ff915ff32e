"""WAL checkpoints on a background thread, off the event loop.

In WAL mode a commit only appends to the log; now and then the log is copied back into
the database file and that copy is synced to disk ("checkpoint"). SQLite normally does
it inside whichever commit crosses the threshold, which stalled the event loop for tens
of milliseconds at a time under load. Here the store's own connection never checkpoints
(``wal_autocheckpoint=0``) and this thread, with its own connection, runs a *passive*
checkpoint every ``interval`` seconds: it copies what it can without blocking writers,
and sqlite3 releases the GIL while it works.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class Checkpointer:
    """A daemon thread checkpointing one database's WAL until :meth:`stop`."""

    def __init__(self, path: Path, *, interval: float = 0.5) -> None:
        """Start checkpointing ``path`` every ``interval`` seconds."""
        self._path = path
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoint {path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.error("WAL checkpoints of %s disabled: %s", self._path, exc)
            return
        try:
            conn.execute("PRAGMA busy_timeout=1000")
            while not self._stopped.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:
                    # Busy or locked now and then is normal; the next round catches up.
                    log.debug("WAL checkpoint of %s skipped: %s", self._path, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the thread and wait for it (a checkpoint in progress finishes first)."""
        self._stopped.set()
        self._thread.join()

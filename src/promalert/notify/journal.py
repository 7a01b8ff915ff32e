"""The delivery process's journal of sent notifications, for when the service is killed.

The delivery process reports each delivery to the service, which marks the row sent in
the store a few milliseconds later. If the service is killed in between, those rows
would be sent again after the restart. So the delivery process first appends each
delivered row to a small file beside the store (one ``write`` per batch: the kernel keeps
it even when the process is killed), and the service applies any such files before it
starts the next delivery process (:func:`replay_journals`). Files whose rows the service
has committed are deleted as the delivery process goes.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

from promalert.errors import StoreError
from promalert.store.records import decode_time, encode_time
from promalert.store.sqlite import Store

log = logging.getLogger(__name__)

# A new file is started past this size; older ones go once the service committed them.
_ROTATE_BYTES = 256 * 1024


def _pattern(store: Path) -> str:
    return f"{store.name}-sent.*"


class SentJournal:
    """Appends ``row attempts time`` lines; one file at a time, rotated by size."""

    def __init__(self, store: Path) -> None:
        self._prefix = f"{store}-sent.{os.getpid()}"
        self._number = 0
        self._lines: list[str] = []
        # Files written before the current one, with the last report they hold.
        self._full: list[tuple[Path, int]] = []
        self._size = 0
        self._path = Path(f"{self._prefix}.{self._number}")
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def record(self, row_id: int, attempts: int, at: datetime) -> None:
        """Note a delivered row (written by the next :meth:`write`)."""
        self._lines.append(f"{row_id} {attempts} {encode_time(at)}\n")

    def write(self, report: int) -> None:
        """Append what was recorded, before report number ``report`` goes to the service."""
        if not self._lines:
            return
        data = "".join(self._lines).encode()
        self._lines.clear()
        os.write(self._fd, data)
        self._size += len(data)
        if self._size > _ROTATE_BYTES:
            os.close(self._fd)
            self._full.append((self._path, report))
            self._number += 1
            self._path = Path(f"{self._prefix}.{self._number}")
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._size = 0

    def committed(self, report: int) -> None:
        """The service wrote every mark up to report ``report``: drop the files it covers."""
        while self._full and self._full[0][1] <= report:
            path, _ = self._full.pop(0)
            path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the file (the service applies and deletes what is left after we exit)."""
        os.close(self._fd)


def replay_journals(store: Store) -> int:
    """Mark sent the rows in journals left by earlier delivery processes; delete them.

    Returns how many lines were applied. A line cut short by a kill is skipped.
    """
    applied = 0
    paths = sorted(store.path.parent.glob(_pattern(store.path)))
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            fields = line.split(" ")
            try:
                row_id, attempts, at = int(fields[0]), int(fields[1]), decode_time(fields[2])
            except (ValueError, IndexError):
                continue
            store.mark_sent(row_id, attempts, at)
            applied += 1
    if paths:
        try:
            store.flush_deferred()
        except StoreError as exc:
            log.error("could not apply the delivery journal (kept for the next start): %s", exc)
            return 0
        for path in paths:
            path.unlink(missing_ok=True)
    return applied
